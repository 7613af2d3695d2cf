"""One live session in the therapist's console: the patient's video, state, timeline,
alerts to acknowledge, the actions, the plan, private notes and the summary.

Each tab observes its own ``RoleCore``; nothing here is shared between sessions except
the notes passphrase the console keeps for the sitting. Personal words (notes, the card,
messages) are shown, never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotated_types import Ge, Le
from PySide6.QtCore import QDateTime, QMarginsF, QRectF, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from companion.app import (
    CLEAR_LIGHT,
    PLAYLISTS,
    Alert,
    CallQuality,
    NoteKind,
    RoleCore,
    TimelineEntry,
    TimelineLines,
    WrongPassphrase,
)
from companion.app.journal import MIN_PASSPHRASE, NeedsPassphrase
from companion.app.notices import DesktopNotices
from companion.app.prompts import PROMPTS
from companion.app.summary import summarize, to_html
from companion.app.words import alert_words, link_words
from companion.i18n import _
from companion.protocol.messages import (
    LadderConfig,
    MemberInfo,
    MusicStatus,
    Presence,
    SessionPlan,
)
from companion.ui.common import (
    VideoView,
    VoiceSettings,
    card_style,
    format_ago,
    format_elapsed,
    spawn,
)
from companion.ui.contacts import ContactsForm
from companion.ui.notices import notify_if_hidden
from companion.ui.widgets import InlineQuestion

AMBER = CLEAR_LIGHT["warm"]
GREEN = CLEAR_LIGHT["ok"]
GREY = CLEAR_LIGHT["muted"]
INK = CLEAR_LIGHT["text"]
_STATE_COLOR = {
    None: GREY,
    "connected": GREEN,
    "degraded": AMBER,
    "interrupted": AMBER,
    "recovering": AMBER,
    "lost": CLEAR_LIGHT["danger"],
}
SUPPORT_GRACE_S = 3.0
"""A support person offline this long (not a blip that resumes) is shown as missing."""


# Kinds whose line in the timeline would repeat another one.
def console_button(text: str, primary: bool = False) -> QPushButton:
    """The console's buttons (``primary``: the one main action of a panel)."""
    button = QPushButton(text)
    button.setAccessibleName(text)
    button.setMinimumHeight(44)  # the smallest target a person may have to hit
    if primary:
        button.setStyleSheet(
            f"QPushButton {{ background: {CLEAR_LIGHT['accent']}; color: white; border: none;"
            " border-radius: 6px; padding: 6px 14px; font-weight: bold; }"
            " QPushButton:disabled { background: #9fb5ad; }"
            f" QPushButton:focus {{ outline: none; border: 2px solid {INK}; }}"
        )
    return button


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def bounds(model: type[Any], name: str) -> tuple[float, float]:
    """(ge, le) of a pydantic field: the plan editor offers exactly the protocol's range."""
    low, high = 0.0, 1e9
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, Ge):
            low = float(meta.ge)  # type: ignore[arg-type]
        elif isinstance(meta, Le):
            high = float(meta.le)  # type: ignore[arg-type]
    return low, high


def quality_words(q: CallQuality) -> str:
    """Plain words first ("Good"), then the figures a therapist may want."""
    rtt = max(0.0, q.rtt_ms) if q.rtt_ms is not None else 0.0
    loss = max(q.audio_loss_pct, q.video_loss_pct)
    if rtt < 300 and loss < 2 and q.video_fps_in >= 10:
        grade = _("Good")
    elif rtt < 700 and loss < 8:
        grade = _("Fair")
    else:
        grade = _("Poor")
    # A round trip cannot be negative (clock steps between the two ends): never shown so.
    delay = _("{ms:.0f} ms").format(ms=max(0.0, q.rtt_ms)) if q.rtt_ms is not None else "—"
    video = (
        _("{video_fps_in:.0f} fps").format(video_fps_in=q.video_fps_in)
        if q.video_sending
        else _("video paused for speech")
    )
    return _("{grade} · delay {delay} · loss {loss:.0f}% · {video}").format(
        grade=grade, delay=delay, loss=loss, video=video
    )


@dataclass
class PassphraseMemory:
    """The notes passphrase of this sitting, shared by the console's live tabs: typed once."""

    value: str = ""


