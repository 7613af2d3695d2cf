"""The four screens of the patient's window: join, prepare, the session, after.

Layout only; ``window.py`` wires them to the core. Type sizes are multiples of the
window's font (itself the system font × 1.4), set through the ``scale`` property, so they
follow the system size; nothing uses a fixed font size.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QDateTime, QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDateTimeEdit,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import CALM_DARK
from companion.app.prompts import PROMPTS
from companion.app.spoken import KEYS_WORDS
from companion.i18n import N_, _
from companion.protocol.messages import EmergencyCard
from companion.ui.common import VideoView, VoiceSettings
from companion.ui.widgets import HoldButton, InlineQuestion, PulseBanner

# Keys that move around the window or work a control, rather than mean "I'm OK".
NAVIGATION_KEYS = {
    Qt.Key.Key_Tab,
    Qt.Key.Key_Backtab,
    Qt.Key.Key_Shift,
    Qt.Key.Key_Control,
    Qt.Key.Key_Alt,
    Qt.Key.Key_Meta,
    Qt.Key.Key_AltGr,
    Qt.Key.Key_CapsLock,
    Qt.Key.Key_NumLock,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_Left,
    Qt.Key.Key_Right,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
    Qt.Key.Key_Home,
    Qt.Key.Key_End,
}
_ACTIVATE = (Qt.Key.Key_Return, Qt.Key.Key_Enter)

INTEGRATION_PROMPTS = (
    N_("What stayed with you from the session?"),
    N_("Was there an image, a feeling or a sentence you want to keep?"),
    N_("How does your body feel today? How did you sleep?"),
    N_("Is there something you would like to do differently in the coming days?"),
    N_("What would you like to bring to your integration session?"),
)


def form_layout() -> QFormLayout:
    """Labels left, fields right; long rows wrap instead of squeezing the field."""
    form = QFormLayout()
    form.setHorizontalSpacing(16)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return form


class BigButton(QPushButton):
    """A push button with a large target that Enter activates as well as Space."""

    def __init__(self, text: str, name: str | None = None, lines: float = 2.4) -> None:
        super().__init__(text)
        self.setAccessibleName(name or text)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setProperty("lines", lines)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in _ACTIVATE and not event.isAutoRepeat():
            self.animateClick()
            event.accept()
            return
        super().keyPressEvent(event)


def scaled(widget: QWidget, scale: float, bold: bool = False) -> QWidget:
    """Mark ``widget`` to be drawn at ``scale`` × the window's font (see
    ``PatientWindow.apply_fonts``)."""
    widget.setProperty("scale", scale)
    widget.setProperty("bold", bold)
    return widget


def title(text: str, scale: float = 1.6) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    scaled(label, scale, bold=True)
    return label


def note(text: str = "", color: str = "muted", name: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("tone", color)
    if name:
        # A label's accessible name is its text, which is what a screen reader reads as
        # it changes; a fixed name would hide it. What it is for goes in the description.
        label.setAccessibleDescription(name)
    return label


def field(placeholder: str, name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setAccessibleName(name)
    edit.setMinimumWidth(120)
    return edit


def check(text: str) -> QCheckBox:
    box = QCheckBox(text)
    box.setAccessibleName(text)
    return box


class PassphraseBox(QWidget):
    """Asked on the screen itself, before it is needed (never a dialog): on a computer
    with no keyring, the passphrase that keeps the patient's words encrypted."""

    def __init__(self, first: str) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.note = note(first, "warm", _("About the passphrase"))
        layout.addWidget(self.note)
        self.edit = field(_("at least 8 characters"), _("Passphrase for your private words"))
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        layout.addWidget(self.edit)
        self.hide()

    def ask(self, text: str) -> None:
        self.note.setText(text)
        self.show()
        self.edit.setFocus()


class JoinScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(80, 50, 80, 40)
        layout.setSpacing(18)
        layout.addWidget(title(_("Welcome to Companion"), 1.8))
        layout.addWidget(
            note(
                _(
                    "Open the link your therapist sent you, or type the short code they read to you."
                ),
                "text",
            )
        )
        self.reminder = note("", "warm", _("Integration reminder"))
        self.reminder.hide()
        layout.addWidget(self.reminder)
        layout.addWidget(QLabel(_("Your code or link")))
        self.code = field(
            _("for example 3ZEF-EWP6, or paste the whole link"), _("Invitation code or link")
        )
        scaled(self.code, 1.5)
        layout.addWidget(self.code)
        self.join = BigButton(_("Join my session"), lines=2.6)
        scaled(self.join, 1.3, bold=True)
        layout.addWidget(self.join)
        self.message = note("", "warm", _("Message"))
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.message.setFrameShape(QFrame.Shape.StyledPanel)
        self.message.setProperty("panel", True)
        self.message.hide()
        layout.addWidget(self.message)
        layout.addSpacing(20)
        # Only asked for when the app does not know its clinic's server (or it failed).
        self.server_box = QWidget()
        server_row = QFormLayout(self.server_box)
        server_row.setContentsMargins(0, 0, 0, 0)
        server_row.setHorizontalSpacing(16)
        self.server = field(_("for example wss://clinic.example/ws"), _("Clinic server address"))
        server_row.addRow(_("Clinic server address"), self.server)
        layout.addWidget(self.server_box)
        layout.addStretch(1)

    def say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def offer_language(self, picker: QWidget) -> None:
        """The language choice, just under the welcome."""
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(1, picker)

    def know_server(self, server: str) -> None:
        """The server is known: its row goes away (it comes back if joining fails)."""
        self.server.setText(server)
        self.server_box.setVisible(not server)


class PrepareScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 24, 40, 20)
        outer.addWidget(title(_("Before your session"), 1.7))
        outer.addWidget(
            note(
                _("Take your time. Nothing here is required, and you can start when you're ready.")
            )
        )
        scroll = self.scroll_area = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget()
        grid = QGridLayout(body)
        grid.setHorizontalSpacing(48)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

        left = QVBoxLayout()
        left.setSpacing(10)
        left.addWidget(title(_("Your checklist"), 1.25))
        self.checks = [
            check(text)
            for text in (
                _("Eye mask and headphones are nearby"),
                _("Water is within reach"),
                _("My phone is on silent"),
                _("My support person is at home"),
            )
        ]
        for box in self.checks:
            left.addWidget(box)
        # Asked only while the computer runs on battery: a laptop that dies at minute 80
        # ends the session as surely as a dropped network.
        self.power_note = note("", "warm", _("Power"))
        self.power_note.hide()
        left.addWidget(self.power_note)
        form = form_layout()
        self.support_name = field(_("Name"), _("Support person's name"))
        self.support_phone = field(_("Phone number"), _("Support person's phone"))
        self.emergency = field(_("for example 112 or 911"), _("Local emergency number"))
        form.addRow(_("Support person"), self.support_name)
        form.addRow(_("Their phone"), self.support_phone)
        form.addRow(_("Emergency number"), self.emergency)
        left.addLayout(form)
        left.addSpacing(8)
        left.addWidget(title(_("Your intention"), 1.25))
        self.intention = QPlainTextEdit()
        self.intention.setPlaceholderText(_("In your own words: what would you like to explore?"))
        self.intention.setAccessibleName(_("Your intention"))
        self.intention.setTabChangesFocus(True)
        self.intention.setMinimumHeight(110)
        left.addWidget(self.intention)
        self.share_intention = check(_("Share my intention with my therapist"))
        left.addWidget(self.share_intention)
        left.addWidget(note(_("Your intention is kept encrypted on this computer.")))
        self.passphrase = PassphraseBox("")
        left.addWidget(self.passphrase)
        self.skip_private = BigButton(_("Start without keeping my intention"), lines=2.0)
        self.skip_private.hide()
        left.addWidget(self.skip_private)
        left.addStretch(1)

        right = QVBoxLayout()
        right.setSpacing(10)
        right.addWidget(title(_("For paramedics, just in case"), 1.25))
        right.addWidget(note(_("Shared with your therapist and support person only.")))
        card = form_layout()
        self.address = field(_("Street, number, town"), _("Your address"))
        self.taken = field(_("e.g. ketamine 100 mg at 10:00"), _("What you will take and when"))
        self.medications = field(_("Other medicines you take"), _("Current medications"))
        self.therapist_contact = field(_("Name and phone"), _("Therapist's contact"))
        self.prescriber_contact = field(_("Name and phone"), _("Prescriber's contact"))
        card.addRow(_("Address"), self.address)
        card.addRow(_("Taken, and when"), self.taken)
        card.addRow(_("Medications"), self.medications)
        card.addRow(_("Therapist"), self.therapist_contact)
        card.addRow(_("Prescriber"), self.prescriber_contact)
        right.addLayout(card)
        right.addSpacing(8)
        right.addWidget(title(_("With your eyes closed"), 1.25))
        self.keys = note(
            "\n".join(_(words) for words in KEYS_WORDS), "text", _("Keys that need no eyes")
        )
        right.addWidget(self.keys)
        right.addWidget(note(_("You will hear these again when the session starts.")))
        right.addSpacing(8)
        right.addWidget(title(_("Check your devices"), 1.25))
        self.self_view = VideoView(_("Your camera appears here"))
        self.self_view.setAccessibleName(_("Your own camera picture"))
        self.self_view.setMinimumHeight(140)
        self.self_view.setMaximumHeight(200)
        right.addWidget(self.self_view)
        self.test_sound = BigButton(_("Play a soft test sound"))
        right.addWidget(self.test_sound)
        self.mic_label = QLabel(_("Your microphone (speak, and the bar moves)"))
        self.mic_label.setWordWrap(True)
        right.addWidget(self.mic_label)
        self.mic_level = QProgressBar()
        self.mic_level.setRange(0, 100)
        self.mic_level.setTextVisible(False)
        self.mic_level.setAccessibleName(_("Microphone level"))
        self.mic_level.setMinimumHeight(22)
        right.addWidget(self.mic_level)
        self.voice = VoiceSettings(
            _("Reduce background noise (fans, traffic)"),
            _("Raise my voice automatically when I speak softly"),
        )
        right.addWidget(self.voice)
        self.own_music = BigButton(
            _("Add my own music…"), _("Add my own music: a folder or playlist")
        )
        right.addWidget(self.own_music)
        self.device_note = note("", "text", _("Device check"))
        right.addWidget(self.device_note)
        right.addStretch(1)
        self._right = right

        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.begin = BigButton(_("I'm ready — start the session"), lines=2.6)
        scaled(self.begin, 1.25, bold=True)
        outer.addWidget(self.begin)

    def offer_language(self, picker: QWidget) -> None:
        """The language choice, under the device check (it shows from the next opening)."""
        self._right.insertWidget(self._right.count() - 1, picker)

    def no_microphone(self, text: str) -> None:
        self.mic_level.hide()
        self.voice.hide()
        self.mic_label.setText(text)

    def card(self) -> EmergencyCard:
        return EmergencyCard(
            kind="card",
            address=self.address.text()[:500],
            taken=self.taken.text()[:500],
            medications=self.medications.text()[:500],
            therapist_contact=self.therapist_contact.text()[:500],
            prescriber_contact=self.prescriber_contact.text()[:500],
            support_name=self.support_name.text()[:500],
            support_phone=self.support_phone.text()[:500],
            emergency_number=self.emergency.text()[:40],
        )


