"""The patient's window on real widgets, with a real server and a real therapist core."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from companion.app import RoleCore
from companion.ui.common import CALM_DARK, apply_theme
from companion.ui.patient import PatientWindow
from tests.ui.conftest import RunUi, UiClinic, settle, shots, until


def _help_alert(therapist: RoleCore) -> bool:
    return any(a.reason == "help" for a in therapist.facts.open_alerts.values())


def _contrast(a: str, b: str) -> float:
    def luminance(color: str) -> float:
        q = QColor(color)
        r, g, bl = (
            c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
            for c in (q.redF(), q.greenF(), q.blueF())
        )
        return float(0.2126 * r + 0.7152 * g + 0.0722 * bl)

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_calm_palette_meets_wcag_aa() -> None:
    for fg in ("text", "muted", "warm", "danger", "accent"):
        assert _contrast(CALM_DARK[fg], CALM_DARK["window"]) >= 4.5, fg
    assert _contrast(CALM_DARK["accent_text"], CALM_DARK["accent"]) >= 4.5


def test_whole_flow_check_ins_prompt_and_hold(run_ui: RunUi, qapp: QApplication) -> None:
    apply_theme(qapp, CALM_DARK, scale=1.4)

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        window = PatientWindow(clinic.maker("patient"), clinic.folder / "patient")
        window.confirm_close = lambda: False  # "Stay in the session"
        window.resize(1280, 820)
        window.show()
        folder = shots("patient")
        try:
            # A wrong code: a plain sentence, still on the join screen.
            assert not await window.join("ZZZZ-ZZZZ")
            assert "code" in window.join_screen.message.text().lower()
            assert window.stack.currentWidget() is window.join_screen
            window.grab().save(str(folder / "patient-join-wrong-code.png"))
            window.join_screen.message.setText("")
            window.core = None
            assert await window.join(invites["patient"].code)
            assert window.stack.currentWidget() is window.prepare_screen
            p = window.prepare_screen
            p.address.setText("1 Calm Street")
            p.emergency.setText("112")
            await window.begin_session()
            core: RoleCore | None = getattr(window, "core")  # noqa: B009 - mypy narrowed it to None above
            assert core is not None
            assert window.stack.currentWidget() is window.session_screen
            await until(lambda: therapist.facts.card is not None)
            assert (
                therapist.facts.card is not None and therapist.facts.card.address == "1 Calm Street"
            )
            s = window.session_screen
            await until(lambda: s.video.frames_shown > 3 and "with you" in s.link.text())

            # A check-in by button reaches the therapist and the patient's own record.
            QTest.mouseClick(s.ok, Qt.MouseButton.LeftButton)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            assert "Sent" in s.confirm.text()
            # Any key (here: "k") checks in too, once the debounce has passed.
            window._last_checkin = 0.0
            before = sum(e.kind == "checkin" for e in therapist.facts.timeline)
            s.setFocus()
            QTest.keyClick(s, Qt.Key.Key_K)
            await until(
                lambda: sum(e.kind == "checkin" for e in therapist.facts.timeline) == before + 1
            )

            # The therapist asks: a gentle banner; then pushes a prompt.
            await therapist.request_checkin()
            await until(lambda: s.request.isVisible())
            window.grab().save(str(folder / "patient-checkin-requested.png"))
            await therapist.push_prompt("box-breathing")
            await until(lambda: s.prompt_box.isVisible())
            assert "Box breathing" in s.prompt_text.text()
            await settle(0.5)
            window.grab().save(str(folder / "patient-session.png"))

            # A tap on "I need help" does nothing; a 1.5 s hold alerts the therapist.
            QTest.mousePress(s.help, Qt.MouseButton.LeftButton)
            await settle(0.3)
            QTest.mouseRelease(s.help, Qt.MouseButton.LeftButton)
            await settle(0.5)
            assert not therapist.facts.open_alerts
            QTest.mousePress(s.help, Qt.MouseButton.LeftButton)
            await settle(1.7)
            QTest.mouseRelease(s.help, Qt.MouseButton.LeftButton)
            await until(lambda: _help_alert(therapist))

            # Closing by accident asks first and keeps the session.
            window.close()
            await settle(0.1)
            assert window.isVisible() and core.signaling.state == "online"

            # The record holds the check-ins.
            assert core.records is not None
            kinds = [e.kind for e in core.records.events.for_session(core.session_id)]
            assert kinds.count("checkin") >= 2

            # The therapist ends the session: the gentle after screen.
            await therapist.end_session()
            await until(lambda: window.stack.currentWidget() is window.after_screen)
            window.grab().save(str(folder / "patient-after.png"))
            window.save_screenshots(folder)
        finally:
            window.confirm_close = lambda: True
            if window.core is not None:
                await window.core.close()
            await therapist.close()
            window.close()

    run_ui(test)


def test_keyboard_reaches_every_control(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        window = PatientWindow(clinic.maker("patient"), clinic.folder / "patient")
        window.show()
        try:
            window.join_screen.code.setFocus()
            QTest.keyClicks(window.join_screen.code, invites["patient"].code)
            QTest.keyClick(window.join_screen.code, Qt.Key.Key_Return)
            await until(lambda: window.stack.currentWidget() is window.prepare_screen)
            await window.begin_session()
            s = window.session_screen
            s.ok.setFocus()
            reached: set[QWidget] = set()
            for _ in range(40):
                focused = QApplication.focusWidget()
                if focused is not None:
                    reached.add(focused)
                QTest.keyClick(QApplication.focusWidget() or s, Qt.Key.Key_Tab)
            for control in (s.ok, s.help, s.grounding, s.play, s.next, s.volume, s.mute, s.mic,
                            s.camera, s.calm, s.end):  # fmt: skip
                assert control in reached, control.accessibleName()
                assert control.accessibleName(), control
            # Space on the focused "I'm OK" checks in.
            window._last_checkin = 0.0
            s.ok.setFocus()
            QTest.keyClick(s.ok, Qt.Key.Key_Space)
            await until(lambda: therapist.facts.last_checkin_at is not None)
            # Holding Space on "I need help" for 1.5 s is the keyboard's way to ask for help.
            s.help.setFocus()
            QTest.keyPress(s.help, Qt.Key.Key_Space)
            started = time.monotonic()
            await until(lambda: s.help.progress >= 1.0 or time.monotonic() - started > 1.6, 5)
            await settle(0.2)
            QTest.keyRelease(s.help, Qt.Key.Key_Space)
            await until(lambda: _help_alert(therapist))
        finally:
            window.confirm_close = lambda: True
            if window.core is not None:
                await window.core.close()
            await therapist.close()
            window.close()

    run_ui(test)


def test_the_qt_loop_does_not_leak_references_to_none() -> None:
    """PySide6 6.12.0 dropped a reference to None on each timer callback: a session died
    within a minute. Guard the pin: 20,000 loop turns leave None's count unchanged."""
    import asyncio
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