class AlertRow(QFrame):
    """One open alert: what happened, when, and an Acknowledge button. Solid colour, no
    motion: unmistakable, not panicky."""

    def __init__(self, alert: Alert, raised_wall: float, on_ack: Callable[[str], None]) -> None:
        super().__init__()
        self.alert = alert
        self.raised_wall = raised_wall
        urgent = alert.urgent or alert.reason in ("help", "go_to_patient")
        ink = CLEAR_LIGHT["danger"] if urgent else AMBER
        back = CLEAR_LIGHT["danger_back" if urgent else "warm_back"]
        self.setObjectName("alertrow")
        self.setStyleSheet(
            f"#alertrow {{ background: {back}; border: 2px solid {ink}; border-radius: 8px; }}"
            f" #alertrow QLabel {{ color: {ink}; }}"
            # The focus ring only recolours a border that is always there: a border that
            # appeared on focus took its width from the text ("Acknowledge" was clipped).
            f" #alertrow QPushButton {{ background: {ink}; color: white;"
            f" border: 3px solid {ink}; border-radius: 6px; padding: 8px 18px;"
            " font-weight: bold; }"
            f" #alertrow QPushButton:focus {{ border-color: {INK}; }}"
            " #alertrow QPushButton:disabled { background: #b9a6a6; }"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 8, 8, 8)
        self.words = alert_words("therapist", alert.reason)
        self.text = QLabel()
        self.text.setAccessibleDescription(_("Alert"))
        self.text.setWordWrap(True)
        font = QFont(self.text.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.text.setFont(font)
        self.when = QLabel()
        self.ack = QPushButton(_("Acknowledge"))
        self.ack.setAccessibleName(_("Acknowledge: {words}").format(words=self.words))
        self.ack.setMinimumHeight(44)
        self._on_ack = on_ack
        self.ack.clicked.connect(self._acknowledge)
        words = QVBoxLayout()
        words.setSpacing(0)
        words.addWidget(self.text)
        words.addWidget(self.when)
        row.addLayout(words, 1)
        row.addWidget(self.ack)
        self.tick()

    def _acknowledge(self) -> None:
        self.ack.setEnabled(False)
        self.ack.setText(_("Acknowledging…"))
        self._on_ack(self.alert.alert_id)

    def tick(self) -> None:
        self.text.setText(f"⚠  {self.words}")
        ago = format_ago(time.time() - self.raised_wall)
        self.when.setText(
            _("At {time} ({ago}) — needs your acknowledgement").format(
                time=_clock(self.raised_wall), ago=ago
            )
        )


class VideoWithSelf(VideoView):
    """The patient's video with the therapist's own camera small in the corner."""

    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder)
        self.self_view = VideoView(_("Your camera"), self)
        self.self_view.setAccessibleName(_("Your camera"))
        self.self_view.setFixedSize(192, 144)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.self_view.move(self.width() - 204, self.height() - 156)