class SessionScreen(QWidget):
    """The screen of the session itself. Any key that does not move focus or work the
    focused control checks in."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 18, 28, 16)
        layout.setSpacing(12)
        self.link = title(_("Connecting to your therapist…"), 1.35)
        self.link.setAccessibleDescription(_("Connection"))
        layout.addWidget(self.link)
        self.line = note("", "warm", _("Calm note"))
        self.line.hide()
        layout.addWidget(self.line)
        self.request = PulseBanner(CALM_DARK["accent"])
        self.request.setAccessibleDescription(_("Check-in request"))
        self.request.setProperty("tone", "text")
        scaled(self.request, 1.15)
        self.request.hide()
        # "I'm OK" must not move under a hand reaching for it: the calm line keeps its
        # place when hidden, and the check-in banner lies over the top of the video
        # (placed in ``resizeEvent``), taking no room from anything.
        policy = self.line.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.line.setSizePolicy(policy)

        middle = QHBoxLayout()
        middle.setSpacing(20)
        self.video = VideoView(_("Your therapist's video will appear here"))
        self.video.setAccessibleName(_("Your therapist's video"))
        # The exercises open under the video, taking its room rather than the screen's:
        # the session screen fits 1366×768 with a breathing guide open.
        left = QVBoxLayout()
        left.setSpacing(10)
        left.addWidget(self.video, 1)
        middle.addLayout(left, 3)
        self.request.setParent(self.video)
        self.request.backing = CALM_DARK["window"]
        self.video.installEventFilter(self)
        side = QVBoxLayout()
        side.setSpacing(10)
        self.ok = BigButton(_("I'm OK"), _("I'm OK — check in"), lines=3.2)
        self.ok.setObjectName("ok")
        scaled(self.ok, 2.0, bold=True)
        side.addWidget(self.ok)
        self.hint = note(_("Any key on the keyboard also says you're OK."))
        side.addWidget(self.hint)
        self.confirm = note("", "accent", _("Check-in confirmation"))
        self.confirm.setMinimumHeight(self.confirm.fontMetrics().height() * 2)
        side.addWidget(self.confirm)
        self.help = HoldButton(_("I need help"), CALM_DARK["danger"])
        self.help.text_color = CALM_DARK["text"]
        self.help.setMinimumHeight(100)
        side.addWidget(self.help)
        self.grounding = BigButton(_("Grounding exercises"), _("Open grounding exercises"))
        self.grounding.setCheckable(True)
        side.addWidget(self.grounding)
        side.addStretch(1)
        middle.addLayout(side, 2)
        layout.addLayout(middle, 1)

        self.prompt_box = QFrame()
        self.prompt_box.setProperty("panel", True)
        self.prompt_box.setFrameShape(QFrame.Shape.StyledPanel)
        prompt_layout = QHBoxLayout(self.prompt_box)
        prompt_layout.setContentsMargins(18, 12, 18, 12)
        self.prompt_text = QLabel("")
        self.prompt_text.setWordWrap(True)
        self.prompt_text.setAccessibleDescription(_("Grounding prompt"))
        scaled(self.prompt_text, 1.2)
        prompt_layout.addWidget(self.prompt_text, 3)
        self.breathing_slot = QVBoxLayout()
        prompt_layout.addLayout(self.breathing_slot, 2)
        self.prompt_close = BigButton(_("Close"), _("Close the exercise"))
        prompt_layout.addWidget(self.prompt_close, 0, Qt.AlignmentFlag.AlignVCenter)
        self.prompt_box.hide()
        left.addWidget(self.prompt_box)
        self.prompt_list = QListWidget()
        self.prompt_list.setAccessibleName(_("Grounding exercises"))
        self.prompt_list.setFlow(QListWidget.Flow.LeftToRight)
        self.prompt_list.setWrapping(True)
        self.prompt_list.setSpacing(6)
        for p in PROMPTS:
            item = QListWidgetItem(p.title)
            item.setData(Qt.ItemDataRole.UserRole, p.prompt_id)
            item.setToolTip(p.lines[0])
            self.prompt_list.addItem(item)
        self.prompt_list.hide()
        left.addWidget(self.prompt_list)

        music = QHBoxLayout()
        music.setSpacing(12)
        self.music_title = QLabel(_("Music"))
        self.music_title.setAccessibleDescription(_("Now playing"))
        self.music_title.setWordWrap(True)
        self.music_title.setMinimumWidth(160)
        music.addWidget(self.music_title, 3)
        self.play = BigButton(_("Pause"), _("Play or pause the music"))
        self.next = BigButton(_("Next"), _("Next piece of music"))
        music.addWidget(self.play, 1)
        music.addWidget(self.next, 1)
        volume_box = QVBoxLayout()
        volume_box.setSpacing(2)
        self.volume_label = QLabel(_("Volume"))
        volume_box.addWidget(self.volume_label)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(-40, 0)
        self.volume.setPageStep(3)
        self.volume.setMinimumHeight(40)
        self.volume.setMinimumWidth(180)
        self.volume.setAccessibleName(_("Music volume in decibels"))
        self.volume.valueChanged.connect(self._volume_words)
        volume_box.addWidget(self.volume)
        music.addLayout(volume_box, 3)
        self.mute = BigButton(_("Mute music"), _("Mute the music"))
        self.mute.setCheckable(True)
        music.addWidget(self.mute, 1)
        layout.addLayout(music)

        own = QHBoxLayout()
        own.setSpacing(12)
        self.mic = BigButton(_("Mute my microphone"), lines=2.0)
        self.mic.setCheckable(True)
        self.camera = BigButton(_("Turn my camera off"), lines=2.0)
        self.camera.setCheckable(True)
        self.calm = BigButton(_("Reduce motion"), _("Reduce motion: no moving pictures"), lines=2.0)
        self.calm.setCheckable(True)
        self.end = BigButton(_("End the session"), lines=2.0)
        for widget in (self.mic, self.camera, self.calm, self.end):
            own.addWidget(widget)
        # A question ("End the session?", "Close Companion?") takes the bottom row's place
        # inside the window: no dialog, and nothing above it moves.
        self.bottom = QStackedWidget()
        row = QWidget()
        row.setLayout(own)
        self.bottom.addWidget(row)
        self.end_question = InlineQuestion(_("Keep the session going"), _("End the session"))
        self.close_question = InlineQuestion(_("Stay in the session"), _("Close Companion"))
        for question in (self.end_question, self.close_question):
            self.bottom.addWidget(question)
            question.answered.connect(lambda _act: self.bottom.setCurrentIndex(0))
        layout.addWidget(self.bottom)
        self.key_check_in: Callable[[], None] = lambda: None
        self._volume_words(self.volume.value())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.video and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.place_request()
        return False

    def place_request(self) -> None:
        """The check-in banner across the top of the video, as tall as its words."""
        width = max(100, self.video.width() - 24)
        self.request.setGeometry(12, 12, width, self.request.heightForWidth(width))
        self.request.raise_()

    def ask(self, question: InlineQuestion, text: str) -> None:
        self.bottom.setCurrentWidget(question)
        question.ask(text)

    def _volume_words(self, db: int) -> None:
        self.volume_label.setText(
            _("Volume  {db} dB").format(db=db) if db < 0 else _("Volume  full")
        )
        self.volume.setAccessibleDescription(_("{db} decibels").format(db=db))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in NAVIGATION_KEYS or event.isAutoRepeat():
            super().keyPressEvent(event)
            return
        self.key_check_in()
        event.accept()


class AfterScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(60, 36, 60, 28)
        layout.setSpacing(12)
        layout.addWidget(title(_("Thank you. Rest now."), 1.8))
        self.why = note("", "text", _("How the session ended"))
        self.why.hide()
        layout.addWidget(self.why)
        layout.addWidget(
            note(
                _(
                    "Take your time. Drink some water, stay lying down for a while, and let your "
                    "support person know how you feel. The music can keep playing."
                ),
                "text",
            )
        )
        layout.addSpacing(6)
        layout.addWidget(title(_("Integration journal"), 1.3))
        layout.addWidget(
            note(
                _(
                    "Over the next one to three days, write down what comes up. A few prompts, "
                    "if they help:"
                )
            )
        )
        questions = note("\n".join(f"•  {_(q)}" for q in INTEGRATION_PROMPTS), "text")
        layout.addWidget(questions)
        self.journal = QPlainTextEdit()
        self.journal.setAccessibleName(_("Journal entry"))
        self.journal.setPlaceholderText(_("Write as much or as little as you like, now or later."))
        self.journal.setTabChangesFocus(True)
        self.journal.setMinimumHeight(100)
        layout.addWidget(self.journal, 1)
        self.passphrase = PassphraseBox("")
        layout.addWidget(self.passphrase)
        self.save = BigButton(_("Save to my journal (kept encrypted)"))
        layout.addWidget(self.save)
        self.status = note("", "accent", _("Journal status"))
        layout.addWidget(self.status)
        layout.addSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(12)
        row.addWidget(QLabel(_("My integration session is on")))
        self.reminder = QDateTimeEdit(QDateTime.currentDateTime().addDays(2))
        self.reminder.setCalendarPopup(True)
        # A Qt date pattern: the language orders it, QLocale names the days and months.
        self.reminder.setDisplayFormat(_("dddd d MMMM, HH:mm"))
        self.reminder.setAccessibleName(_("Integration session date and time"))
        row.addWidget(self.reminder, 2)
        self.remind = BigButton(_("Remind me"), _("Remind me of my integration session"))
        row.addWidget(self.remind, 1)
        layout.addLayout(row)
        self.reminder_status = note("", "accent", _("Reminder status"))
        layout.addWidget(self.reminder_status)
