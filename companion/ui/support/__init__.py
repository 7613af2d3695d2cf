"""The support person's view: a status board readable from across the room, the call to
go to the patient, the therapist's instructions, the emergency card, paced checks.

Works on its own laptop or as a second window on the patient's machine: it is a member
of the session with its own invite either way. Personal words (the card, instructions,
messages) are shown, never logged.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
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

from companion.app import (
    CLEAR_LIGHT,
    Alert,
    CoreOptions,
    Reminder,
    RoleCore,
    TimelineEntry,
    saved_place,
)
from companion.app.clinic import clinic_server
from companion.app.joining import (
    JOIN_WITHIN_S,
    RELAUNCH_WITHIN_S,
    JoinRefused,
    close_quietly,
    join_fresh,
)
from companion.app.notices import DesktopNotices
from companion.app.words import alert_words, link_words
from companion.i18n import _
from companion.protocol.messages import EmergencyCard
from companion.ui.common import (
    apply_theme,
    card_style,
    close_core,
    format_ago,
    format_elapsed,
    press_with_enter,
    ready_to_retype,
    spawn,
    theme_window,
)
from companion.ui.contacts import ContactsForm
from companion.ui.language import LanguagePicker, Rebuildable, start_language
from companion.ui.notices import notify_if_hidden
from companion.ui.therapist.live import write_pdf
from companion.ui.widgets import InlineQuestion

__all__ = ["SupportWindow", "card_html", "run_support"]

_log = logging.getLogger(__name__)

AMBER = CLEAR_LIGHT["warm"]
GREEN = CLEAR_LIGHT["ok"]
GREY = CLEAR_LIGHT["muted"]
_STATE_COLOR = {
    "connected": GREEN,
    "degraded": AMBER,
    "interrupted": AMBER,
    "recovering": AMBER,
    "lost": AMBER,  # amber news: red is kept for "please go to the patient now"
}
REMIND_AGAIN_S = 5 * 60
BOARD_STATUS_SHARE = 0.075
"""The main status's type height, as a share of the window's: at least 40 px on a
1366×768 screen with the board maximised, larger on a larger screen."""
MIN_BOARD_PX = 14


def _label(text: str, scale: float, bold: bool = False) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    label.setFont(font)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def _button(text: str, height: int = 56, scale: float = 1.0) -> QPushButton:
    button = QPushButton(text)
    button.setMinimumHeight(height)
    button.setAccessibleName(text)
    if scale != 1.0:
        font = QFont(button.font())
        font.setPointSizeF(font.pointSizeF() * scale)
        button.setFont(font)
    return button


def _panel_style(name: str, back: str, ink: str, solid_button: bool = True) -> str:
    button = (
        f"background: {ink}; color: white; border: none;"
        if solid_button
        else f"background: white; color: {ink}; border: 2px solid {ink};"
    )
    return (
        f"#{name} {{ background: {back}; border: 2px solid {ink}; border-radius: 12px; }}"
        f" #{name} QLabel {{ color: {ink}; background: transparent; }}"
        f" #{name} QPushButton {{ {button} border-radius: 10px; padding: 10px 18px;"
        " font-weight: bold; }"
        f" #{name} QPushButton:focus {{ border: 4px solid {CLEAR_LIGHT['text']}; }}"
    )


def card_html(card: EmergencyCard | None, emergency_number: str = "") -> str:
    """The emergency card as large, printable HTML (personal: shown, never logged)."""
    e = html.escape
    heading = "<h1>" + e(_("Emergency card")) + "</h1>"
    if card is None:
        number = e(emergency_number or _("your local emergency number"))
        empty = e(_("The patient has not filled in the emergency card yet."))
        call = e(_("In an emergency call {number}.")).format(number=f"<b>{number}</b>")
        return (
            heading + f"<p style='font-size:16pt'>{empty}</p><p style='font-size:16pt'>{call}</p>"
        )
    number = card.emergency_number or emergency_number
    rows = [
        (_("Patient"), card.patient_name),
        (_("Address"), card.address),
        (_("Taken (what, how much, when)"), card.taken),
        (_("Current medications"), card.medications),
        (_("Therapist"), card.therapist_contact),
        (_("Prescriber"), card.prescriber_contact),
        (_("Support person"), f"{card.support_name} {card.support_phone}".strip()),
    ]
    body = "".join(
        f"<tr><th align='left' valign='top' style='padding-right:24px'>{html.escape(k)}</th>"
        f"<td>{html.escape(v).replace(chr(10), '<br>') or '—'}</td></tr>"
        for k, v in rows
    )
    about = e(_("At-home ketamine-assisted therapy session. For paramedics and anyone helping."))
    call = e(_("Emergency number: {number}")).format(number=f"<b>{e(number) or '—'}</b>")
    return (
        heading
        + f"<p style='font-size:14pt'>{about}</p><p style='font-size:24pt'>{call}</p>"
        + f"<table cellpadding='8' style='font-size:18pt'>{body}</table>"
    )


class SupportWindow(QMainWindow):
    def __init__(self, make_core: Callable[[], RoleCore]) -> None:
        super().__init__()
        self.make_core = make_core
        self.core: RoleCore | None = None
        self._alert_ids: set[str] = set()
        self._notices = DesktopNotices()
        self._reminder: Reminder | None = None
        self._queue: list[Reminder] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.dialogs: list[QDialog] = []
        self._close_confirmed = False
        self.setWindowTitle(_("Companion — support person"))
        theme_window(self, CLEAR_LIGHT, scale=1.2)
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.join_page = self._join_page()
        self.stack.addWidget(self.join_page)
        self.board = self._board()
        self.stack.addWidget(self.board)
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self._again = QTimer(self)
        self._again.setSingleShot(True)
        self._again.timeout.connect(self._remind_again)
        press_with_enter(self)

    # -- building ----------------------------------------------------------------------

    def _join_page(self) -> QWidget:
        join = QWidget()
        jl = QVBoxLayout(join)
        jl.setContentsMargins(80, 60, 80, 60)
        jl.setSpacing(14)
        jl.addWidget(_label(_("Companion — for the support person"), 1.8, True))
        intro = _label(
            _(
                "You keep an eye on things during the session, from the next room. "
                "Paste the link the therapist sent you, or type the code."
            ),
            1.1,
        )
        jl.addWidget(intro)
        self.code = QLineEdit()
        self.code.setAccessibleName(_("Invitation code or link"))
        self.code.setPlaceholderText(_("Code (like ABCD-EFGH) or link"))
        self.code.setMinimumHeight(48)
        self.code.returnPressed.connect(lambda: spawn(self.join(self.code.text())))
        self.server = QLineEdit()
        self.server.setAccessibleName(_("Clinic server"))
        self.server.setPlaceholderText(_("Clinic server (only needed with a code)"))
        jl.addWidget(self.code)
        jl.addWidget(self.server)
        self.join_button = _button(_("Join the session"))
        self.join_button.setStyleSheet(
            f"QPushButton {{ background: {CLEAR_LIGHT['accent']}; color: white; border: none;"
            " border-radius: 10px; font-weight: bold; }"
        )
        self.join_button.clicked.connect(lambda: spawn(self.join(self.code.text())))
        jl.addWidget(self.join_button)
        self.join_message = QLabel("")
        self.join_message.setWordWrap(True)
        self.join_message.setAccessibleDescription(_("Join message"))
        self.join_message.setStyleSheet(f"color: {CLEAR_LIGHT['danger']};")
        jl.addWidget(self.join_message)
        jl.addStretch(1)
        return join

    def _board(self) -> QWidget:
        board = QWidget()
        bl = QVBoxLayout(board)
        bl.setContentsMargins(40, 24, 40, 24)
        bl.setSpacing(14)
        self.close_question = InlineQuestion(_("Stay on the board"), _("Close the board"))
        self.close_question.setStyleSheet(
            _panel_style("question", CLEAR_LIGHT["warm_back"], AMBER, False)
        )
        self.close_question.answered.connect(self._close_answered)
        bl.addWidget(self.close_question)
        self.caption = _label(_("The video call with the therapist"), 1.2)
        self.caption.setStyleSheet(f"color: {GREY};")
        bl.addWidget(self.caption)
        self.state = _label(_("Waiting for the session"), 3.2, True)
        self.state.setAccessibleDescription(_("Connection"))
        self.checkin = _label(_("Last check-in: not yet"), 2.2, True)
        self.checkin.setAccessibleDescription(_("Last check-in"))
        self.elapsed = _label(_("Session time 0:00:00"), 1.5)
        self.elapsed.setAccessibleDescription(_("Session time"))
        for widget in (self.state, self.checkin, self.elapsed):
            bl.addWidget(widget)

        self.call_panel = QFrame()
        self.call_panel.setObjectName("call")
        cl = QVBoxLayout(self.call_panel)
        cl.setContentsMargins(24, 18, 24, 18)
        self.call_text = _label(alert_words("support", "go_to_patient"), 2.4, True)
        self.call_text.setAccessibleDescription(_("Call"))
        self.call_when = _label("", 1.1)
        cl.addWidget(self.call_text)
        cl.addWidget(self.call_when)
        self.with_patient_button = _button(_("I'm with the patient"), 96, 1.7)
        self.with_patient_button.clicked.connect(lambda: spawn(self._with_patient()))
        cl.addWidget(self.with_patient_button)
        self.call_panel.hide()
        bl.addWidget(self.call_panel)

        self.reminder_panel = QFrame()
        self.reminder_panel.setObjectName("reminder")
        self.reminder_panel.setStyleSheet(_panel_style("reminder", CLEAR_LIGHT["ok_back"], GREEN))
        rl = QVBoxLayout(self.reminder_panel)
        rl.setContentsMargins(24, 16, 24, 16)
        self.reminder_text = _label("", 1.8, True)
        self.reminder_text.setAccessibleDescription(_("Reminder"))
        rl.addWidget(self.reminder_text)
        self.vitals_row = QWidget()
        grid = QGridLayout(self.vitals_row)
        self.systolic, self.diastolic, self.heart_rate = QSpinBox(), QSpinBox(), QSpinBox()
        for column, (box, name, hint, low, high) in enumerate(
            (
                (self.systolic, _("Upper (systolic)"), "mmHg", 40, 300),
                (self.diastolic, _("Lower (diastolic)"), "mmHg", 20, 200),
                (self.heart_rate, _("Heart rate"), _("beats a minute"), 20, 250),
            )
        ):
            # One below the range means "not measured yet" and reads as a dash: nothing is
            # filled in before someone has measured it.
            box.setRange(low - 1, high)
            box.setSpecialValueText("—")
            box.setValue(low - 1)
            box.valueChanged.connect(self._vitals_entered)
            box.setAccessibleName(f"{name}, {hint}")
            box.setMinimumHeight(52)
            # The numbers are typed from the cuff's display; arrows would be 14 px targets.
            box.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
            font = QFont(box.font())
            font.setPointSizeF(font.pointSizeF() * 1.6)
            box.setFont(font)
            box.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(_label(f"{name}\n{hint}", 1.3), 0, column)
            grid.addWidget(box, 1, column)
        rl.addWidget(self.vitals_row)
        buttons = QHBoxLayout()
        self.reminder_done = _button(_("Done"), 64, 1.3)
        self.reminder_done.clicked.connect(lambda: spawn(self._reminder_answered()))
        self.reminder_later = _button(_("Remind me in 5 minutes"), 64)
        self.reminder_later.setStyleSheet(
            f"QPushButton {{ background: white; color: {GREEN}; border: 2px solid {GREEN}; }}"
        )
        self.reminder_later.clicked.connect(self._later)
        buttons.addWidget(self.reminder_done, 2)
        buttons.addWidget(self.reminder_later, 1)
        rl.addLayout(buttons)
        self.reminder_panel.hide()
        bl.addWidget(self.reminder_panel)

        self.message = _label("", 1.4)
        self.message.setAccessibleDescription(_("Messages"))
        bl.addWidget(self.message)
        self.from_therapist = _label("", 1.4)
        self.from_therapist.setAccessibleDescription(_("Message from the therapist"))
        self.from_therapist.setObjectName("note")
        self.from_therapist.setStyleSheet(card_style("note", CLEAR_LIGHT, radius=10, padding=12))
        self.from_therapist.hide()
        bl.addWidget(self.from_therapist)
        bl.addWidget(self._contacts_panel())
        bl.addStretch(1)
        row = QHBoxLayout()
        self.instructions_button = _button(_("What to do · whom to call"), 64, 1.45)
        self.card_button = _button(_("Emergency card"), 64, 1.45)
        self.record_vitals_button = _button(_("Record vitals"), 64, 1.45)
        for b in (self.instructions_button, self.card_button, self.record_vitals_button):
            row.addWidget(b)
        self.instructions_button.clicked.connect(self.show_instructions)
        self.card_button.clicked.connect(self.show_card)
        self.record_vitals_button.clicked.connect(
            lambda: self._present(Reminder("manual", "vitals", time.time()))
        )
        bl.addLayout(row)
        self.emergency_line = _label("", 1.5, True)
        self.emergency_line.setAccessibleDescription(_("Emergency number"))
        bl.addWidget(self.emergency_line)
        return board

    def _contacts_panel(self) -> QWidget:
        """Their own phone and e-mail, asked once as they join: optional, and why."""
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        self.contacts_panel = QFrame()
        self.contacts_panel.setObjectName("contacts")
        # Under a style sheet a field's placeholder is its text at half alpha, too faint:
        # the window's muted colour instead, as on every other field.
        self.contacts_panel.setStyleSheet(
            card_style("contacts", CLEAR_LIGHT, radius=10, padding=12)
            + f" #contacts QLineEdit {{ placeholder-text-color: {CLEAR_LIGHT['muted']}; }}"
        )
        inner = QVBoxLayout(self.contacts_panel)
        inner.setContentsMargins(20, 14, 20, 14)
        heading = QLabel(_("Can the clinic text you?"))
        heading.setWordWrap(True)
        inner.addWidget(heading)
        self.contacts_form = ContactsForm(
            _(
                "If the patient needs you and your app is closed, the clinic can text or "
                "e-mail you. It is up to you: you can leave this empty and press “Not now”."
            ),
            _(
                "I agree to be texted or e-mailed by the clinic if the patient needs me "
                "during this session"
            ),
            _("Save"),
            _("Not now"),
        )
        # The board's type is large; under the card's style sheet a font set on the form
        # does not reach its children, so each is given it.
        larger = QFont(self.font())
        larger.setPointSizeF(larger.pointSizeF() * 1.2)
        for child in (self.contacts_form, *self.contacts_form.findChildren(QWidget)):
            child.setFont(larger)
        larger.setPointSizeF(larger.pointSizeF() * 1.3)
        larger.setBold(True)
        heading.setFont(larger)
        self.contacts_form.saved.connect(lambda: self._contacts_done(self.contacts_form.given))
        self.contacts_form.skipped.connect(
            lambda: self._contacts_done(self.core is not None and self.core.reach.armed)
        )
        inner.addWidget(self.contacts_form)
        self.contacts_panel.hide()
        v.addWidget(self.contacts_panel)
        row = QHBoxLayout()
        self.contacts_note = QLabel("")
        self.contacts_note.setWordWrap(True)
        self.contacts_note.setAccessibleDescription(_("Texts and e-mails"))
        self.contacts_again = QPushButton(_("Phone or e-mail for emergencies…"))
        self.contacts_again.setAccessibleName(_("Phone or e-mail for emergencies"))
        self.contacts_again.clicked.connect(self._ask_contacts)
        self.contacts_again.hide()
        row.addWidget(self.contacts_note, 1)
        row.addWidget(self.contacts_again)
        v.addLayout(row)
        return box

    def _ask_contacts(self) -> None:
        self.contacts_again.hide()
        self.contacts_note.setText("")
        self.contacts_panel.show()
        self.contacts_form.phone.setFocus()

    def _contacts_known(self, entry: TimelineEntry) -> None:
        """Contacts given before (the board opened again) or by the therapist: the form
        left untouched folds away instead of asking again."""
        core = self.core
        if entry.kind != "contacts" or core is None or not core.reach.armed:
            return
        if self.contacts_panel.isVisible() and not self.contacts_form.given:
            self._contacts_done(True)

    def _contacts_done(self, held: bool) -> None:
        core = self.core
        self.contacts_panel.hide()
        self.contacts_note.setText(
            _("The clinic can text or e-mail you if the patient needs you and your app is closed.")
            if held
            else _("The clinic will not text or e-mail you.")
        )
        self.contacts_again.setVisible(core is not None and not core.facts.ended)

    # -- joining -----------------------------------------------------------------------

    async def join(self, code: str, within_s: float = JOIN_WITHIN_S) -> bool:
        """Join with a link or a code. Never hangs: within ``within_s`` the board shows,
        or a plain sentence says why not; each try starts from a fresh connection."""
        code = code.strip()
        if not code:
            self.join_message.setText(_("Paste the link or type the code first."))
            return False
        self.join_button.setEnabled(False)
        self.join_message.setText(_("Connecting…"))
        await self._drop_core()
        try:
            core = await join_fresh(self.make_core(), code, self.server.text(), within_s)
            self.core = core
            await core.start()
        except JoinRefused as exc:
            self.join_message.setText(exc.sentence)
            if exc.ask_server:
                self.server.show()
            ready_to_retype(self.server if exc.ask_server else self.code)
            return False
        except Exception as exc:
            _log.warning("the board could not start: %s", type(exc).__name__)
            self.join_message.setText(_("The board could not start just now. Please try again."))
            await self._drop_core()
            return False
        finally:
            self.join_button.setEnabled(True)
        self.join_message.setText("")
        self._observe(core)
        self.stack.setCurrentWidget(self.board)
        self._ticker.start()
        self._tick()
        return True

    async def _drop_core(self) -> None:
        core, self.core = self.core, None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await close_quietly(core)

    def _observe(self, core: RoleCore) -> None:
        self._link("")
        self._unsubscribe += [
            core.link_changed.connect(self._link),
            core.checked_in.connect(lambda _at: self._tick()),
            core.alert_shown.connect(self._alert),
            core.alert_cleared.connect(self._cleared),
            core.reminder_due.connect(self._show_reminder),
            core.plan_changed.connect(lambda _plan: self._plan()),
            core.message_received.connect(self._from_therapist),
            core.with_patient.connect(
                lambda: self.message.setText("The support person is with the patient.")
            ),
            core.session_ended.connect(self._ended),
        ]
        for alert in core.facts.open_alerts.values():
            self._alert(alert)
        self._plan()
        self.contacts_form.submit = core.set_contacts
        if core.reach.armed:  # heard already as the board started: not asked again
            self._contacts_done(True)
        elif core.reach.possible and not core.facts.ended:
            self._ask_contacts()
        self._unsubscribe.append(core.timeline_added.connect(self._contacts_known))

    def _from_therapist(self, text: str) -> None:
        self.from_therapist.setText(
            _("From the therapist, {time}:\n{text}").format(time=time.strftime("%H:%M"), text=text)
        )
        self.from_therapist.show()

    def _link(self, _words: str) -> None:
        core = self.core
        if core is None or core.facts.ended:  # "The session has ended" stays
            return
        state = core.facts.link
        words = link_words("support", state)
        color = _STATE_COLOR.get(state or "", GREY)
        self.state.setText(words)
        self.state.setStyleSheet(f"color: {color};")
        self.state.setProperty("state", state or "")

    def _plan(self) -> None:
        core = self.core
        if core is None:
            return
        number = core.facts.plan.emergency_number or (
            core.facts.card.emergency_number if core.facts.card else ""
        )
        self.emergency_line.setText(
            _("Emergency number: {number}").format(number=number) if number else ""
        )

    def _tick(self) -> None:
        core = self.core
        if core is None:
            return
        facts = core.facts
        ago = None if facts.last_checkin_at is None else time.time() - facts.last_checkin_at
        self.checkin.setText(_("Last check-in: {ago}").format(ago=format_ago(ago)))
        self.elapsed.setText(
            _("Session time {elapsed}").format(
                elapsed=format_elapsed(time.time() - facts.started_at)
            )
        )

    def _ended(self) -> None:
        self.state.setText(_("The session has ended"))
        self.state.setStyleSheet(f"color: {GREY};")
        self.call_panel.hide()
        self.reminder_panel.hide()
        self.contacts_panel.hide()
        self.contacts_again.hide()
        self._ticker.stop()

    # -- the call ----------------------------------------------------------------------

    def _alert(self, alert: Alert) -> None:
        self._alert_ids.add(alert.alert_id)
        # A new call makes an earlier "Thank you…" old news: it must not sit under it.
        self.message.setText("")
        self.call_text.setText(alert_words("support", alert.reason))
        notify_if_hidden(self, self._notices, self.call_text.text(), alert.urgent)
        # A lost link is news, not yet a call: amber until the ladder says "go now".
        urgent = alert.urgent or alert.reason in ("help", "go_to_patient", "checkin_unanswered")
        if urgent:
            self.call_panel.setStyleSheet(
                _panel_style("call", CLEAR_LIGHT["danger_back"], CLEAR_LIGHT["danger"])
            )
            self.with_patient_button.setText(_("I'm with the patient"))
        else:
            self.call_panel.setStyleSheet(
                _panel_style("call", CLEAR_LIGHT["warm_back"], AMBER, False)
            )
            self.with_patient_button.setText(_("I'm with the patient"))
        self.call_when.setText(
            _("Since {time}. ").format(time=time.strftime("%H:%M"))
            + (
                _("Press the button once you are with them.")
                if urgent
                else _("No need to go yet: you will be asked if you should.")
            )
        )
        self.with_patient_button.setAccessibleName(self.with_patient_button.text())
        self.call_panel.show()
        if urgent:
            self.reminder_panel.hide()
        self.with_patient_button.setFocus()
        self.raise_()
        self.activateWindow()

    def _cleared(self, alert_id: str, _how: str) -> None:
        self._alert_ids.discard(alert_id)
        if not self._alert_ids:
            self.call_panel.hide()
            if self._reminder is not None and not self._reminder.done:
                self.reminder_panel.show()

    async def _with_patient(self) -> None:
        if self.core is not None:
            await self.core.im_with_patient()
        self._alert_ids.clear()
        self.call_panel.hide()
        self.message.setText(_("Thank you. The therapist can see you're with the patient."))

    # -- paced checks ------------------------------------------------------------------

    def _show_reminder(self, reminder: Reminder) -> None:
        """One prompt at a time: a second one due meanwhile waits its turn."""
        current = self._reminder
        if (
            current is not None
            and not current.done
            and current.reminder_id != reminder.reminder_id
            and self.reminder_panel.isVisible()
        ):
            if all(r.kind != reminder.kind for r in self._queue) and reminder.kind != current.kind:
                self._queue.append(reminder)
            return
        self._present(reminder)

    def _present(self, reminder: Reminder) -> None:
        self._reminder = reminder
        self._again.stop()
        if reminder.kind == "vitals":
            self.reminder_text.setText(_("Time to take blood pressure and heart rate"))
            for box in self.vitals_boxes:
                box.setValue(box.minimum())
            self.vitals_row.show()
            self.reminder_done.setText(_("Save and send to the therapist"))
        else:
            self.reminder_text.setText(_("Time to look in on the patient"))
            self.vitals_row.hide()
            self.reminder_done.setText(_("I looked in"))
        self.reminder_later.setVisible(reminder.reminder_id != "manual")
        self._vitals_entered()
        self.reminder_done.setAccessibleName(self.reminder_done.text())
        self.reminder_panel.show()
        if not self._alert_ids:
            self.reminder_done.setFocus()

    @property
    def reminder(self) -> Reminder | None:
        """The paced check shown last (vitals or a look-in), done or not."""
        return self._reminder

    @property
    def vitals_boxes(self) -> tuple[QSpinBox, QSpinBox, QSpinBox]:
        return self.systolic, self.diastolic, self.heart_rate

    def _vitals_entered(self, _value: int = 0) -> None:
        """ "Save" only once all three were measured."""
        vitals = self._reminder is not None and self._reminder.kind == "vitals"
        self.reminder_done.setEnabled(
            not vitals or all(box.value() >= box.minimum() + 1 for box in self.vitals_boxes)
        )

    def _later(self) -> None:
        self.reminder_panel.hide()
        self._again.start(REMIND_AGAIN_S * 1000)

    def _remind_again(self) -> None:
        if self._reminder is not None and not self._reminder.done:
            self._present(self._reminder)

    async def _reminder_answered(self) -> None:
        core, reminder = self.core, self._reminder
        self.reminder_panel.hide()
        self._again.stop()
        if core is None or reminder is None:
            return
        reminder.done = True
        if reminder.kind == "vitals":
            await core.record_vitals(
                self.systolic.value(), self.diastolic.value(), self.heart_rate.value()
            )
            self.message.setText(
                _("Vitals sent to the therapist at {time}. Thank you.").format(
                    time=time.strftime("%H:%M")
                )
            )
        else:
            await core.looked_in()
            self.message.setText(
                _("Looked in at {time}. Thank you.").format(time=time.strftime("%H:%M"))
            )
        while self._queue:
            waiting = self._queue.pop(0)
            if not waiting.done:
                self._present(waiting)
                break

    # -- one click away ----------------------------------------------------------------

    def _dialog(self, title: str, html_text: str, printable: bool = False) -> QDialog:
        dialog = QDialog(self)
        dialog.setWindowTitle(title)
        layout = QVBoxLayout(dialog)
        view = QTextBrowser()
        view.setHtml(html_text)
        view.setAccessibleName(title)
        view.setOpenExternalLinks(False)
        layout.addWidget(view)
        buttons = QHBoxLayout()
        if printable:
            note = QLabel("")
            printing = _button(_("Save as PDF to print"), 56, 1.4)
            printing.clicked.connect(lambda: self._print_card_to_chosen_file(note))
            buttons.addWidget(printing)
            buttons.addWidget(note, 1)
        else:
            buttons.addStretch(1)
        close = _button(_("Close"), 56, 1.4)
        close.clicked.connect(dialog.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.dialogs.append(dialog)
        dialog.finished.connect(
            lambda _r: self.dialogs.remove(dialog) if dialog in self.dialogs else None
        )
        return dialog

    def instructions_html(self) -> str:
        plan = self.core.facts.plan if self.core else None
        text = (
            html.escape(plan.instructions).replace("\n", "<br>")
            if plan and plan.instructions
            else _(
                "The therapist has not left instructions yet. If you are worried, go to "
                "the patient, and call the emergency number if they need urgent help."
            )
        )
        number = html.escape(plan.emergency_number) if plan and plan.emergency_number else "—"
        e = html.escape
        where = _(
            "The emergency card (address, what was taken, contacts) is under “Emergency card”."
        )
        return (
            "<h2>" + e(_("From the therapist")) + "</h2>"
            f"<p style='font-size:18pt'>{text}</p>"
            "<h2>" + e(_("Emergency number")) + "</h2>"
            f"<p style='font-size:28pt'><b>{number}</b></p>"
            f"<p style='font-size:13pt; color:{GREY}'>" + e(where) + "</p>"
        )

    def show_instructions(self) -> QDialog:
        dialog = self._dialog(_("What to do"), self.instructions_html())
        dialog.resize(900, 600)
        dialog.show()
        return dialog

    def _card_parts(self) -> tuple[EmergencyCard | None, str]:
        core = self.core
        if core is None:
            return None, ""
        return core.facts.card, core.facts.plan.emergency_number

    def show_card(self) -> QDialog:
        card, number = self._card_parts()
        dialog = self._dialog(_("Emergency card"), card_html(card, number), printable=True)
        dialog.showFullScreen()
        return dialog

    def _print_card_to_chosen_file(self, note: QLabel) -> None:
        # open(), not getSaveFileName(): no nested event loop while the session runs.
        dialog = QFileDialog(self, _("Save the emergency card"), str(Path.home()), _("PDF (*.pdf)"))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile("emergency-card.pdf")
        dialog.fileSelected.connect(lambda path: self._card_saved(Path(path), note))
        dialog.open()

    def _card_saved(self, path: Path, note: QLabel) -> None:
        self.print_card(path)
        note.setText(_("Saved {name}: open it and print.").format(name=path.name))

    def print_card(self, path: Path) -> Path:
        card, number = self._card_parts()
        return write_pdf(card_html(card, number), path, _("Emergency card"))

    # -- screenshots -------------------------------------------------------------------

    def save_screenshots(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        name = (
            "support-board.png" if self.stack.currentWidget() is self.board else "support-join.png"
        )
        path = folder / name
        self.grab().save(str(path))
        saved = [path]
        for index, dialog in enumerate(list(self.dialogs)):
            if dialog.isVisible():
                extra = folder / f"support-dialog-{index}.png"
                dialog.grab().save(str(extra))
                saved.append(extra)
        return saved

    @property
    def in_session(self) -> bool:
        return self.core is not None and not self.core.facts.ended

    def _close_answered(self, close: bool) -> None:
        if close:
            self._close_confirmed = True
            self.close()
        else:
            self.with_patient_button.setFocus()

    # -- read across a room: text follows the window's size ----------------------------

    def _read_across_the_room(self) -> list[tuple[QLabel, float]]:
        """Each board label and its type height as a share of the window's height."""
        return [
            (self.state, BOARD_STATUS_SHARE),
            (self.checkin, 0.046),
            (self.elapsed, 0.032),
            (self.caption, 0.026),
            (self.call_text, 0.05),
            (self.call_when, 0.026),
            (self.reminder_text, 0.04),
            (self.message, 0.03),
            (self.from_therapist, 0.03),
            (self.emergency_line, 0.034),
        ]

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        height = max(1, self.height())
        for label, share in self._read_across_the_room():
            font = QFont(label.font())
            font.setPixelSize(max(MIN_BOARD_PX, round(height * share)))
            label.setFont(font)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Mid-session, closing asks first (inside the window, no dialog): the therapist
        # is told when no support person is connected.
        if self.in_session and not self._close_confirmed:
            event.ignore()
            self.stack.setCurrentWidget(self.board)
            self.close_question.ask(
                _(
                    "Close the board? The therapist will see that no support person is "
                    "connected until you open it again."
                )
            )
            self.raise_()
            self.activateWindow()
            return
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._ticker.stop()
        super().closeEvent(event)


