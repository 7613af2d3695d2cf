"""The support person's window on real widgets, with a real server, a real therapist
core and a real patient core (synthetic media)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QTextBrowser

from companion.app import CALM_DARK, CLEAR_LIGHT, RoleCore
from companion.app.words import link_words
from companion.monitor.ladder import Alert
from companion.protocol.messages import EmergencyCard, SessionPlan
from companion.ui.common import apply_theme
from companion.ui.support import SupportWindow
from tests.ui.conftest import RunUi, UiClinic, board_joined, close_all, settle, shots
from tests.ui.test_patient import contrast
from tests.waiting import until


def test_support_joins_gets_paced_checks_instructions_and_card(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient"))
        window = SupportWindow(clinic.maker("support"))
        window.resize(1100, 800)
        window.show()
        folder = shots("support")
        try:
            # A wrong code is refused in plain words; the join page stays.
            assert not await window.join("ZZZZ-ZZZZ")
            assert "code" in window.join_message.text().lower()
            window.code.setText("ZZZZ-ZZZZ")
            window.grab().save(str(folder / "support-join-wrong-code.png"))
            # The patient's invite does not make anyone a support person.
            assert await window.join(invites["support"].link)
            assert window.stack.currentWidget() is window.board
            await patient.connect()
            await patient.join(invites["patient"].code)
            await patient.start()
            await until(lambda: window.state.text() == "Connected", 20)
            assert "not yet" in window.checkin.text()

            # The patient's emergency card and the therapist's plan arrive. The dose was
            # 15 minutes ago: the vitals 5 minutes before it and the first look-in are due.
            card = EmergencyCard(
                kind="card",
                patient_name="R. Example",
                address="1 Calm Street, Flat 2",
                taken="ketamine 100 mg sublingual at 10:02",
                medications="none",
                therapist_contact="Dr Rivera 555 0100",
                prescriber_contact="Dr Okafor 555 0199",
                emergency_number="112",
            )
            await patient.share_card(card)
            plan = SessionPlan(
                kind="plan",
                dose_at=time.time() - 15 * 60 - 3,
                vitals_at_min=[-5],
                lookin_every_min=15,
                instructions="Sit with them quietly. If they are unwell call "
                "112, then Dr Rivera on 555 0100.",
                emergency_number="112",
            )
            await therapist.set_plan(plan)
            await until(lambda: window.reminder_panel.isVisible(), 5)
            assert "112" in window.emergency_line.text()
            # Vitals first; the look-in waits its turn.
            assert window.reminder is not None and window.reminder.kind == "vitals"
            assert window.vitals_row.isVisible()
            window.grab().save(str(folder / "support-vitals-due.png"))
            window.systolic.setValue(128)
            window.diastolic.setValue(82)
            window.heart_rate.setValue(74)
            QTest.mouseClick(window.reminder_done, Qt.MouseButton.LeftButton)
            await until(lambda: window.reminder is not None and window.reminder.kind == "lookin")
            assert window.reminder_panel.isVisible() and not window.vitals_row.isVisible()
            assert window.reminder_done.text() == "I looked in"
            window.grab().save(str(folder / "support-lookin-due.png"))
            QTest.mouseClick(window.reminder_done, Qt.MouseButton.LeftButton)
            await until(lambda: not window.reminder_panel.isVisible())

            def kinds() -> list[str]:
                return [e.kind for e in therapist.facts.timeline]

            await until(lambda: "vitals" in kinds() and "lookin" in kinds())
            # Within the limits: no alert for the therapist.
            await settle(0.3)
            assert not therapist.facts.open_alerts

            # The therapist's check-in round trip shows on the board.
            await therapist.request_checkin()
            await until(lambda: patient.pending_checkin is not None)
            await patient.check_in()
            await until(lambda: "just now" in window.checkin.text())
            window.grab().save(str(folder / "support-board.png"))

            # Instructions and the card, one click away; the card full screen and as PDF.
            QTest.mouseClick(window.instructions_button, Qt.MouseButton.LeftButton)
            await settle(0.2)
            assert window.dialogs and "Dr Rivera" in window.instructions_html()
            window.dialogs[-1].grab().save(str(folder / "support-instructions.png"))
            window.dialogs[-1].close()
            QTest.mouseClick(window.card_button, Qt.MouseButton.LeftButton)
            await settle(0.3)
            card_dialog = window.dialogs[-1]
            assert card_dialog.isFullScreen()
            card_dialog.grab().save(str(folder / "support-card-fullscreen.png"))
            card_dialog.close()
            pdf = window.print_card(folder / "emergency-card.pdf")
            assert pdf.read_bytes().startswith(b"%PDF")
            assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is needed"
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "60",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    str(pdf),
                    str(folder / "emergency-card"),
                ],
                check=True,
            )
            assert list(folder.glob("emergency-card*.png"))

            # A lost link is amber news; "go to the patient" is the red call. The link's
            # state changes first, then the ladder speaks (as the monitor does it).
            assert window.core is not None
            window.core.facts.link = "lost"
            window.core.link_changed.emit("lost")
            window.core.alert_shown.emit(
                _alert("link_lost", urgent=False)  # the ladder's own Alert type
            )
            assert window.call_panel.isVisible() and "reconnecting" in window.call_text.text()
            assert window.state.text() == link_words("support", "lost")
            assert (
                window.state.palette().color(QPalette.ColorRole.WindowText).name()
                != (CLEAR_LIGHT["danger"])
            )
            window.grab().save(str(folder / "support-link-lost.png"))
            window.core.alert_cleared.emit("t-lost", "resolved")
            window.core.facts.link = "connected"
            window.core.link_changed.emit("connected")
            assert not window.call_panel.isVisible()
            assert window.state.text() == "Connected"
            window.save_screenshots(folder)

            # Once the session has ended, the patient's call closing does not replace
            # "The session has ended" with news about the link.
            window.core.facts.ended = True
            window.core.session_ended.emit()
            window.core.facts.link = "lost"
            window.core.link_changed.emit("lost")
            assert window.state.text() == "The session has ended"
        finally:
            await patient.close()
            if window.core is not None:
                await window.core.close()
            await therapist.close()
            window.close()

    run_ui(test, timeout_s=60)


def _alert(reason: str, urgent: bool) -> Alert:
    return Alert("t-lost", reason, time.monotonic(), frozenset({"support"}), urgent, None)  # type: ignore[arg-type]


def test_the_therapists_message_is_readable_whatever_the_apps_theme(qapp: QApplication) -> None:
    # The demo runs the three apps in one process, and the patient's theme is dark.
    saved_palette, saved_sheet = qapp.palette(), qapp.styleSheet()
    apply_theme(qapp, CALM_DARK)
    window = SupportWindow(lambda: None)  # type: ignore[arg-type, return-value]
    try:
        window.show()
        note = window.from_therapist
        note.show()
        note.ensurePolished()
        text = note.palette().color(QPalette.ColorRole.WindowText)
        assert contrast(text, CLEAR_LIGHT["panel"]) >= 4.5, text.name()
    finally:
        window.close()
        window.deleteLater()
        qapp.setPalette(saved_palette)
        qapp.setStyleSheet(saved_sheet)


def test_closing_the_board_mid_session_asks_and_the_therapist_sees_no_support_until_back(
    run_ui: RunUi,
) -> None:
    """Issue 16, items 4 and 5: the board asks before closing; the therapist is shown "No
    support person is connected" from the session's start (issue 21) and whenever they
    leave, until they return; returning (or joining late) brings the card and the plan
    the others sent before."""
    from companion.ui.therapist.live import LiveSession

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        live = LiveSession(therapist, clinic.folder / "therapist", "Tuesday")
        live.resize(1200, 760)
        live.show()
        patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient"))
        boards: list[SupportWindow] = []
        try:
            await patient.connect()
            await patient.join(invites["patient"].code)
            await patient.start()
            card = EmergencyCard(kind="card", address="1 Quiet Lane", emergency_number="112")
            await patient.share_card(card)
            await therapist.set_plan(SessionPlan(kind="plan", emergency_number="112"))
            # No support person yet: shown from the session's start (issue 21), saying
            # that this server (no --notify-config) cannot text them either.
            await until(lambda: not live.no_support.isHidden(), 10, "the console shows it")
            assert "No support person has joined this session yet" in live.no_support.text()
            assert "sends no texts or e-mails" in live.no_support.text()
            assert live.needs_attention
            assert live.reach.property("armed") is False
            assert "not set up" in live.reach.text()
            live.grab().save(str(shots("therapist") / "therapist-no-support-yet.png"))

            # They join late: the card and the plan are there.
            support = await board_joined(clinic, invites["support"].code, boards)
            await until(lambda: support.core is not None and support.core.facts.card == card)
            await until(lambda: live.no_support.isHidden(), 10, "the banner goes as they join")
            card_view = support.show_card()  # "Emergency card", as they press it
            assert "1 Quiet Lane" in card_view.findChild(QTextBrowser).toPlainText()
            card_view.close()
            await until(lambda: "112" in support.emergency_line.text())

            # Closing mid-session asks, inside the window; "Stay" keeps the board.
            support.close()
            await settle(0.2)
            assert QApplication.activeModalWidget() is None
            question = support.close_question
            assert question.isVisible() and question.stay.hasFocus()
            QTest.mouseClick(question.stay, Qt.MouseButton.LeftButton)
            assert support.isVisible()
            support.close()
            await settle(0.2)
            QTest.mouseClick(question.act, Qt.MouseButton.LeftButton)
            await until(lambda: not support.isVisible())
            assert support.core is not None
            await support.core.close()

            # The therapist sees it, and keeps seeing it.
            await until(lambda: not live.no_support.isHidden(), 15)
            assert "No support person is connected" in live.no_support.text()
            assert live.needs_attention
            live.grab().save(str(shots("therapist") / "therapist-no-support.png"))

            # Back again: the alert goes, and the card is there once more.
            again = await board_joined(clinic, invites["support"].code, boards)
            await until(lambda: live.no_support.isHidden(), 15)
            await until(lambda: again.core is not None and again.core.facts.card == card)
        finally:
            await close_all(*boards)
            await patient.close()
            live.detach()
            await therapist.close()
            live.close()

    run_ui(test, timeout_s=90)


def test_a_support_person_joining_after_the_call_is_up_reads_connected(run_ui: RunUi) -> None:
    """Issue 16, item 5 (whoever joins late has the current state): the board of a support
    person who joins while the call is up says so (a guard: the demo's board once read
    "Waiting for the session" during a call, not reproduced here)."""

    async def test(clinic: UiClinic) -> None:
        therapist, invites = await clinic.therapist_session()
        patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient"))
        await patient.connect()
        await patient.join(invites["patient"].code)
        await patient.start()
        support = SupportWindow(clinic.maker("support"))
        support.show()
        try:
            await until(lambda: patient.facts.link == "connected", 30)
            await settle(1.0)  # the patient's "connected" is out, before anyone else came
            assert await support.join(invites["support"].code)
            await until(lambda: support.state.text() == link_words("support", "connected"), 15)
        finally:
            await close_all(support, cores=[patient, therapist])

    run_ui(test)


def test_a_language_chosen_on_the_board_is_told_to_the_server(
    run_ui: RunUi, tmp_path: Path
) -> None:
    """The support person picks Spanish at the foot of their board, mid-session: kept for
    the next opening, and the server hears it at once (``set_language``), for the outer
    ladder's messages to their phone."""
    from companion import i18n
    from companion.server.store import MemberRecord
    from companion.ui.language import LanguagePicker
    from companion.ui.support import support_window

    async def test(clinic: UiClinic) -> None:
        said: list[tuple[str, str]] = []

        async def language_said(member: MemberRecord, lang: str) -> None:
            said.append((member.role, lang))

        clinic.server.service.options.language_said = language_said
        therapist, invites = await clinic.therapist_session()
        window = support_window(clinic.maker("support"), tmp_path / "support")
        window.show()
        try:
            assert await window.join(invites["support"].link)
            assert said == [("support", "en")]  # the join carries the app's language
            picker = window.board.findChild(LanguagePicker)
            assert picker is not None
            picker.combo.setCurrentIndex(picker.combo.findData("es"))
            await until(lambda: said[-1:] == [("support", "es")])
            assert i18n.language() == "en"  # the window itself changes at the next opening
        finally:
            await close_all(window, cores=[therapist])

    run_ui(test)
