"""The therapist's console and the support person's board on real widgets, with a real
server and a real patient core (synthetic media)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from companion.app import Reminder, RoleCore
from companion.protocol.errors import ProtocolError
from companion.ui.support import SupportWindow
from companion.ui.therapist import InviteRow, TherapistConsole
from tests.ui.conftest import RunUi, UiClinic, settle, shots, until


def test_console_invites_checkins_prompts_music_alerts_and_summary(
    run_ui: RunUi,
) -> None:
    async def test(clinic: UiClinic) -> None:
        console = TherapistConsole(clinic.server.ws_url, clinic.folder / "therapist", True,
                                   audio=False)  # fmt: skip
        console.resize(1400, 880)
        console.show()
        patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient", audio=True))
        support = SupportWindow(clinic.maker("support"))
        support.resize(1100, 800)
        support.show()
        folder = shots("therapist")
        try:
            assert not await console.sign_in("dr-test", "wrong")
            assert "not right" in console.status.text()
            assert await console.sign_in("dr-test", clinic.secret)
            session_id, invites = await console.create_session("Tuesday")
            assert console.sessions.count() == 1
            # A second session's invite, revoked: its code is refused.
            _, spare = await console.create_session("spare")
            item = console.invites.itemAt(0)
            assert item is not None
            row = item.widget()
            assert isinstance(row, InviteRow)
            await console.revoke(row)
            probe = RoleCore("patient", clinic.server.ws_url, clinic.options("probe"))
            await probe.connect()
            with pytest.raises(ProtocolError) as refused:
                await probe.join(spare["patient"].code)
            assert "withdrawn" in refused.value.message or "not valid" in refused.value.message
            await probe.close()

            therapist = await console.open_live(session_id)
            live = console.live[session_id]
            await patient.connect()
            await patient.join(invites["patient"].code)
            await patient.start()
            assert await support.join(invites["support"].link)
            await until(lambda: live.video.frames_shown > 3 and live.link.text() == "Connected")

            # Check-in request round trip, from the console's button.
            asked: list[str] = []
            patient.checkin_requested.connect(asked.append)
            QTest.mouseClick(live.request, Qt.MouseButton.LeftButton)
            await until(lambda: bool(asked))
            await patient.check_in("key")
            await until(lambda: "just now" in live.checkin.text())
            await until(lambda: "just now" in support.checkin.text())
            # A prompt pushed from the console shows on the patient's side.
            shown: list[str] = []
            patient.prompt_pushed.connect(shown.append)
            live.prompt_choice.setCurrentIndex(live.prompt_choice.findData("feet-on-floor"))
            QTest.mouseClick(live.push, Qt.MouseButton.LeftButton)
            await until(lambda: shown == ["feet-on-floor"])
            # The console shows what the patient's engine plays, and its remote reaches it
            # (that "next" then changes what is heard on a real device is in
            # tests/call/test_voice_output.py, where PortAudio has an ALSA device).
            await until(lambda: "♪" in live.now_playing.text(), 20)
            await therapist.music_remote("next")
            await until(lambda: any(e.kind == "music.command" for e in patient.facts.timeline))

            # Help: the therapist's banner and the support call; "I'm with the patient"
            # clears both.
            await patient.help_held()
            await until(lambda: live.alert_banner.isVisible() and support.call_panel.isVisible())
            console.grab().save(str(folder / "therapist-alert.png"))
            support.grab().save(str(shots("support") / "support-call.png"))
            QTest.mouseClick(support.with_patient_button, Qt.MouseButton.LeftButton)
            await until(
                lambda: not live.alert_banner.isVisible() and not support.call_panel.isVisible()
            )
            await until(lambda: not patient.facts.open_alerts)

            # Vitals beyond the limits alert the therapist; acknowledge from the banner.
            support._show_reminder(Reminder("manual", "vitals", 0.0))
            support.heart_rate.setValue(120)
            QTest.mouseClick(support.reminder_done, Qt.MouseButton.LeftButton)
            await until(lambda: live.alert_banner.isVisible())
            assert "Vitals" in live.alert_text.text()
            QTest.mouseClick(live.ack, Qt.MouseButton.LeftButton)
            await until(lambda: not live.alert_banner.isVisible())

            # A plan reaches the support person: instructions one click away.
            live.instructions.setPlainText("Sit with them; call Dr Rivera.")
            live.emergency.setText("112")
            await live.send_plan()
            await until(
                lambda: (
                    support.core is not None and support.core.facts.plan.emergency_number == "112"
                )
            )
            dialog = support.show_instructions()
            await settle(0.2)
            dialog.grab().save(str(shots("support") / "support-instructions.png"))
            dialog.close()
            support.grab().save(str(shots("support") / "support-board.png"))

            # The summary: HTML and a PDF that renders.
            live.tabs.setCurrentIndex(3)
            console.grab().save(str(folder / "therapist-timeline.png"))
            live.tabs.setCurrentIndex(0)
            console.grab().save(str(folder / "therapist-live.png"))
            html_path, pdf_path = live.export_summary(folder / "summary")
            text = html_path.read_text()
            assert "Check-ins" in text and "The patient is asking for help" in text
            assert pdf_path.read_bytes().startswith(b"%PDF")
            if shutil.which("pdftoppm"):
                subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                                str(pdf_path), str(folder / "summary")], check=True)  # fmt: skip
                assert list(folder.glob("summary*.png"))
            console.tabs.setCurrentIndex(0)
            console.grab().save(str(folder / "therapist-sessions.png"))
        finally:
            await patient.close()
            if support.core is not None:
                await support.core.close()
            await console.close_all()
            console.close()
            support.close()

    run_ui(test, timeout_s=90)
