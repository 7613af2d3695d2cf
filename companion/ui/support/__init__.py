"""The support person's view: a status board readable from across the room, the call to
go to the patient, the therapist's instructions, the emergency card, paced checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from companion.app import CoreOptions, Reminder, RoleCore, link_details
from companion.app.words import link_words
from companion.monitor.ladder import Alert
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import EmergencyCard
from companion.ui.common import (
    CLEAR_LIGHT,
    apply_theme,
    format_ago,
    format_elapsed,
    spawn,
    theme_window,
)
from companion.ui.patient.window import wait_closed

__all__ = ["SupportWindow", "card_html", "run_support"]


def _label(text: str, scale: float, bold: bool = False) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    label.setFont(font)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def _button(text: str, height: int = 56) -> QPushButton:
    button = QPushButton(text)
    button.setMinimumHeight(height)
    button.setAccessibleName(text)
    return button


def _panel_style(urgent: bool) -> str:
    back, ink = ("#fbe9e7", CLEAR_LIGHT["danger"]) if urgent else ("#fdf3e1", CLEAR_LIGHT["warm"])
    return (
        f"#call {{ background: {back}; border-radius: 12px; }}"
        f" #call QLabel {{ color: {ink}; }}"
        f" #call QPushButton {{ background: {ink}; color: white; border-radius: 10px;"
        " padding: 12px; } #call QPushButton:focus { border: 4px solid #1b2430; }"
    )


def card_html(card: EmergencyCard | None, emergency_number: str = "") -> str:
    """The emergency card as large, printable HTML (personal: shown, never logged)."""
    import html

    if card is None:
        return "<p>The patient has not filled in the emergency card yet.</p>"
    rows = [
        ("Emergency number", card.emergency_number or emergency_number),
        ("Patient", card.patient_name),
        ("Address", card.address),
        ("Taken (what, how much)", card.taken),
        ("Current medications", card.medications),
        ("Therapist", card.therapist_contact),
        ("Prescriber", card.prescriber_contact),
        ("Support person", f"{card.support_name} {card.support_phone}".strip()),
    ]
    body = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v) or '—'}</td></tr>"
        for k, v in rows
    )
    return (
        "<h1>Emergency card</h1><p>At-home ketamine-assisted therapy session.</p>"
        f"<table cellpadding='6' style='font-size:16pt'>{body}</table>"
    )


class SupportWindow(QMainWindow):
    def __init__(self, make_core: Callable[[], RoleCore]) -> None:
        super().__init__()
        self.make_core = make_core
        self.core: RoleCore | None = None
        self._alert_ids: set[str] = set()
        self._reminder: Reminder | None = None
        self.setWindowTitle("Companion — support person")
        theme_window(self, CLEAR_LIGHT, scale=1.2)
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)

        join = QWidget()
        jl = QVBoxLayout(join)
        jl.setContentsMargins(60, 50, 60, 50)
        jl.addWidget(_label("Companion — for the support person", 1.6, True))
        jl.addWidget(QLabel("Paste the link or type the code the therapist sent you."))
        self.code = QLineEdit()
        self.code.setAccessibleName("Invitation code or link")
        self.code.setPlaceholderText("Code or link")
        self.server = QLineEdit()
        self.server.setAccessibleName("Clinic server")
        self.server.setPlaceholderText("Clinic server (only needed with a code)")
        jl.addWidget(self.code)
        jl.addWidget(self.server)
        self.join_button = _button("Join")
        self.join_button.clicked.connect(lambda: spawn(self.join(self.code.text())))
        jl.addWidget(self.join_button)
        self.join_message = QLabel("")
        self.join_message.setWordWrap(True)
        jl.addWidget(self.join_message)
        jl.addStretch(1)
        self.stack.addWidget(join)

        board = QWidget()
        bl = QVBoxLayout(board)
        bl.setContentsMargins(40, 30, 40, 30)
        bl.setSpacing(16)
        self.state = _label("Waiting for the session", 3.0, True)
        self.state.setAccessibleName("Connection")
        self.checkin = _label("Last check-in: not yet", 2.0)
        self.checkin.setAccessibleName("Last check-in")
        self.elapsed = _label("Session time 0:00:00", 1.5)
        for widget in (self.state, self.checkin, self.elapsed):
            bl.addWidget(widget)
        self.call_panel = QWidget()
        cl = QVBoxLayout(self.call_panel)
        self.call_text = _label("Please go to the patient now", 2.4, True)
        cl.addWidget(self.call_text)
        self.with_patient_button = _button("I'm with the patient", 90)
        font = self.with_patient_button.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.with_patient_button.setFont(font)
        self.with_patient_button.clicked.connect(lambda: spawn(self._with_patient()))
        cl.addWidget(self.with_patient_button)
        self.call_panel.setObjectName("call")
        self.call_panel.setStyleSheet(_panel_style(urgent=True))
        self.call_panel.hide()
        bl.addWidget(self.call_panel)
        self.reminder_panel = QWidget()
        rl = QVBoxLayout(self.reminder_panel)
        self.reminder_text = _label("", 1.6)
        rl.addWidget(self.reminder_text)
        vitals = QHBoxLayout()
        self.systolic, self.diastolic, self.heart_rate = QSpinBox(), QSpinBox(), QSpinBox()
        for box, name, low, high, value in (
            (self.systolic, "Systolic (upper) mmHg", 40, 300, 120),
            (self.diastolic, "Diastolic (lower) mmHg", 20, 200, 80),
            (self.heart_rate, "Heart rate, beats per minute", 20, 250, 70),
        ):
            box.setRange(low, high)
            box.setValue(value)
            box.setAccessibleName(name)
            box.setMinimumHeight(44)
            vitals.addWidget(QLabel(name))
            vitals.addWidget(box)
        self.vitals_row = QWidget()
        self.vitals_row.setLayout(vitals)
        rl.addWidget(self.vitals_row)
        self.reminder_done = _button("Done")
        self.reminder_done.clicked.connect(lambda: spawn(self._reminder_answered()))
        rl.addWidget(self.reminder_done)
        self.reminder_panel.setObjectName("reminder")
        self.reminder_panel.setStyleSheet("#reminder { background: #eef6f3; border-radius: 12px; }")
        self.reminder_panel.hide()
        bl.addWidget(self.reminder_panel)
        self.message = _label("", 1.3)
        bl.addWidget(self.message)
        bl.addStretch(1)
        row = QHBoxLayout()
        self.instructions_button = _button("What to do / whom to call")
        self.card_button = _button("Emergency card")
        self.record_vitals_button = _button("Record vitals")
        for b in (self.instructions_button, self.card_button, self.record_vitals_button):
            row.addWidget(b)
        self.instructions_button.clicked.connect(self.show_instructions)
        self.card_button.clicked.connect(self.show_card)
        self.record_vitals_button.clicked.connect(
            lambda: self._show_reminder(Reminder("manual", "vitals", time.time()))
        )
        bl.addLayout(row)
        self.board = board
        self.stack.addWidget(board)
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)

    async def join(self, code: str) -> bool:
        server = link_details(code)[0] or self.server.text().strip()
        try:
            if self.core is None:
                core = self.make_core()
                if server and server not in core.server_urls:
                    core = RoleCore("support", server, core.options)
                self.core = core
            core = self.core
            if core.signaling.state != "online":
                await core.connect()
            await core.join(code)
            await core.start()
        except ProtocolError as exc:
            self.join_message.setText(
                f"{exc.message} Check it, or ask the therapist for a new one."
            )
            return False
        except (OSError, ConnectionError, TimeoutError):
            self.join_message.setText("The clinic's server could not be reached. Try again soon.")
            if self.core is not None:
                await self.core.close()
            self.core = None
            return False
        self._observe(core)
        self.stack.setCurrentWidget(self.board)
        self._ticker.start()
        self._tick()
        return True

    def _observe(self, core: RoleCore) -> None:
        self.state.setText(link_words("support", core.facts.link or core.facts.home_link))
        core.link_changed.connect(self.state.setText)
        core.checked_in.connect(lambda _at: self._tick())
        core.alert_shown.connect(self._alert)
        core.alert_cleared.connect(self._cleared)
        core.reminder_due.connect(self._show_reminder)
        core.message_received.connect(
            lambda text: self.message.setText(f"From the therapist: {text}")
        )
        core.with_patient.connect(
            lambda: self.message.setText("The support person is with the patient.")
        )

    def _tick(self) -> None:
        core = self.core
        if core is None:
            return
        facts = core.facts
        ago = None if facts.last_checkin_at is None else time.time() - facts.last_checkin_at
        self.checkin.setText(f"Last check-in: {format_ago(ago)}")
        self.elapsed.setText(f"Session time {format_elapsed(time.time() - facts.started_at)}")

    def _alert(self, alert: Alert) -> None:
        self._alert_ids.add(alert.alert_id)
        words = {
            "go_to_patient": "Please go to the patient now",
            "help": "The patient is asking for help — please go to them now",
            "link_lost": "The therapist's connection dropped. They are reconnecting.",
            "checkin_unanswered": "The patient has not answered a check-in — please look in",
        }
        self.call_text.setText(words.get(alert.reason, "Please go to the patient"))
        # A lost link is news, not yet a call: amber until the ladder says "go now".
        urgent = alert.urgent or alert.reason in ("help", "go_to_patient")
        self.call_panel.setStyleSheet(_panel_style(urgent))
        self.call_panel.show()
        self.with_patient_button.setFocus()

    def _cleared(self, alert_id: str, _how: str) -> None:
        self._alert_ids.discard(alert_id)
        if not self._alert_ids:
            self.call_panel.hide()

    async def _with_patient(self) -> None:
        if self.core is not None:
            await self.core.im_with_patient()
        self.call_panel.hide()
        self.message.setText("Thank you. The therapist can see you're with the patient.")

    def _show_reminder(self, reminder: Reminder) -> None:
        self._reminder = reminder
        if reminder.kind == "vitals":
            self.reminder_text.setText("Time to take blood pressure and heart rate.")
            self.vitals_row.show()
            self.reminder_done.setText("Save vitals")
        else:
            self.reminder_text.setText("Please look in on the patient.")
            self.vitals_row.hide()
            self.reminder_done.setText("I looked in")
        self.reminder_done.setAccessibleName(self.reminder_done.text())
        self.reminder_panel.show()

    async def _reminder_answered(self) -> None:
        core, reminder = self.core, self._reminder
        self.reminder_panel.hide()
        if core is None or reminder is None:
            return
        if reminder.kind == "vitals":
            await core.record_vitals(
                self.systolic.value(), self.diastolic.value(), self.heart_rate.value()
            )
            self.message.setText("Vitals saved and sent to the therapist.")
        else:
            await core.looked_in()
            self.message.setText("Thank you for looking in.")

    def _dialog(self, title: str, html: str) -> QDialog:
        dialog = QDialog(self)
        dialog.setWindowTitle(title)
        layout = QVBoxLayout(dialog)
        view = QTextBrowser()
        view.setHtml(html)
        view.setAccessibleName(title)
        layout.addWidget(view)
        buttons = QHBoxLayout()
        if title == "Emergency card":
            printing = _button("Save as PDF for printing", 44)
            printing.clicked.connect(lambda: self.print_card(Path.home() / "emergency-card.pdf"))
            buttons.addWidget(printing)
        close = _button("Close", 44)
        close.clicked.connect(dialog.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        dialog.resize(900, 640)
        return dialog

    def show_instructions(self) -> QDialog:
        plan = self.core.facts.plan if self.core else None
        import html

        text = html.escape(plan.instructions) if plan and plan.instructions else "None yet."
        number = html.escape(plan.emergency_number) if plan and plan.emergency_number else "—"
        dialog = self._dialog(
            "What to do",
            f"<h2>From the therapist</h2><p style='font-size:15pt'>{text}</p>"
            f"<h2>Emergency number</h2><p style='font-size:22pt'><b>{number}</b></p>",
        )
        dialog.show()
        return dialog

    def show_card(self) -> QDialog:
        core = self.core
        number = core.facts.plan.emergency_number if core else ""
        dialog = self._dialog(
            "Emergency card", card_html(core.facts.card if core else None, number)
        )
        dialog.showMaximized()
        return dialog

    def print_card(self, path: Path) -> Path:
        core = self.core
        document = QTextDocument()
        document.setHtml(card_html(core.facts.card if core else None))
        writer = QPdfWriter(str(path))
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        document.print_(writer)
        return path

    def save_screenshots(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "support-board.png"
        self.grab().save(str(path))
        return [path]


async def run_support(app: QApplication, server: str, join: str | None, data_dir: Path) -> int:
    apply_theme(app, CLEAR_LIGHT)
    options = CoreOptions(data_dir=data_dir)
    window = SupportWindow(lambda: RoleCore("support", server, options))
    window.server.setText(server)
    window.resize(1100, 800)
    window.show()
    if join:
        window.code.setText(join)
        await window.join(join)
    await wait_closed(window)
    if window.core is not None:
        await window.core.close()
    return 0
