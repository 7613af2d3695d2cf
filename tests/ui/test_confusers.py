"""Things that confused people trying the apps (issue 16, items 7-13), each pinned."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from companion.app import RoleCore
from companion.call.quality import CallQuality
from companion.monitor.ladder import Alert
from companion.ui.patient import PatientWindow
from companion.ui.support import SupportWindow
from companion.ui.therapist.live import LiveSession, quality_words
from tests.ui.conftest import RunUi, UiClinic, close_all, moved_on, patient_joined, settle
from tests.waiting import until


def _button(window: QWidget, name: str) -> QPushButton:
    """A button found as a screen reader finds it: by its accessible name."""
    return next(b for b in window.findChildren(QPushButton) if b.accessibleName() == name)


def _at(widget: object) -> QPoint:
    return widget.mapTo(widget.window(), QPoint(0, 0))  # type: ignore[attr-defined, no-any-return]


def test_im_ok_stays_put_and_any_key_checks_in_even_on_a_control(run_ui: RunUi) -> None:
    """Items 7 and 8 (patient): the check-in banner and the calm line do not move "I'm OK";
    Tab to "Next", then Space, still checks in; Space on "I need help" does not."""

    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic) as (window, therapist):
            window.resize(1280, 740)
            await window.begin_session()
            s = window.session_screen
            await settle(0.3)
            before = _at(s.ok)
            core = window.core
            assert core is not None
            await until(lambda: therapist.facts.link == "connected", 20)
            await therapist.request_checkin()
            await until(lambda: s.request.isVisible())
            assert _at(s.ok) == before
            # What the ladder and the sound output say, through the core's own signals.
            core.patient_line.emit("Your therapist's connection dropped. Music keeps playing.")
            core.notice.emit("No sound output is available; trying again.")
            await settle(0.2)
            assert _at(s.ok) == before
            # Item 13: a device note never hides the ladder's calm line.
            assert s.line.text().startswith("Your therapist's connection dropped")
            core.patient_line.emit("")
            assert s.line.text().startswith("No sound output")

            s.next.setFocus()
            QTest.keyClick(s.next, Qt.Key.Key_Space)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            assert window.check_ins_sent == 1
            moved_on(window, 3.1)  # past the 3 s debounce
            s.help.setFocus()
            QTest.keyPress(s.help, Qt.Key.Key_Space)
            QTest.keyRelease(s.help, Qt.Key.Key_Space)
            await settle(0.2)
            assert window.check_ins_sent == 1

    run_ui(test)


def test_support_board_enter_presses_no_stale_thanks_and_vitals_start_empty(
    run_ui: RunUi,
) -> None:
    """Items 8, 10, 11 and 12 on the support person's board."""

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        created = await therapist.signaling.create_session("revoked")
        revoked = next(i for i in created.invites if i.role == "support")
        await therapist.signaling.revoke_invite(revoked.invite_id)
        support = SupportWindow(clinic.maker("support"))
        support.show()
        try:
            # Item 12: the server's sentence, then what to do, never the same thing twice.
            assert not await support.join(revoked.code)
            text = support.join_message.text()
            assert text.lower().count("new one") == 1, text
            assert await support.join(invites["support"].code)

            # Item 11: nothing is measured before someone measures it.
            support.record_vitals_button.click()
            assert [b.text() for b in support.vitals_boxes] == ["—", "—", "—"]
            assert not support.reminder_done.isEnabled()
            support.systolic.setValue(128)
            support.diastolic.setValue(82)
            assert not support.reminder_done.isEnabled()
            support.heart_rate.setValue(74)
            assert support.reminder_done.isEnabled()
            support.reminder_panel.hide()

            # Item 8: Enter presses the focused button ("I'm with the patient").
            alert = Alert(
                "a1", "go_to_patient", time.monotonic(), frozenset({"support"}), True, "patient"
            )
            support.message.setText("Thank you. The therapist can see you're with the patient.")
            assert support.core is not None
            support.core.alert_shown.emit(alert)  # what the ladder shows
            # Item 10: a new call does not sit over an old "Thank you".
            assert support.message.text() == ""
            assert support.with_patient_button.hasFocus()
            QTest.keyClick(support.with_patient_button, Qt.Key.Key_Return)
            await until(lambda: "Thank you" in support.message.text())
            assert not support.call_panel.isVisible()
        finally:
            await close_all(support, cores=[therapist])

    run_ui(test)