def support_window(make_core: Callable[[], RoleCore], data_dir: Path | None) -> SupportWindow:
    """The support window with its language pickers: under the title of the join page
    (the window comes back in the new language at once), and at the foot of the board
    (after joining the choice is kept for the next opening, and told to the server at
    once: the outer ladder writes to the person's phone in it)."""
    window = SupportWindow(make_core)
    join_layout = window.join_page.layout()
    board_layout = window.board.layout()
    assert isinstance(join_layout, QVBoxLayout) and isinstance(board_layout, QVBoxLayout)
    join_layout.insertWidget(1, LanguagePicker(data_dir))
    later = LanguagePicker(data_dir, now=lambda: False)
    later.picked.connect(lambda lang: _tell_language(window, lang))
    board_layout.addWidget(later)
    return window


def _tell_language(window: SupportWindow, lang: str) -> None:
    if window.core is not None:
        spawn(window.core.tell_language(lang))


async def run_support(app: QApplication, server: str, join: str | None, data_dir: Path) -> int:
    start_language(data_dir)
    apply_theme(app, CLEAR_LIGHT)
    # After a restart: back to the board of the same session, asking nothing.
    place = None if join else saved_place(data_dir)
    server = server or (place.server if place else "") or clinic_server(data_dir) or ""
    options = CoreOptions(data_dir=data_dir)

    def build() -> SupportWindow:
        window = support_window(lambda: RoleCore("support", server, options), data_dir)
        window.server.setText(server)
        window.server.setVisible(not server)
        window.resize(1100, 740)
        return window

    windows = Rebuildable(build, lambda w: w.core is None)
    window = windows.show()
    code = join or (place.invite if place else None)
    if code:
        window.code.setText(code)
        await window.join(code, RELAUNCH_WITHIN_S if place else JOIN_WITHIN_S)
    window = await windows.closed()
    await close_core(window.core)
    return 0