class LiveSession(QWidget):
    attention = Signal(bool)
    """True while an alert waits in this session (the console marks the tab)."""

    def __init__(
        self,
        core: RoleCore,
        data_dir: Path,
        label: str = "",
        passphrases: PassphraseMemory | None = None,
    ) -> None:
        super().__init__()
        self.core = core
        self.data_dir = data_dir
        self.label = label
        self.passphrases = passphrases or PassphraseMemory()
        self.notes: list[tuple[float, str]] = []
        self.alert_rows: dict[str, AlertRow] = {}
        self.plan_sent_at: float | None = None
        self._lines = TimelineLines()
        self._asked_at: float | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)

        # Alerts stand above the video, not above the whole console: an alert coming or
        # going changes the video's height only, never where a button is (a click meant
        # for "Request a check-in" landed on another button when an alert cleared).
        self.alert_banner = QWidget()
        self.alert_list = QVBoxLayout(self.alert_banner)
        self.alert_list.setContentsMargins(0, 0, 0, 0)
        self.alert_banner.hide()
        # A support person who left mid-session: shown until they are back, no button (it
        # is a state to see, not an event to acknowledge).
        self.no_support = QLabel("")
        self.no_support.setObjectName("nosupport")
        self.no_support.setWordWrap(True)
        self.no_support.setAccessibleDescription(_("Support person"))
        self.no_support.setStyleSheet(
            f"#nosupport {{ background: {CLEAR_LIGHT['warm_back']}; color: {AMBER}; border: 2px solid {AMBER};"
            " border-radius: 8px; padding: 10px 14px; font-weight: bold; }"
        )
        self.no_support.hide()
        self.alert_list.addWidget(self.no_support)
        self._support_seen = False
        self._support_gone_at: float | None = None
        self._notices = DesktopNotices()
        self._support_check = QTimer(self)
        self._support_check.setSingleShot(True)
        self._support_check.timeout.connect(self._support_absent)

        # The status strip: the four things a glance should tell.
        strip = QFrame()
        strip.setObjectName("strip")
        strip.setStyleSheet(card_style("strip", CLEAR_LIGHT))
        s = QHBoxLayout(strip)
        s.setContentsMargins(14, 8, 14, 8)
        self.link = QLabel()
        self.link.setAccessibleDescription(_("Connection"))
        big = QFont(self.link.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.link.setFont(big)
        self.quality = QLabel(_("Quality: measuring…"))
        self.quality.setAccessibleDescription(_("Call quality"))
        self.checkin = QLabel()
        self.checkin.setAccessibleDescription(_("Last check-in"))
        self.checkin.setFont(big)
        self.clock = QLabel()
        self.clock.setAccessibleDescription(_("Session time"))
        left_col = QVBoxLayout()
        left_col.addWidget(self.link)
        left_col.addWidget(self.quality)
        # Whether the server can still text the support person when no app answers: the
        # therapist must know when nobody can be reached by phone.
        self.reach = QLabel()
        self.reach.setWordWrap(True)
        self.reach.setAccessibleDescription(_("Phone"))
        right_col = QVBoxLayout()
        right_col.addWidget(self.checkin)
        right_col.addWidget(self.clock)
        right_col.addWidget(self.reach)
        s.addLayout(left_col, 1)
        s.addLayout(right_col, 1)
        outer.addWidget(strip)

        body = QHBoxLayout()
        self.video = VideoWithSelf(_("Waiting for the patient's video"))
        self.self_view = self.video.self_view
        seen = QVBoxLayout()
        seen.addWidget(self.alert_banner)
        seen.addWidget(self.video, 1)
        body.addLayout(seen, 3)
        tabs = QTabWidget()
        tabs.addTab(self._actions(), _("Actions"))
        tabs.addTab(self._scroll(self._plan()), _("Plan"))
        tabs.addTab(self._notes(), _("Notes"))
        self.timeline = QListWidget()
        self.timeline.setAccessibleName(_("Timeline"))
        self.timeline.setAlternatingRowColors(True)
        # Long lines wrap (Spanish runs ~25 % longer): nothing read sideways.
        self.timeline.setWordWrap(True)
        self.timeline.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tabs.addTab(self.timeline, _("Timeline"))
        tabs.addTab(self._summary(), _("Summary"))
        tabs.setMinimumWidth(420)
        self.tabs = tabs
        body.addWidget(tabs, 2)
        outer.addLayout(body, 1)
        self._observe()
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self._ticker.start()
        self._tick()

    # -- building ----------------------------------------------------------------------

    @staticmethod
    def _scroll(page: QWidget) -> QScrollArea:
        area = QScrollArea()
        area.setWidget(page)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        return area

    def _actions(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.request = console_button(_("Request a check-in"), primary=True)
        self.request.setMinimumHeight(44)
        self.request.clicked.connect(lambda: spawn(self.core.request_checkin()))
        v.addWidget(self.request)

        prompts = QGroupBox(_("Grounding prompt"))
        p = QHBoxLayout(prompts)
        self.prompt_choice = QComboBox()
        self.prompt_choice.setAccessibleName(_("Grounding prompt to send"))
        for item in PROMPTS:
            self.prompt_choice.addItem(item.title, item.prompt_id)
        self.push = console_button(_("Show to the patient"))
        self.push.clicked.connect(
            lambda: spawn(self.core.push_prompt(str(self.prompt_choice.currentData())))
        )
        p.addWidget(self.prompt_choice, 1)
        p.addWidget(self.push)
        v.addWidget(prompts)

        mic = QGroupBox(_("Your microphone"))
        self.voice_box = mic
        self.voice = VoiceSettings(
            _("Reduce background noise"), _("Raise my voice automatically (for a quiet voice)")
        )
        QVBoxLayout(mic).addWidget(self.voice)
        v.addWidget(mic)

        music = QGroupBox(_("Music on the patient's computer"))
        m = QVBoxLayout(music)
        self.now_playing = QLabel(_("Nothing reported yet"))
        self.now_playing.setAccessibleDescription(_("Now playing"))
        self.now_playing.setWordWrap(True)
        m.addWidget(self.now_playing)
        row = QHBoxLayout()
        self.music_buttons: dict[str, QPushButton] = {}
        for text, action in (
            (_("Previous"), "previous"),
            (_("Play"), "play"),
            (_("Pause"), "pause"),
            (_("Next"), "next"),
        ):
            button = console_button(text)
            button.setAccessibleName(_("Music: {action}").format(action=action))
            button.clicked.connect(lambda _=False, a=action: spawn(self.core.music_remote(a)))
            self.music_buttons[action] = button
            row.addWidget(button)
        m.addLayout(row)
        volume_row = QHBoxLayout()
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(-40, 0)
        self.volume.setAccessibleName(_("Music volume"))
        self.volume_label = QLabel(_("{db} dB").format(db=0))
        self.volume.valueChanged.connect(
            lambda v: self.volume_label.setText(_("{db} dB").format(db=v))
        )
        self.volume.sliderReleased.connect(self._send_volume)
        volume_row.addWidget(QLabel(_("Volume")))
        volume_row.addWidget(self.volume, 1)
        volume_row.addWidget(self.volume_label)
        m.addLayout(volume_row)
        playlist_row = QHBoxLayout()
        self.playlist = QComboBox()
        self.playlist.setAccessibleName(_("Playlist"))
        for slug, title in PLAYLISTS.items():
            title = _(title)
            self.playlist.addItem(title, slug)
        self.choose = console_button(_("Play this"))
        self.choose.setAccessibleName(_("Play this playlist"))
        self.choose.clicked.connect(
            lambda: spawn(
                self.core.music_remote("choose_playlist", playlist=str(self.playlist.currentData()))
            )
        )
        playlist_row.addWidget(self.playlist, 1)
        playlist_row.addWidget(self.choose)
        m.addLayout(playlist_row)
        v.addWidget(music)

        support = QGroupBox(_("Message to the support person"))
        sl = QVBoxLayout(support)
        msg = QHBoxLayout()
        self.message = QLineEdit()
        self.message.setPlaceholderText(_("e.g. Please bring a glass of water"))
        self.message.setAccessibleName(_("Message to the support person"))
        self.message.returnPressed.connect(self._send_message)
        send = console_button(_("Send"))
        send.clicked.connect(self._send_message)
        msg.addWidget(self.message, 1)
        msg.addWidget(send)
        sl.addLayout(msg)
        self.message_note = QLabel("")
        self.message_note.setStyleSheet(f"color: {GREY};")
        sl.addWidget(self.message_note)
        v.addWidget(support)
        v.addStretch(1)
        self.end_question = InlineQuestion(_("Keep the session going"), _("End the session"))
        self.end_question.answered.connect(self._end_answered)
        v.addWidget(self.end_question)
        self.end_button = console_button(_("End the session…"))
        self.end_button.clicked.connect(self._confirm_end)
        v.addWidget(self.end_button)
        return page

    def _plan(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # A label longer than its field's room goes above it (Spanish runs ~25 % longer).
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        plan = SessionPlan(kind="plan")
        dose = QHBoxLayout()
        # Nothing clinical is filled in for the therapist: the dose time is unknown until
        # they enter it (or press "Now").
        self.dose_known = QCheckBox(_("Dose time known"))
        self.dose_known.setChecked(False)
        self.dose_known.setAccessibleName(_("Dose time known"))
        self.dose_at = QDateTimeEdit(QDateTime.currentDateTime())
        self.dose_at.setDisplayFormat(_("ddd d MMM  HH:mm"))  # a Qt date pattern, see QLocale
        self.dose_at.setAccessibleName(_("Dose time"))
        self.dose_at.setEnabled(False)
        self.dose_known.toggled.connect(self.dose_at.setEnabled)
        now = console_button(_("Now"))
        now.setAccessibleName(_("Dose taken now"))
        now.clicked.connect(self._dose_now)
        dose.addWidget(self.dose_at, 1)
        dose.addWidget(now)
        form.addRow(_("Dose taken at"), dose)
        form.addRow("", self.dose_known)

        def spin(model: type[Any], name: str, value: float, suffix: str) -> QSpinBox:
            low, high = bounds(model, name)
            box = QSpinBox()
            box.setRange(int(low), int(high))
            box.setValue(int(value))
            box.setSuffix(suffix)
            return box

        self.checkin_every = spin(SessionPlan, "checkin_every_min", 0, _(" min"))
        self.checkin_every.setSpecialValueText(_("only when I ask"))
        self.lookin_every = spin(SessionPlan, "lookin_every_min", plan.lookin_every_min, _(" min"))
        self.lookin_every.setSpecialValueText(_("never"))
        self.vitals_at = QLineEdit(", ".join(str(m) for m in plan.vitals_at_min))
        self.vitals_at.setToolTip(_("Minutes from the dose, e.g. -5, 40 (before dosing and after)"))
        self.systolic_max = spin(SessionPlan, "systolic_max", plan.systolic_max, _(" mmHg"))
        self.diastolic_max = spin(SessionPlan, "diastolic_max", plan.diastolic_max, _(" mmHg"))
        self.hr_max = spin(SessionPlan, "heart_rate_max", plan.heart_rate_max, _(" bpm"))
        ladder = LadderConfig(kind="ladder.config")

        def seconds(name: str, value: float) -> QSpinBox:
            return spin(LadderConfig, name, value, _(" s"))

        self.go_after = seconds("go_to_patient_after_s", ladder.go_to_patient_after_s)
        self.answer_within = seconds("checkin_answer_s", ladder.checkin_answer_s)
        self.escalate_after = seconds("checkin_escalate_s", ladder.checkin_escalate_s)
        self.instructions = QPlainTextEdit()
        self.instructions.setPlaceholderText(
            _("What the support person should do, and whom to call")
        )
        self.instructions.setMinimumHeight(80)
        self.emergency = QLineEdit()
        self.emergency.setPlaceholderText(_("e.g. 112 or 911"))
        for label, widget in (
            (_("Ask for a check-in every"), self.checkin_every),
            (_("Support person looks in every"), self.lookin_every),
            (_("Vitals at (minutes from dose)"), self.vitals_at),
            (_("Alert me above: systolic"), self.systolic_max),
            (_("diastolic"), self.diastolic_max),
            (_("heart rate"), self.hr_max),
            (_("Call the support person after a lost link of"), self.go_after),
            (_("A check-in must be answered within"), self.answer_within),
            (_("…then the support person is asked after"), self.escalate_after),
            (_("Instructions for the support person"), self.instructions),
            (_("Emergency number"), self.emergency),
        ):
            widget.setAccessibleName(label)
            form.addRow(label, widget)
        v.addLayout(form)
        self.plan_error = QLabel("")
        self.plan_error.setStyleSheet(f"color: {CLEAR_LIGHT['danger']};")
        self.plan_error.setWordWrap(True)
        v.addWidget(self.plan_error)
        row = QHBoxLayout()
        self.send_plan_button = console_button(_("Send the plan"), primary=True)
        self.send_plan_button.clicked.connect(lambda: spawn(self.send_plan()))
        self.plan_note = QLabel(_("Not sent yet: the support person sees no plan."))
        self.plan_note.setWordWrap(True)
        self.plan_note.setStyleSheet(f"color: {GREY};")
        row.addWidget(self.send_plan_button)
        row.addWidget(self.plan_note, 1)
        v.addLayout(row)
        phone = QGroupBox(_("The support person's phone, for when no app answers"))
        pl = QVBoxLayout(phone)
        self.contacts_form = ContactsForm(
            _(
                "If the patient needs the support person and no app answers, the clinic's "
                "server texts or e-mails them. Enter their mobile number or e-mail, with "
                "their agreement."
            ),
            _("They agreed to be texted or e-mailed"),
            _("Save their phone and e-mail"),
        )
        self.contacts_form.submit = self.core.set_contacts
        pl.addWidget(self.contacts_form)
        phone.setVisible(self.core.reach.possible)  # a server that texts nobody: nothing to ask
        v.addWidget(phone)
        v.addStretch(1)
        return page

    def _notes(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.note = QPlainTextEdit()
        self.note.setAccessibleName(_("Private note"))
        self.note.setPlaceholderText(
            _("Private note — encrypted on this computer, stamped with the time")
        )
        v.addWidget(self.note, 1)
        # No keyring here: the passphrase is asked on the page, never in a dialog.
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName(_("Passphrase for your notes"))
        self.passphrase.setPlaceholderText(_("Passphrase for your notes (8 characters or more)"))
        self.passphrase.returnPressed.connect(lambda: spawn(self.save_note()))
        self.passphrase.hide()
        v.addWidget(self.passphrase)
        row = QHBoxLayout()
        self.save_note_button = console_button(_("Save note"), primary=True)
        self.save_note_button.clicked.connect(lambda: spawn(self.save_note()))
        self.note_status = QLabel("")
        self.note_status.setWordWrap(True)
        row.addWidget(self.save_note_button)
        row.addWidget(self.note_status, 1)
        v.addLayout(row)
        self.notes_list = QListWidget()
        self.notes_list.setAccessibleName(_("Notes so far"))
        self.notes_list.setWordWrap(True)
        v.addWidget(self.notes_list, 2)
        return page

    def _summary(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.summary_view = QTextBrowser()
        self.summary_view.setAccessibleName(_("Session summary"))
        v.addWidget(self.summary_view, 1)
        row = QHBoxLayout()
        refresh = console_button(_("Refresh"))
        refresh.clicked.connect(self.refresh_summary)
        self.export = console_button(_("Save as HTML and PDF"), primary=True)
        self.export.clicked.connect(lambda: self.export_summary(self._summary_stem()))
        row.addWidget(refresh)
        row.addWidget(self.export)
        row.addStretch(1)
        v.addLayout(row)
        self.export_note = QLabel("")
        self.export_note.setWordWrap(True)
        self.export_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.export_note)
        self.tabs_summary_index = 4
        return page

    # -- observing ---------------------------------------------------------------------

    def _observe(self) -> None:
        core = self.core
        unsubscribe = [
            core.link_changed.connect(self._link),
            core.quality_changed.connect(self._quality),
            core.checked_in.connect(lambda _at: self._tick()),
            core.timeline_added.connect(self._entry),
            core.alert_shown.connect(self._alert),
            core.alert_cleared.connect(self._cleared),
            core.music_changed.connect(self._music),
            core.session_ended.connect(self._ended),
        ]
        self._unsubscribe: list[Callable[[], None]] = list(unsubscribe)
        if core.remote_video is not None:
            self._unsubscribe.append(core.remote_video.frame_ready.connect(self.video.show_frame))
        self.voice.bind_core(core)
        self.voice_box.setVisible(core.devices.mic_processing() is not None)
        view = core.devices.self_view()
        if view is not None:
            self._unsubscribe.append(view.frame_ready.connect(self.self_view.show_frame))
        else:
            self.self_view.set_placeholder(_("No camera"))
        for entry in core.facts.timeline:
            self._entry(entry)
        for alert in core.facts.open_alerts.values():
            self._alert(alert)
        self._link("")
        self._show_reach()
        self._unsubscribe.append(core.presence_changed.connect(self._presence))
        joined = core.joined
        if core.presence is not None:
            self._presence(core.presence)
        elif joined is not None:
            self._support_online([m for m in joined.members if m.role == "support"])

    def detach(self) -> None:
        """Stop observing the core (before it closes)."""
        self._ticker.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _link(self, _words: str) -> None:
        state = self.core.link_shown
        color = _STATE_COLOR.get(state, GREY)
        self.link.setText(f"<span style='color:{color}'>●</span> {link_words('therapist', state)}")
        self.link.setProperty("state", state or "")

    def _entry(self, entry: TimelineEntry) -> None:
        if entry.kind == "contacts":
            self._show_reach()
        if entry.kind == "checkin.request":
            self._asked_at = entry.at
        elif entry.kind in ("checkin", "session.end"):
            self._asked_at = None
        line = self._lines.line(entry)
        if line is None:  # said already, in another line (TimelineLines)
            return
        if line.amends >= 0 and (earlier := self.timeline.item(line.amends)) is not None:
            earlier.setText(f"{_clock(line.at)}   {line.text}")  # a flapping link's one line
            return
        item = QListWidgetItem(f"{_clock(line.at)}   {line.text}")
        color = {"alert": CLEAR_LIGHT["danger"], "cleared": GREEN, "warning": AMBER}.get(line.tone)
        if color:
            item.setForeground(QColor(color))
        self.timeline.addItem(item)
        self.timeline.scrollToBottom()

    def _quality(self, q: CallQuality) -> None:
        self.quality.setText(_("Quality: {quality}").format(quality=quality_words(q)))

    def _tick(self) -> None:
        facts = self.core.facts
        at = facts.last_checkin_at
        if at is None:
            self.checkin.setText(_("Last check-in: not yet"))
        else:
            self.checkin.setText(
                _("Last check-in: {ago} ({time})").format(
                    ago=format_ago(time.time() - at), time=_clock(at)[:5]
                )
            )
        text = _("Session time {elapsed}").format(
            elapsed=format_elapsed(time.time() - facts.started_at)
        )
        if facts.plan.dose_at:
            since = time.time() - facts.plan.dose_at
            text += (
                _(" · dose {time} ago").format(time=format_elapsed(since))
                if since >= 0
                else _(" · dose in {time}").format(time=format_elapsed(-since))
            )
        if self._asked_at is not None:
            text += _(" · check-in asked {ago}, waiting").format(
                ago=format_ago(time.time() - self._asked_at)
            )
        self.clock.setText(text)
        for row in self.alert_rows.values():
            row.tick()

    def _show_reach(self) -> None:
        reach = self.core.reach
        self.reach.setText(("✓ " if reach.armed else "⚠ ") + reach.words)
        self.reach.setStyleSheet(f"color: {GREEN if reach.armed else AMBER}; font-weight: bold;")
        self.reach.setProperty("armed", reach.armed)
        if not self.no_support.isHidden():
            self._support_absent()

    # -- is a support person there? -------------------------------------------------

    def _presence(self, presence: Presence) -> None:
        self._support_online([m for m in presence.members if m.role == "support"])

    def _support_online(self, members: list[MemberInfo]) -> None:
        if any(m.status == "online" for m in members):
            self._support_seen = True
            self._support_gone_at = None
            self._support_check.stop()
            if not self.no_support.isHidden():
                self.no_support.hide()
                self._update_banner()
        elif self._support_gone_at is None:
            # From the session's start, not only once they were seen (issue 21); a moment's
            # grace: a dropped connection that resumes at once is not news.
            self._support_gone_at = time.time()
            self._support_check.start(round(SUPPORT_GRACE_S * 1000))

    def _support_absent(self) -> None:
        if self._support_gone_at is None or self.core.facts.ended:
            return
        first = (
            _("No support person is connected (since {value}).").format(
                value=_clock(self._support_gone_at)[:5]
            )
            if self._support_seen
            else _("No support person has joined this session yet.")
        )
        then = (
            _(
                "Nobody in the home can be called to the patient through the app, but their "
                "phone can still be messaged."
            )
            if self.core.reach.armed
            else _(
                "Nobody in the home can be called to the patient, and no phone can be "
                "reached either: add their number under Plan."
            )
            if self.core.reach.possible
            else _(
                "Nobody in the home can be called to the patient, and this clinic's server "
                "sends no texts or e-mails."
            )
        )
        self.no_support.setText(f"⚠  {first} {then}")
        self.no_support.show()
        self._update_banner()

    @property
    def needs_attention(self) -> bool:
        return bool(self.alert_rows) or not self.no_support.isHidden()

    def _update_banner(self) -> None:
        self.alert_banner.setVisible(self.needs_attention)
        self.attention.emit(self.needs_attention)

    def _alert(self, alert: Alert) -> None:
        if alert.alert_id in self.alert_rows:
            return
        raised_wall = time.time() - max(0.0, time.monotonic() - alert.raised_at)
        row = AlertRow(alert, raised_wall, lambda alert_id: spawn(self.core.acknowledge(alert_id)))
        self.alert_rows[alert.alert_id] = row
        self.alert_list.addWidget(row)
        self.alert_banner.show()
        row.ack.setFocus()
        self.attention.emit(True)
        notify_if_hidden(self, self._notices, alert_words("therapist", alert.reason), alert.urgent)

    def _cleared(self, alert_id: str, _how: str) -> None:
        row = self.alert_rows.pop(alert_id, None)
        if row is not None:
            self.alert_list.removeWidget(row)
            row.deleteLater()
        if not self.alert_rows:
            self._update_banner()

    def acknowledge_all(self) -> None:
        for row in list(self.alert_rows.values()):
            row.ack.click()

    def _music(self, status: MusicStatus) -> None:
        state = "playing" if status.playing else "paused"
        where = ""
        if status.duration_s > 0:
            where = _(" · {position} of {length}").format(
                position=format_elapsed(status.position_s)[2:],
                length=format_elapsed(status.duration_s)[2:],
            )
        self.now_playing.setText(
            _("♪ <b>{title}</b> — {state}{where} · volume {volume_db:.0f} dB").format(
                title=_escape(status.title), state=state, where=where, volume_db=status.volume_db
            )
        )
        self.now_playing.setProperty("title", status.title)
        if not self.volume.isSliderDown():
            self.volume.blockSignals(True)
            self.volume.setValue(round(max(-40.0, status.volume_db)))
            self.volume.blockSignals(False)
            self.volume_label.setText(_("{db} dB").format(db=self.volume.value()))

    def _send_volume(self) -> None:
        spawn(self.core.music_remote("set_volume", volume_db=float(self.volume.value())))

    def _send_message(self) -> None:
        text = self.message.text().strip()
        if text:
            spawn(self.core.send_message("support", text[:1000]))
            self.message.clear()
            self.message_note.setText(_("Sent at {time}.").format(time=_clock(time.time())[:5]))

    def _confirm_end(self) -> None:
        # Asked inside the console: a modal would stop the call and the alerts under it.
        self.end_button.hide()
        self.end_question.ask(
            _("End the session for everyone? The patient's music keeps playing; the call ends.")
        )

    def _end_answered(self, end: bool) -> None:
        self.end_button.show()
        if end:
            spawn(self.end_session())

    async def end_session(self) -> None:
        await self.core.end_session()

    def _ended(self) -> None:
        for widget in (
            self.request,
            self.push,
            self.choose,
            self.end_button,
            self.send_plan_button,
            self.contacts_form.save_button,
            *self.music_buttons.values(),
        ):
            widget.setEnabled(False)
        self._support_check.stop()
        self.no_support.hide()
        self._update_banner()
        self.end_button.setText(_("The session has ended"))
        self._tick()
        self._ticker.stop()
        self.link.setText(_("● The session has ended"))
        self.quality.setText("")
        self.reach.setText("")  # the server forgets the contacts with the session
        self.refresh_summary()
        self.tabs.setCurrentIndex(self.tabs_summary_index)

    # -- plan, notes, summary ----------------------------------------------------------

    def _dose_now(self) -> None:
        self.dose_at.setDateTime(QDateTime.currentDateTime())
        self.dose_known.setChecked(True)

    def known_passphrase(self) -> str:
        return self.passphrases.value

    def remember_passphrase(self, passphrase: str) -> None:
        self.passphrases.value = passphrase

    def read_plan(self) -> SessionPlan:
        """The plan as set in the editor; raises ValueError with plain words."""
        try:
            vitals = [int(x) for x in self.vitals_at.text().replace(" ", "").split(",") if x]
        except ValueError:
            raise ValueError(
                "Vitals times: whole minutes separated by commas, e.g. -5, 40"
            ) from None
        if len(vitals) > 12 or any(not -120 <= m <= 480 for m in vitals):
            raise ValueError("Vitals times: up to 12, between -120 and 480 minutes from the dose")
        return SessionPlan(
            kind="plan",
            dose_at=float(self.dose_at.dateTime().toSecsSinceEpoch())
            if self.dose_known.isChecked()
            else None,
            checkin_every_min=self.checkin_every.value(),
            vitals_at_min=sorted(vitals),
            lookin_every_min=self.lookin_every.value(),
            systolic_max=self.systolic_max.value(),
            diastolic_max=self.diastolic_max.value(),
            heart_rate_max=self.hr_max.value(),
            instructions=self.instructions.toPlainText().strip()[:2000],
            emergency_number=self.emergency.text().strip()[:40],
            playlist=self.core.facts.plan.playlist,
        )

    def read_ladder(self) -> LadderConfig:
        return LadderConfig(
            kind="ladder.config",
            go_to_patient_after_s=self.go_after.value(),
            checkin_answer_s=self.answer_within.value(),
            checkin_escalate_s=self.escalate_after.value(),
        )

    async def send_plan(self) -> bool:
        try:
            plan = self.read_plan()
        except ValueError as exc:
            self.plan_error.setText(str(exc))
            return False
        self.plan_error.setText("")
        await self.core.set_plan(plan)
        await self.core.set_ladder(self.read_ladder())
        self.plan_sent_at = time.time()
        self.plan_note.setText(
            _(
                "Sent at {value}. The support person has the instructions; reminders follow the dose time."
            ).format(value=_clock(self.plan_sent_at)[:5])
        )
        return True

    async def save_note(self) -> bool:
        text = self.note.toPlainText().strip()
        if not text:
            return False
        journal = await self.core.journal()
        try:
            try:
                await journal.unlock()
            except NeedsPassphrase:
                passphrase = self.known_passphrase() or self.passphrase.text()
                if len(passphrase) < MIN_PASSPHRASE:
                    self.passphrase.show()
                    self.passphrase.setFocus()
                    self.note_status.setText(
                        _(
                            "Not saved yet: this computer has no keyring, so notes are locked "
                            "with a passphrase. Type one above (8 characters or more; you will "
                            "need it to read them later), then save again."
                        )
                    )
                    return False
                await journal.unlock(passphrase)
                self.remember_passphrase(passphrase)
        except WrongPassphrase:
            self.passphrase.clear()
            self.note_status.setText(_("That passphrase does not open your notes. Not saved."))
            return False
        self.passphrase.hide()
        await journal.add(self.core.session_id, NoteKind.NOTE, text)
        now = time.time()
        self.notes.append((now, text))
        item = QListWidgetItem(f"{_clock(now)[:5]}   {text}")
        self.notes_list.addItem(item)
        self.notes_list.scrollToBottom()
        self.note.clear()
        self.note_status.setText(_("Saved, encrypted, at {time}.").format(time=_clock(now)[:5]))
        return True

    def summary_html(self) -> str:
        title = (
            _("Session summary — {label}").format(label=self.label)
            if self.label
            else _("Session summary")
        )
        return to_html(summarize(self.core.facts, self.notes, label=self.label), title)

    def refresh_summary(self) -> None:
        self.summary_view.setHtml(self.summary_html())

    def _summary_stem(self) -> Path:
        day = time.strftime("%Y-%m-%d-%H%M")
        safe = "".join(c if c.isalnum() else "-" for c in (self.label or "session"))[:40]
        return self.data_dir / "summaries" / f"{day}-{safe}"

    def export_summary(self, stem: Path) -> tuple[Path, Path]:
        """Write ``stem``.html and ``stem``.pdf (A4, printed by Qt from the same HTML)."""
        html = self.summary_html()
        self.summary_view.setHtml(html)
        stem.parent.mkdir(parents=True, exist_ok=True)
        html_path, pdf_path = stem.with_suffix(".html"), stem.with_suffix(".pdf")
        html_path.write_text(html, encoding="utf-8")
        write_pdf(html, pdf_path)
        self.export_note.setText(
            _("Saved {html} and {pdf} in {folder}").format(
                html=html_path.name, pdf=pdf_path.name, folder=stem.parent
            )
        )
        return html_path, pdf_path


def write_pdf(html: str, path: Path, title: str = "Companion") -> Path:  # i18n: not words
    """A4, 18 mm margins, page numbers at the foot, no heading alone at a page's end.

    The pages are laid out and drawn here rather than by ``QTextDocument.print_``, so the
    page breaks checked by ``keep_headings_with_next`` are the ones printed."""
    document = QTextDocument()
    document.setDefaultFont(QFont("DejaVu Sans", 10))
    document.setHtml(html)
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator(_("Companion"))
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(18, 18, 18, 18),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setResolution(300)
    layout = document.documentLayout()
    layout.setPaintDevice(writer)
    footer = QFont("DejaVu Sans", 9)
    foot = 2 * QFontMetricsF(footer, writer).height()
    width, height = float(writer.width()), writer.height() - foot
    document.setPageSize(QSizeF(width, height))
    keep_headings_with_next(document)
    painter = QPainter(writer)
    try:
        for index in range(document.pageCount()):
            if index:
                writer.newPage()
            painter.save()
            painter.translate(0, -index * height)
            context = QAbstractTextDocumentLayout.PaintContext()
            context.clip = QRectF(0, index * height, width, height)
            painter.setClipRect(context.clip)
            layout.draw(painter, context)
            painter.restore()
            painter.setFont(footer)
            painter.drawText(
                QRectF(0, height, width, foot),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom),
                str(index + 1),
            )
    finally:
        painter.end()
    return path


def keep_headings_with_next(document: QTextDocument) -> None:
    """A heading whose next line falls on the next page starts that page instead (the
    summary's "Vitals" stood alone at the foot of page 1; Qt's rich text has no
    keep-with-next). ``document`` is paginated (a page size set)."""
    layout = document.documentLayout()
    page = document.pageSize().height()
    for _attempt in range(16):  # each break moves what follows; a summary settles in a few
        alone = None
        block = document.begin()
        while block.isValid() and alone is None:
            after = block.next()
            if block.blockFormat().headingLevel() > 0 and after.isValid():
                top = layout.blockBoundingRect(block).top()
                if int(layout.blockBoundingRect(after).bottom() // page) > int(top // page):
                    alone = block
            block = after
        if alone is None:
            return
        cursor = QTextCursor(alone)
        policy = cursor.blockFormat()
        policy.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        cursor.setBlockFormat(policy)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
