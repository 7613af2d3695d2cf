"""The console's "Your voice" tab on real widgets (issue 22): every line with its words and
whether it is recorded, record / stop, play back, record again, by keyboard, no dialog."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

from companion.app.voice import MIN_RECORDING_S, VoiceBook
from companion.audio.recording import Recorder
from companion.ui.therapist import TherapistConsole
from tests.ui.conftest import RunUi, UiClinic, settle, shots
from tests.waiting import until

PASSPHRASE = "a long passphrase"


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


class StandInMicrophone(Recorder):
    """This computer has no microphone (the capture path itself is tested through ALSA in
    tests/audio/test_recorded_voice.py): a second of a voice-like tone, then silence."""

    def start(self) -> None:
        return None

    def stop(self) -> np.ndarray:
        t = np.arange(48_000) / 48_000
        words = (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(np.pi * t)).astype(np.float32)
        return np.concatenate([np.zeros(4800, np.float32), words, np.zeros(9600, np.float32)])


def test_your_voice_records_plays_back_and_records_again(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        console = TherapistConsole(
            clinic.server.ws_url, clinic.folder / "therapist", True, audio=False
        )
        console.resize(1366, 768)
        console.show()
        try:
            assert await console.sign_in("dr-test", clinic.secret)
            page = console.voice_page
            assert page is not None
            assert console.tabs.tabText(console.tabs.indexOf(page)) == "Your voice"
            page.studio.microphone = StandInMicrophone
            console.tabs.setCurrentWidget(page)
            # No keyring here: the passphrase is asked for inline, not in a dialog.
            await until(lambda: page.passphrase.isVisible(), within_s=10)
            assert QApplication.activeModalWidget() is None
            page.passphrase.setFocus()
            QTest.keyClicks(page.passphrase, PASSPHRASE)
            QTest.keyClick(page.passphrase, Qt.Key.Key_Return)
            await until(lambda: "link_lost" in page.rows, within_s=10)
            state, record, play = page.rows["link_lost"]
            assert state.text() == "Computer's voice" and not play.isEnabled()
            assert record.accessibleName().startswith("Record: Your therapist")
            # Keyboard only: focus the line's Record, press Space; Stop; Space again.
            record.setFocus()
            QTest.keyClick(record, Qt.Key.Key_Space)
            assert record.text() == "Stop" and page.studio.recording == ("en", "link_lost")
            QTest.keyClick(record, Qt.Key.Key_Space)
            await until(lambda: state.text() == "Recorded", within_s=10)
            assert record.text() == "Record again" and play.isEnabled()
            assert play.accessibleName().startswith("Play back: Your therapist")
            assert "1 of" in page.status.text() or "Kept" in page.status.text()
            await settle(0.3)
            folder = shots("therapist")
            console.grab().save(str(folder / "therapist-your-voice.png"))
            # Spanish: the same line in the patient's language, not yet recorded.
            page.language.setCurrentIndex(page.language.findData("es"))
            await until(
                lambda: (
                    page.rows.get("link_lost") is not None
                    and page.rows["link_lost"][0].text() == "Computer's voice"
                ),
                within_s=10,
            )
            page.language.setCurrentIndex(page.language.findData("en"))
            await until(lambda: page.rows["link_lost"][0].text() == "Recorded", within_s=10)
            assert not any(
                isinstance(w, QDialog) for w in QApplication.topLevelWidgets() if w.isVisible()
            )
            # A session opens: the patient's app gets the recording; a line recorded
            # during the session follows.
            session_id, invites = await console.create_session("Tue")
            await console.open_live(session_id)
            patient = clinic.maker("patient")()
            await patient.connect()
            await patient.join(invites["patient"].code)
            await patient.start()
            try:
                await until(lambda: "link_lost" in patient.voice_receiver.arrived, within_s=20)
                console.tabs.setCurrentWidget(page)
                _state, record, _play = page.rows["welcome"]
                record.click()
                record.click()
                await until(lambda: "welcome" in patient.voice_receiver.arrived, within_s=20)
            finally:
                await patient.close()
        finally:
            await console.close_all()
            console.close()
        # Kept encrypted, for this therapist, and found again by a fresh console.
        book = VoiceBook(clinic.folder / "therapist", "dr-test")
        await book.unlock(PASSPHRASE)
        kept = await book.recordings("en")
        assert set(kept) == {("en", "link_lost"), ("en", "welcome")}
        assert kept[("en", "link_lost")][:4] == b"OggS"
        assert MIN_RECORDING_S < 1.0
        book.close()

    run_ui(test, timeout_s=90)
