"""The patient's window on real widgets, with a real server and a real therapist core."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QWidget

import companion.ui.patient as patient_app
from companion.app import CALM_DARK, CoreOptions, RoleCore, saved_place
from companion.app.joining import what_to_do
from companion.app.journal import Journal, reminder_words
from companion.audio.processing import ProcessingSettings, VoiceProcessing
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.records.private import NoteKind
from companion.ui.patient import PatientWindow, run_patient
from companion.ui.patient.screens import PrepareScreen
from companion.ui.patient.window import SENT
from tests.ui.conftest import RunUi, UiClinic, close_all, moved_on, settle, shots
from tests.waiting import until

PASSPHRASE = "a calm test passphrase"


def _help_alert(therapist: RoleCore) -> bool:
    return any(a.reason == "help" for a in therapist.facts.open_alerts.values())


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.redF())
        + 0.7152 * channel(color.greenF())
        + 0.0722 * channel(color.blueF())
    )


def contrast(fg: str | QColor, bg: str | QColor) -> float:
    hi, lo = sorted((_luminance(QColor(fg)), _luminance(QColor(bg))), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def over(color: str, alpha: float, background: str) -> QColor:
    """``color`` at ``alpha`` painted over ``background``."""
    a, b = QColor(color), QColor(background)
    return QColor.fromRgbF(
        *(
            alpha * x + (1 - alpha) * y
            for x, y in ((a.redF(), b.redF()), (a.greenF(), b.greenF()), (a.blueF(), b.blueF()))
        )
    )


def test_the_colours_the_patient_sees_meet_wcag_aa() -> None:
    c = CALM_DARK
    pairs: dict[str, tuple[str | QColor, str | QColor]] = {
        "text on window": (c["text"], c["window"]),
        "text on panel (fields, buttons)": (c["text"], c["panel"]),
        "muted notes on window": (c["muted"], c["window"]),
        "placeholders on panel": (c["muted"], c["panel"]),
        "warm lines on window": (c["warm"], c["window"]),
        "warm message on its panel": (c["warm"], c["panel"]),
        "accent confirmation on window": (c["accent"], c["window"]),
        "I'm OK": (c["accent_text"], c["accent"]),
        "checked button": (c["text"], "#2f3a47"),
        "selected list item": (c["accent_text"], c["accent"]),
        "video placeholder": ("#aab4c0", "#0b0e12"),
        # The hold button: text over its translucent fill (pressed is the stronger fill).
        "I need help": (c["text"], over(c["danger"], 90 / 255, c["window"])),
        # The check-in banner at its brightest (alpha 0.4 of the accent).
        "check-in banner": (c["text"], over(c["accent"], 0.4, c["window"])),
    }
    for name, (fg, bg) in pairs.items():
        assert contrast(fg, bg) >= 4.5, name
    # Non-text parts (focus border, slider, checkbox edge) need 3:1 against the window.
    for part in ("accent", "muted", "danger"):
        assert contrast(c[part], c["window"]) >= 3.0, part


def test_bad_codes_give_the_servers_plain_sentence_and_what_to_do(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        created = await therapist.signaling.create_session("second")
        expired, revoked = created.invites[0], created.invites[1]
        stored = await clinic.server.store.get_invite(expired.invite_id)
        assert stored is not None
        await clinic.server.store.save_invite(dataclasses.replace(stored, expires_at=1.0))
        await therapist.signaling.revoke_invite(revoked.invite_id)
        window = PatientWindow(clinic.maker("patient"), clinic.folder / "patient")
        window.show()
        message = window.join_screen.message
        try:
            cases = {
                "ZZZZ-ZZZZ": "That code was not found.",
                expired.code: "This invitation has expired.",
                revoked.link: "This invitation was withdrawn.",
            }
            for code, sentence in cases.items():
                assert not await window.join(code)
                text = message.text()
                assert text.startswith(sentence), text
                assert "ask your therapist for a new one" in text.lower(), text
                assert message.isVisible()
                assert window.stack.currentWidget() is window.join_screen
            window.grab().save(str(shots("patient") / "patient-join-wrong-code.png"))
            assert not await window.join("   ")
            assert "type the code" in message.text().lower()
            assert await window.join(invites["patient"].code)
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)
    other = ProtocolError(ErrorCode.UNAVAILABLE, "Something else.")
    assert (
        what_to_do(other) == "Something else.\nCheck the code, or ask your therapist for a new one."
    )


def test_whole_flow_device_check_check_ins_prompt_hold_close_and_after(
    run_ui: RunUi,
) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        window = PatientWindow(clinic.maker("patient"), clinic.folder / "patient")
        window.passphrase = PASSPHRASE
        window.resize(1280, 820)
        window.show()
        folder = shots("patient")
        try:
            assert await window.join(invites["patient"].link)
            assert window.stack.currentWidget() is window.prepare_screen
            p = window.prepare_screen
            # The device check works before the session: own picture and the mic's level.
            await until(lambda: p.self_view.frames_shown > 2 and p.mic_level.value() > 10)
            assert therapist.call is not None and therapist.call.video.frames_received == 0
            p.address.setText("1 Calm Street")
            p.emergency.setText("112")
            p.support_name.setText("Sam")
            p.intention.setPlainText("To meet the fear kindly.")
            p.share_intention.setChecked(True)
            for box in p.checks:
                box.setChecked(True)
            await settle(0.3)
            window.grab().save(str(folder / "patient-prepare.png"))
            await window.begin_session()
            core = window.core
            assert core is not None and core.records is not None
            assert window.stack.currentWidget() is window.session_screen
            await until(lambda: therapist.facts.card is not None)
            assert therapist.facts.card is not None
            assert therapist.facts.card.address == "1 Calm Street"
            await until(lambda: therapist.facts.intention == "To meet the fear kindly.")
            # The intention is kept, encrypted: readable with the passphrase only.
            notes = await Journal(core.records).entries(core.session_id, NoteKind.INTENTION)
            assert [n.text for n in notes] == ["To meet the fear kindly."]
            s = window.session_screen
            await until(lambda: s.video.frames_shown > 3 and "with you" in s.link.text())

            # "I'm OK" by button reaches the therapist and the patient's own record.
            QTest.mouseClick(s.ok, Qt.MouseButton.LeftButton)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            assert s.confirm.text() == SENT
            # Pressed again at once: the same calm words, but nothing more is sent.
            QTest.mouseClick(s.ok, Qt.MouseButton.LeftButton)
            assert window.check_ins_sent == 1
            # Any plain key (here "k") checks in too, once the 3 s have passed.
            moved_on(window, 3.1)
            before = sum(e.kind == "checkin" for e in therapist.facts.timeline)
            QTest.keyClick(s.ok, Qt.Key.Key_K)
            await until(
                lambda: sum(e.kind == "checkin" for e in therapist.facts.timeline) == before + 1
            )
            kinds = [e.kind for e in core.records.events.for_session(core.session_id)]
            assert kinds.count("checkin") == 2

            # The therapist asks: a gentle banner; then pushes a prompt.
            await therapist.request_checkin()
            await until(lambda: s.request.isVisible())
            window.grab().save(str(folder / "patient-session-checkin-requested.png"))
            await therapist.push_prompt("box-breathing")
            await until(lambda: s.prompt_box.isVisible())
            assert "Box breathing" in s.prompt_text.text()
            guide = window.breathing_guide
            assert guide is not None and not guide.reduced_motion
            await settle(0.5)
            window.grab().save(str(folder / "patient-session-breathing.png"))

            # A tap on "I need help" does nothing; a 1.5 s hold alerts the therapist.
            QTest.mousePress(s.help, Qt.MouseButton.LeftButton)
            await settle(0.3)
            QTest.mouseRelease(s.help, Qt.MouseButton.LeftButton)
            await settle(0.6)
            assert not _help_alert(therapist)
            assert "help" not in s.confirm.text()
            QTest.mousePress(s.help, Qt.MouseButton.LeftButton)
            await settle(1.7)
            QTest.mouseRelease(s.help, Qt.MouseButton.LeftButton)
            await until(lambda: _help_alert(therapist))
            assert "asked for help" in s.confirm.text()

            # Closing by accident asks first, inside the window ("Stay in the session" has
            # the focus), and keeps the session; no modal dialog opens.
            window.close()
            await settle(0.2)
            assert QApplication.activeModalWidget() is None
            question = s.close_question
            assert question.isVisible() and "Close Companion?" in question.text.text()
            assert question.stay.hasFocus()
            QTest.keyClick(question.stay, Qt.Key.Key_Space)
            await settle(0.2)
            assert not question.isVisible() and s.end.isVisible()
            assert window.isVisible() and core.signaling.state == "online"
            assert window.stack.currentWidget() is window.session_screen

            # The therapist ends the session: the gentle after screen and the journal.
            await therapist.end_session()
            await until(lambda: window.stack.currentWidget() is window.after_screen)
            a = window.after_screen
            assert "therapist has ended" in a.why.text()
            a.journal.setPlainText("The colours, and my grandmother's kitchen.")
            QTest.mouseClick(a.save, Qt.MouseButton.LeftButton)
            await until(lambda: "Saved" in a.status.text())
            notes = await Journal(core.records).entries(core.session_id, NoteKind.JOURNAL)
            assert [n.text for n in notes] == ["The colours, and my grandmother's kitchen."]
            QTest.mouseClick(a.remind, Qt.MouseButton.LeftButton)
            assert reminder_words(window.data_dir).startswith("Reminder: your integration")
            await settle(0.2)
            saved = window.save_screenshots(folder)
            assert [path.name for path in saved] == [
                "patient-join.png",
                "patient-prepare.png",
                "patient-session.png",
                "patient-after.png",
            ]
            # Nothing the patient wrote reaches the record's plain text.
            raw = (clinic.folder / "patient" / "records.sqlite3").read_bytes()
            assert b"grandmother" not in raw and b"fear kindly" not in raw
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)


def _press(widget: QWidget, key: Qt.Key, text: str = "", repeat: bool = False) -> None:
    event = QKeyEvent(QKeyEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, text, repeat)
    QApplication.sendEvent(widget, event)


def _tab_round(window: PatientWindow, start: QWidget, steps: int = 60) -> list[QWidget]:
    start.setFocus()
    reached: list[QWidget] = []
    for _ in range(steps):
        focused = QApplication.focusWidget()
        if focused is not None and focused not in reached:
            reached.append(focused)
        QTest.keyClick(focused or window, Qt.Key.Key_Tab)
    return reached


def test_keyboard_only_run_through(run_ui: RunUi) -> None:
    dirs: list[Path] = []

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        dirs.append(clinic.folder / "patient")
        window = PatientWindow(clinic.maker("patient"), clinic.folder / "patient")
        window.passphrase = PASSPHRASE
        window.show()
        window.activateWindow()
        try:
            # Join: type the code read over the phone, Enter.
            j = window.join_screen
            j.code.setFocus()
            QTest.keyClicks(j.code, invites["patient"].code.lower().replace("-", " "))
            QTest.keyClick(j.code, Qt.Key.Key_Return)
            await until(lambda: window.stack.currentWidget() is window.prepare_screen)

            # Prepare: Tab reaches every control; Space ticks a box; Space on the big
            # button starts the session.
            p = window.prepare_screen
            reached = _tab_round(window, p.checks[0])
            controls: list[QWidget] = [
                *p.checks,
                p.support_name,
                p.support_phone,
                p.emergency,
                p.intention,
                p.share_intention,
                p.address,
                p.taken,
                p.medications,
                p.therapist_contact,
                p.prescriber_contact,
                p.test_sound,
                p.own_music,
                p.begin,
            ]
            for control in controls:
                assert control in reached, control.accessibleName()
                assert control.accessibleName(), control
            box = p.checks[1]
            box.setFocus()
            QTest.keyClick(box, Qt.Key.Key_Space)
            assert box.isChecked()
            p.begin.setFocus()
            QTest.keyClick(p.begin, Qt.Key.Key_Space)
            await until(lambda: window.stack.currentWidget() is window.session_screen)
            await until(lambda: window.core is not None and window.core.guardian is not None)

            # The session: Tab reaches every control, each with a name and focus visible.
            s = window.session_screen
            await settle(0.2)
            reached = _tab_round(window, s.ok)
            for control in (
                s.ok,
                s.help,
                s.grounding,
                s.play,
                s.next,
                s.volume,
                s.mute,
                s.mic,
                s.camera,
                s.calm,
                s.end,
            ):
                assert control in reached, control.accessibleName()
                assert control.accessibleName(), control
                assert control.focusPolicy() & Qt.FocusPolicy.TabFocus
            # Tab and arrows move and work controls, without checking in.
            assert window.check_ins_sent == 0
            s.volume.setFocus()
            start = s.volume.value()
            QTest.keyClick(s.volume, Qt.Key.Key_Left)
            assert s.volume.value() == start - 1 and window.check_ins_sent == 0
            # Space on the focused "I'm OK" checks in ...
            s.ok.setFocus()
            QTest.keyClick(s.ok, Qt.Key.Key_Space)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            assert window.check_ins_sent == 1
            # ... a key held down (auto-repeat) does not send again and again ...
            moved_on(window, 3.1)
            _press(s.ok, Qt.Key.Key_A, "a")
            for _ in range(20):
                _press(s.ok, Qt.Key.Key_A, "a", repeat=True)
            assert window.check_ins_sent == 2
            # ... and a second key within 3 s only repeats the calm words.
            _press(s.ok, Qt.Key.Key_B, "b")
            assert window.check_ins_sent == 2 and s.confirm.text() == SENT
            # Enter on "Grounding exercises" opens the list; Enter on one opens it.
            s.grounding.setFocus()
            QTest.keyClick(s.grounding, Qt.Key.Key_Return)
            await until(lambda: s.prompt_list.isVisible())
            assert QApplication.focusWidget() is s.prompt_list
            QTest.keyClick(s.prompt_list, Qt.Key.Key_Right)
            QTest.keyClick(s.prompt_list, Qt.Key.Key_Return)
            await until(lambda: s.prompt_box.isVisible())
            assert "breathing" in s.prompt_text.text().lower()
            # Reduced motion (Space on its toggle): the guide shows words only.
            s.calm.setFocus()
            QTest.keyClick(s.calm, Qt.Key.Key_Space)
            guide = window.breathing_guide
            assert s.calm.isChecked() and guide is not None
            assert guide.reduced_motion and s.request.reduced_motion
            # Holding Space on "I need help" for 1.5 s is the keyboard's way to ask for help;
            # a short press is not.
            s.help.setFocus()
            QTest.keyPress(s.help, Qt.Key.Key_Space)
            await settle(0.3)
            QTest.keyRelease(s.help, Qt.Key.Key_Space)
            await settle(0.5)
            assert not _help_alert(therapist)
            QTest.keyPress(s.help, Qt.Key.Key_Space)
            started = time.monotonic()
            await until(lambda: s.help.progress >= 1.0 or time.monotonic() - started > 1.6, 5)
            await settle(0.2)
            QTest.keyRelease(s.help, Qt.Key.Key_Space)
            await until(lambda: _help_alert(therapist))
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)
    # Reduce motion is remembered for next time.
    folder = dirs[0]
    again = PatientWindow(
        lambda: RoleCore("patient", "ws://127.0.0.1:9", CoreOptions(data_dir=folder, audio=False)),
        folder,
    )
    assert again.session_screen.calm.isChecked()
    again.deleteLater()


def test_a_restart_brings_the_patient_back_into_the_same_session(
    run_ui: RunUi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_patient opens the audio device by default; here the engine stays off.
    monkeypatch.setattr(
        patient_app,
        "CoreOptions",
        functools.partial(CoreOptions, audio=False, video=(160, 120, 10)),
    )

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        data_dir = clinic.folder / "patient"
        first = PatientWindow(clinic.maker("patient"), data_dir)
        first.show()
        assert await first.join(invites["patient"].code)
        await first.begin_session()
        assert first.core is not None
        session_id = first.core.session_id
        # The app dies without leaving the session.
        await close_all(first)
        before = set(QApplication.topLevelWidgets())
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        # Started again the way a person does: no arguments at all.
        running = asyncio.ensure_future(run_patient(app, "", None, data_dir, True))
        try:

            def again() -> PatientWindow | None:
                for widget in QApplication.topLevelWidgets():
                    if isinstance(widget, PatientWindow) and widget not in before:
                        return widget
                return None

            await until(lambda: again() is not None)
            window = again()
            assert window is not None
            await until(lambda: window.stack.currentWidget() is window.session_screen, 20)
            assert window.core is not None and window.core.session_id == session_id
            await until(lambda: therapist.facts.link == "connected", 20)
            # "Close Companion", asked inside the window, really closes it: the app ends.
            window.close()
            await until(lambda: window.session_screen.close_question.isVisible())
            assert window.isVisible()
            QTest.mouseClick(window.session_screen.close_question.act, Qt.MouseButton.LeftButton)
            assert await asyncio.wait_for(running, 10) == 0
            assert not window.isVisible()
            # ... and the next start goes back into the same session again.
            place = saved_place(data_dir)
            assert place is not None and place.session_id == session_id and place.began
            assert place.server == clinic.server.ws_url
        finally:
            running.cancel()
            await therapist.close()

    run_ui(test)


def test_text_follows_the_system_font(qapp: QApplication, tmp_path: Path) -> None:
    window = PatientWindow(
        lambda: RoleCore(
            "patient", "ws://127.0.0.1:9", CoreOptions(data_dir=tmp_path, audio=False)
        ),
        tmp_path,
    )
    original = qapp.font()
    try:
        before = window.session_screen.ok.font().pointSizeF()
        bigger = qapp.font()
        bigger.setPointSizeF(original.pointSizeF() * 1.5)
        qapp.setFont(bigger)
        window.apply_fonts()
        after = window.session_screen.ok.font().pointSizeF()
        assert after == pytest.approx(before * 1.5, rel=0.02)
        # Every control has a name for screen readers.
        for widget in window.findChildren(QWidget):
            control = isinstance(widget, QCheckBox) or any(
                widget.inherits(kind)
                for kind in ("QAbstractButton", "QLineEdit", "QAbstractSlider")
            )
            if control and widget.isVisibleTo(window):
                assert widget.accessibleName(), widget
    finally:
        qapp.setFont(original)
        window.deleteLater()


def test_the_qt_loop_does_not_leak_references_to_none() -> None:
    """PySide6 6.12.0 dropped a reference to None on each timer callback: a session died
    within a minute. Guard the pin: 20,000 loop turns leave None's count unchanged."""
    import sys

    from companion.ui.common import QtLoop, make_app

    loop = QtLoop(make_app())
    asyncio.set_event_loop(loop)

    async def turns() -> int:
        before = sys.getrefcount(None)
        for _ in range(20_000):
            await asyncio.sleep(0)
        return sys.getrefcount(None) - before

    try:
        drift = loop.run_until_complete(turns())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert abs(drift) < 1000, drift


def test_the_device_check_shows_and_changes_the_voice_processing(qapp: QApplication) -> None:
    """Echo cancellation is said to be on (no switch); noise suppression and automatic
    gain are the patient's to change, and the processing takes them up at once."""
    screen = PrepareScreen()
    voice = screen.voice
    processing = VoiceProcessing()
    try:
        voice.bind(processing.settings, processing.active, processing.update)
        assert (
            voice.note.text() == "Echo cancellation on, noise suppression on, automatic gain off."
        )
        assert voice.noise_suppression.isChecked() and not voice.auto_gain.isChecked()
        voice.auto_gain.setChecked(True)
        voice.noise_suppression.setChecked(False)
        assert processing.settings == ProcessingSettings(noise_suppression=False, auto_gain=True)
        assert (
            voice.note.text() == "Echo cancellation on, noise suppression off, automatic gain on."
        )
        processing.capture(np.zeros(960, np.int16))
        processing.process_pending()
        assert processing.resets == 1 and processing.errors == 0
    finally:
        processing.close()
        screen.deleteLater()