def test_the_therapists_plan_starts_empty_and_delay_is_never_negative(
    run_ui: RunUi,
) -> None:
    """Items 11 and 12 on the console: no dose time until entered; no "delay -35 ms"."""

    async def test(clinic: UiClinic) -> None:
        therapist, _ = await clinic.therapist_session()
        live = LiveSession(therapist, clinic.folder / "therapist")
        try:
            assert not live.dose_known.isChecked() and not live.dose_at.isEnabled()
            assert live.read_plan().dose_at is None
            QTest.mouseClick(_button(live, "Dose taken now"), Qt.MouseButton.LeftButton)
            assert live.dose_known.isChecked() and live.read_plan().dose_at is not None
        finally:
            live.detach()
            await therapist.close()
            live.close()

    run_ui(test)
    quality = CallQuality(0.0, -35.0, 0.0, 0.0, 1.0, 32.0, 300.0, 300.0, 15.0, 100)
    assert "-" not in quality_words(quality).split("delay", 1)[1]


def test_enter_does_not_press_buttons_of_another_window(qapp: QApplication) -> None:
    from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

    from companion.ui.common import press_with_enter

    mine, other = QWidget(), QWidget()
    press_with_enter(mine)
    pressed: list[str] = []
    for window, name in ((mine, "mine"), (other, "other")):
        button = QPushButton(name, window)
        QVBoxLayout(window).addWidget(button)
        button.clicked.connect(lambda _=False, n=name: pressed.append(n))
        QTest.keyClick(button, Qt.Key.Key_Return)
    QTest.qWait(300)
    assert pressed == ["mine"]
    mine.deleteLater()
    other.deleteLater()


def test_after_i_need_help_the_patient_learns_it_was_answered_and_can_say_im_ok_now(
    run_ui: RunUi,
) -> None:
    """Item 9."""

    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic) as (window, therapist):
            await window.begin_session()
            s = window.session_screen
            QTest.mousePress(s.help, Qt.MouseButton.LeftButton)  # held for 1.5 s
            await settle(1.7)
            QTest.mouseRelease(s.help, Qt.MouseButton.LeftButton)
            await until(
                lambda: any(a.reason == "help" for a in therapist.facts.open_alerts.values())
            )
            assert s.ok.text() == "I'm OK now"
            alert_id = next(iter(therapist.facts.open_alerts))
            await therapist.acknowledge(alert_id)
            await until(lambda: "therapist has seen your call" in s.confirm.text())
            QTest.mouseClick(s.ok, Qt.MouseButton.LeftButton)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            assert s.ok.text() == "I'm OK"

    run_ui(test)


def test_the_board_reads_across_a_room_and_targets_are_large_enough(
    qapp: QApplication, tmp_path: Path
) -> None:
    """Items 14 and 15: the board's text scales with its window (the main status at least
    40 px with the board maximised on 1366×768); buttons at least 44 px tall; "I'm OK" is
    dimmer than the accent, its text still at AA contrast."""
    from companion.app import CALM_DARK, CoreOptions, RoleCore
    from companion.ui.therapist.live import console_button
    from tests.ui.test_patient import contrast

    board = SupportWindow(lambda: RoleCore("support", "", CoreOptions(data_dir=tmp_path)))
    board.stack.setCurrentWidget(board.board)
    board.resize(1366, 730)
    board.show()
    QTest.qWait(50)
    big = board.state.fontMetrics().height()
    assert big >= 40, big
    board.resize(800, 480)
    QTest.qWait(50)
    assert board.state.fontMetrics().height() < big
    board.close()

    patient = PatientWindow(
        lambda: RoleCore("patient", "", CoreOptions(data_dir=tmp_path)), tmp_path
    )
    s = patient.session_screen
    for button in (s.mic, s.camera, s.calm, s.end, s.play, s.next, s.mute, s.grounding):
        assert button.minimumHeight() >= 44, button.text()
    assert console_button("Request a check-in").minimumHeight() >= 44
    # Dimmer than the accent (a large bright area in a dark room), text still AA.
    assert contrast(CALM_DARK["ok"], CALM_DARK["window"]) < contrast(
        CALM_DARK["accent"], CALM_DARK["window"]
    )
    assert contrast(CALM_DARK["accent_text"], CALM_DARK["ok"]) >= 4.5
    patient.close()


def test_qt_says_each_warning_once_and_not_its_plugin_noise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 16: a quiet terminal."""
    from PySide6.QtCore import QMessageLogContext, QtMsgType

    from companion.ui.common import _qt_message

    context = QMessageLogContext()
    with caplog.at_level(logging.DEBUG, logger="companion.qt"):
        for _ in range(17):
            _qt_message(
                QtMsgType.QtWarningMsg, context, "This plugin does not support propagateSizeHints()"
            )
        for _ in range(3):
            _qt_message(QtMsgType.QtWarningMsg, context, "QPainter::begin: a test warning")
    said = [r.getMessage() for r in caplog.records if r.name == "companion.qt"]
    assert said == ["Qt: QPainter::begin: a test warning"]


def test_the_board_and_the_console_read_the_same_session_time(run_ui: RunUi) -> None:
    """Item 10: the board read 0:00:49 (its own start) while the console read 0:05:03."""

    async def test(clinic: UiClinic) -> None:
        therapist = RoleCore("therapist", clinic.server.ws_url, clinic.options("therapist"))
        therapist.facts.started_at = time.time() - 303  # the console opened 5 minutes ago
        await therapist.connect()
        await therapist.sign_in("dr-test", clinic.secret)
        created = await therapist.signaling.create_session("clock")
        await therapist.open_session(created.session.session_id)
        await therapist.start()
        live = LiveSession(therapist, clinic.folder / "therapist")
        support = SupportWindow(clinic.maker("support"))
        support.show()
        try:
            code = next(i.code for i in created.invites if i.role == "support")
            assert await support.join(code)  # joins late
            await until(lambda: support.elapsed.text().startswith("Session time 0:05:"), 20)
            await until(lambda: live.clock.text().startswith("Session time 0:05:"), 3)
            # The clock is no news: no timeline line for it.
            assert support.core is not None
            assert not any(e.kind == "session.clock" for e in support.core.facts.timeline)
        finally:
            live.detach()
            await close_all(support, cores=[therapist])
            live.close()

    run_ui(test)


def test_the_console_names_the_link_once_and_says_each_change_once(run_ui: RunUi) -> None:
    """Item 12: "Call link", "Patient's link" and "the link to the patient" were one link,
    and each change of it took two lines (the console's own and the patient's report)."""
    from companion.protocol.messages import LinkState, LinkStateName

    async def test(clinic: UiClinic) -> None:
        therapist, _ = await clinic.therapist_session()
        live = LiveSession(therapist, clinic.folder / "therapist")
        try:
            before = live.timeline.count()
            states: tuple[LinkStateName, ...] = ("connected", "lost", "connected")
            for n, state in enumerate(states):
                therapist._on_call_state(state)  # forged: the console's own monitor says it
                report = LinkState(kind="link.state", state=state)
                therapist._on_event(f"e{n}", report, "patient")  # forged: the patient's report
            lines = [live.timeline.item(i).text() for i in range(before, live.timeline.count())]
            assert len(lines) == 3, lines
            names = {line.split("   ", 1)[1].rsplit(":", 1)[0] for line in lines}
            assert len(names) == 1 and "link" in names.pop().lower(), lines
        finally:
            live.detach()
            await therapist.close()
            live.close()

    run_ui(test)
