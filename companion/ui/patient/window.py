"""The patient's window: join → prepare → the session → after.

Dark and calm, large type, big targets. During the session any key checks in (so it
works under an eye mask), "I need help" needs a 1.5 s hold, and nothing flashes or
sounds sudden: the core plays only soft chimes, quieter than the music.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QDateTime, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDateTimeEdit,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import RoleCore
from companion.app.journal import Journal, NeedsPassphrase
from companion.app.prompts import PROMPTS, Prompt, prompt
from companion.audio import ChimeKind
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import EmergencyCard, MusicStatus
from companion.records.private import NoteKind
from companion.ui.common import CALM_DARK, VideoView, spawn, theme_window, wire_video
from companion.ui.widgets import BreathingGuide, HoldButton, PulseBanner

CHECKIN_DEBOUNCE_S = 3.0
# Keys that move around the window rather than mean "I'm OK".
_NAVIGATION = {
    Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt,
    Qt.Key.Key_Meta, Qt.Key.Key_AltGr, Qt.Key.Key_CapsLock, Qt.Key.Key_Up, Qt.Key.Key_Down,
    Qt.Key.Key_Left, Qt.Key.Key_Right,
}  # fmt: skip

INTEGRATION_PROMPTS = (
    "What stayed with you from the session?",
    "Was there an image, a feeling or a sentence you want to keep?",
    "What would you like to bring to your integration session?",
)


def _big(text: str, name: str | None = None, min_height: int = 64) -> QPushButton:
    button = QPushButton(text)
    button.setMinimumHeight(min_height)
    button.setAccessibleName(name or text.replace("&", ""))
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


def _title(text: str, scale: float = 1.8) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    label.setWordWrap(True)
    return label


def _field(placeholder: str, name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setAccessibleName(name)
    edit.setMinimumHeight(40)
    return edit


class JoinScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(60, 50, 60, 50)
        layout.addWidget(_title("Welcome to Companion"))
        intro = QLabel(
            "Open the link your therapist sent you, or type the short code they read to you."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.code = _field("Code (like 3ZEF-EWP6) or the whole link", "Invitation code or link")
        self.server = _field("Clinic server address (from your therapist)", "Clinic server")
        form = QFormLayout()
        form.addRow("Code or link", self.code)
        form.addRow("Clinic server", self.server)
        layout.addLayout(form)
        self.join = _big("Join")
        layout.addWidget(self.join)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Message")
        self.message.setStyleSheet(f"color: {CALM_DARK['warm']};")
        layout.addWidget(self.message)
        layout.addStretch(1)


class PrepareScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 30, 40, 30)
        outer.addWidget(_title("Before your session", 1.6))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        grid = QGridLayout(body)
        grid.setHorizontalSpacing(40)

        left = QVBoxLayout()
        left.addWidget(_title("Your checklist", 1.2))
        self.checks = [
            QCheckBox(text)
            for text in (
                "Eye mask and headphones are within reach",
                "Water is nearby",
                "My phone is on silent",
                "My support person is at home and knows the plan",
            )
        ]
        for box in self.checks:
            box.setAccessibleName(box.text())
            left.addWidget(box)
        form = QFormLayout()
        self.support_name = _field("Name", "Support person's name")
        self.support_phone = _field("Phone", "Support person's phone")
        self.emergency = _field("e.g. 112 or 911", "Local emergency number")
        form.addRow("Support person", self.support_name)
        form.addRow("Their phone", self.support_phone)
        form.addRow("Emergency number", self.emergency)
        left.addLayout(form)
        left.addWidget(_title("Your intention", 1.2))
        self.intention = QPlainTextEdit()
        self.intention.setPlaceholderText("In your own words: what would you like to explore?")
        self.intention.setAccessibleName("Your intention")
        self.intention.setMinimumHeight(90)
        left.addWidget(self.intention)
        self.share_intention = QCheckBox("Share my intention with my therapist")
        self.share_intention.setAccessibleName(self.share_intention.text())
        left.addWidget(self.share_intention)
        note = QLabel("Your intention is kept encrypted on this computer.")
        note.setStyleSheet(f"color: {CALM_DARK['muted']};")
        left.addWidget(note)

        right = QVBoxLayout()
        right.addWidget(_title("For paramedics, just in case", 1.2))
        card = QFormLayout()
        self.address = _field("Street, number, town", "Your address")
        self.taken = _field("e.g. ketamine 100 mg under the tongue", "What you will take")
        self.medications = _field("Other medicines you take", "Current medications")
        self.therapist_contact = _field("Name and phone", "Therapist's contact")
        self.prescriber_contact = _field("Name and phone", "Prescriber's contact")
        card.addRow("Address", self.address)
        card.addRow("Medicine", self.taken)
        card.addRow("Medications", self.medications)
        card.addRow("Therapist", self.therapist_contact)
        card.addRow("Prescriber", self.prescriber_contact)
        right.addLayout(card)
        right.addWidget(_title("Check your devices", 1.2))
        self.self_view = VideoView("Your camera appears here")
        self.self_view.setMinimumHeight(150)
        right.addWidget(self.self_view)
        self.test_sound = _big("Play a soft test sound", min_height=48)
        right.addWidget(self.test_sound)
        self.own_music = _big("Add my own music (a folder or an M3U playlist)…", min_height=48)
        right.addWidget(self.own_music)
        self.device_note = QLabel("")
        self.device_note.setWordWrap(True)
        right.addWidget(self.device_note)

        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.begin = _big("I'm ready — start the session")
        outer.addWidget(self.begin)

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
    """The screen of the session itself. Any key that does not move focus checks in."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 20, 28, 20)
        layout.setSpacing(14)
        self.link = _title("Connecting to your therapist…", 1.3)
        self.link.setAccessibleName("Connection")
        layout.addWidget(self.link)
        self.line = QLabel("")
        self.line.setWordWrap(True)
        self.line.setStyleSheet(f"color: {CALM_DARK['warm']};")
        self.line.hide()
        layout.addWidget(self.line)
        self.request = PulseBanner(CALM_DARK["accent"])
        self.request.setAccessibleName("Check-in request")
        self.request.hide()
        layout.addWidget(self.request)

        middle = QHBoxLayout()
        self.video = VideoView("Your therapist's video will appear here")
        middle.addWidget(self.video, 3)
        side = QVBoxLayout()
        self.ok = _big("I'm OK", "I'm OK — check in", min_height=150)
        font = self.ok.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.ok.setFont(font)
        self.ok.setStyleSheet(
            f"QPushButton {{ background: {CALM_DARK['accent']}; color: {CALM_DARK['accent_text']};"
            " border-radius: 18px; font-size: 28pt; font-weight: bold; }"
            f" QPushButton:focus {{ border: 4px solid {CALM_DARK['text']}; }}"
        )
        side.addWidget(self.ok)
        hint = QLabel("Any key on the keyboard also says you're OK.")
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {CALM_DARK['muted']};")
        side.addWidget(hint)
        self.confirm = QLabel("")
        self.confirm.setWordWrap(True)
        self.confirm.setAccessibleName("Check-in confirmation")
        side.addWidget(self.confirm)
        self.help = HoldButton("I need help", CALM_DARK["danger"])
        self.help.text_color = CALM_DARK["text"]
        side.addWidget(self.help)
        self.grounding = _big("Grounding", "Open grounding exercises", min_height=56)
        side.addWidget(self.grounding)
        side.addStretch(1)
        middle.addLayout(side, 2)
        layout.addLayout(middle, 1)

        self.prompt_box = QWidget()
        prompt_layout = QHBoxLayout(self.prompt_box)
        self.prompt_text = QLabel("")
        self.prompt_text.setWordWrap(True)
        self.prompt_text.setAccessibleName("Grounding prompt")
        font = self.prompt_text.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.prompt_text.setFont(font)
        prompt_layout.addWidget(self.prompt_text, 3)
        self.breathing_slot = QVBoxLayout()
        prompt_layout.addLayout(self.breathing_slot, 1)
        self.prompt_close = _big("Close", "Close the prompt", min_height=48)
        prompt_layout.addWidget(self.prompt_close)
        self.prompt_box.hide()
        layout.addWidget(self.prompt_box)
        self.prompt_list = QListWidget()
        self.prompt_list.setAccessibleName("Grounding exercises")
        for p in PROMPTS:
            item = QListWidgetItem(p.title)
            item.setData(Qt.ItemDataRole.UserRole, p.prompt_id)
            self.prompt_list.addItem(item)
        self.prompt_list.setMaximumHeight(190)
        self.prompt_list.hide()
        layout.addWidget(self.prompt_list)

        music = QHBoxLayout()
        self.music_title = QLabel("Music")
        self.music_title.setAccessibleName("Now playing")
        music.addWidget(self.music_title, 2)
        self.play = _big("Pause", "Play or pause the music", min_height=52)
        self.next = _big("Next", "Next piece of music", min_height=52)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(-40, 0)
        self.volume.setMinimumHeight(44)
        self.volume.setAccessibleName("Music volume")
        self.mute = _big("Mute", "Mute the music", min_height=52)
        self.mute.setCheckable(True)
        for widget in (self.play, self.next, self.volume, self.mute):
            music.addWidget(widget, 1 if widget is not self.volume else 2)
        layout.addLayout(music)

        own = QHBoxLayout()
        self.mic = _big("Mute my microphone", min_height=44)
        self.mic.setCheckable(True)
        self.camera = _big("Turn my camera off", min_height=44)
        self.camera.setCheckable(True)
        self.calm = _big("Reduce motion", min_height=44)
        self.calm.setCheckable(True)
        self.end = _big("End the session", min_height=44)
        for widget in (self.mic, self.camera, self.calm, self.end):
            own.addWidget(widget)
        layout.addLayout(own)
        self.key_check_in: Callable[[], None] = lambda: None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in _NAVIGATION or event.isAutoRepeat():
            super().keyPressEvent(event)
            return
        self.key_check_in()
        event.accept()


class AfterScreen(QWidget):
    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(60, 40, 60, 40)
        layout.addWidget(_title("Thank you. Rest now."))
        gentle = QLabel(
            "Take your time. Drink some water, stay lying down for a while, and let your "
            "support person know how you feel. The music can keep playing."
        )
        gentle.setWordWrap(True)
        layout.addWidget(gentle)
        layout.addWidget(_title("Integration journal", 1.3))
        questions = QLabel("\n".join(f"• {q}" for q in INTEGRATION_PROMPTS))
        questions.setWordWrap(True)
        layout.addWidget(questions)
        self.journal = QPlainTextEdit()
        self.journal.setAccessibleName("Journal entry")
        self.journal.setPlaceholderText("Write as much or as little as you like, now or later.")
        layout.addWidget(self.journal, 1)
        self.save = _big("Save to my journal (encrypted)", min_height=52)
        layout.addWidget(self.save)
        row = QHBoxLayout()
        row.addWidget(QLabel("Remind me of my integration session:"))
        self.reminder = QDateTimeEdit(QDateTime.currentDateTime().addDays(1))
        self.reminder.setCalendarPopup(True)
        self.reminder.setAccessibleName("Integration session reminder")
        row.addWidget(self.reminder)
        self.remind = _big("Set reminder", min_height=44)
        row.addWidget(self.remind)
        layout.addLayout(row)
        self.status = QLabel("")
        self.status.setAccessibleName("Journal status")
        layout.addWidget(self.status)


class PatientWindow(QMainWindow):
    def __init__(self, make_core: Callable[[], RoleCore], data_dir: Path) -> None:
        super().__init__()
        self.make_core = make_core
        self.data_dir = data_dir
        self.core: RoleCore | None = None
        self.passphrase: str | None = None
        self.own_music_path: Path | None = None
        self._last_checkin = 0.0
        self._visited: list[QWidget] = []
        self._in_session = False
        self._breathing: BreathingGuide | None = None
        self.setWindowTitle("Companion")
        theme_window(self, CALM_DARK, scale=1.4)
        c = CALM_DARK
        base = QApplication.font().pointSizeF()
        size = (base if base > 0 else 10.0) * 1.4
        # Style sheets ignore a window's own palette, so the dark theme is spelled out here
        # (the other windows may share the application and its light palette).
        self.setStyleSheet(
            f"QMainWindow, QStackedWidget > QWidget, QScrollArea, QScrollArea > QWidget > QWidget"
            f" {{ background: {c['window']}; }}"
            f" QWidget {{ font-size: {size:.1f}pt; }}"
            f" QLabel, QCheckBox {{ color: {c['text']}; }}"
            f" QPushButton {{ background: {c['panel']}; color: {c['text']};"
            f" border: 1px solid {c['muted']}; border-radius: 10px; padding: 8px; }}"
            f" QPushButton:checked {{ background: #2b3440; }}"
            f" QLineEdit, QPlainTextEdit, QListWidget, QDateTimeEdit {{ background: {c['panel']};"
            f" color: {c['text']}; border: 1px solid {c['muted']}; border-radius: 6px; }}"
            " QCheckBox::indicator { width: 22px; height: 22px; border-radius: 4px;"
            f" border: 2px solid {c['muted']}; }}"
            f" QCheckBox::indicator:checked {{ background: {c['accent']}; }}"
            f" QPushButton:focus, QLineEdit:focus {{ border: 3px solid {c['accent']}; }}"
        )
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.join_screen = JoinScreen()
        self.prepare_screen = PrepareScreen()
        self.session_screen = SessionScreen()
        self.after_screen = AfterScreen()
        for screen in (self.join_screen, self.prepare_screen, self.session_screen,
                       self.after_screen):  # fmt: skip
            self.stack.addWidget(screen)
        self._show(self.join_screen)
        self._wire()
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self.confirm_close: Callable[[], bool] = self._ask_before_closing

    # -- navigation

    def _show(self, screen: QWidget) -> None:
        self.stack.setCurrentWidget(screen)
        if screen not in self._visited:
            self._visited.append(screen)

    def _wire(self) -> None:
        j, p, s, a = self.join_screen, self.prepare_screen, self.session_screen, self.after_screen
        j.join.clicked.connect(lambda: spawn(self.join(j.code.text())))
        j.code.returnPressed.connect(j.join.click)
        p.begin.clicked.connect(lambda: spawn(self.begin_session()))
        p.test_sound.clicked.connect(self._test_sound)
        p.own_music.clicked.connect(self._choose_music)
        s.ok.clicked.connect(lambda: self.check_in("button"))
        s.key_check_in = lambda: self.check_in("key")
        s.help.held.connect(lambda: spawn(self._help()))
        s.grounding.clicked.connect(lambda: s.prompt_list.setVisible(not s.prompt_list.isVisible()))
        s.prompt_list.itemActivated.connect(
            lambda item: self.show_prompt(str(item.data(Qt.ItemDataRole.UserRole)))
        )
        s.prompt_list.itemClicked.connect(
            lambda item: self.show_prompt(str(item.data(Qt.ItemDataRole.UserRole)))
        )
        s.prompt_close.clicked.connect(self._close_prompt)
        s.play.clicked.connect(self._play_pause)
        s.next.clicked.connect(self._next_track)
        s.volume.valueChanged.connect(
            lambda db: self.core.set_music_volume(float(db)) if self.core else None
        )
        s.mute.toggled.connect(self._mute)
        s.mic.toggled.connect(self._mic)
        s.camera.toggled.connect(self._camera)
        s.calm.toggled.connect(self._reduce_motion)
        s.end.clicked.connect(self._end_clicked)
        a.save.clicked.connect(lambda: spawn(self._save_journal()))
        a.remind.clicked.connect(self._save_reminder)

    # -- join

    async def join(self, code: str) -> bool:
        """Connect and join with a link or a code; on success, the preparation screen."""
        from companion.app import link_details

        screen = self.join_screen
        code = code.strip()
        if not code:
            screen.message.setText("Type the code your therapist gave you, or paste the link.")
            return False
        screen.join.setEnabled(False)
        screen.message.setText("Connecting…")
        server = link_details(code)[0] or screen.server.text().strip()
        try:
            if self.core is None:
                self.core = self.make_core()
                if server and server not in self.core.server_urls:
                    self.core = RoleCore("patient", server, self.core.options)
            core = self.core
            if core.signaling.state != "online":
                await core.connect()
            await core.join(code)
        except ProtocolError as exc:
            screen.message.setText(
                f"{exc.message} Check the code, or ask your therapist for a new one."
            )
            return False
        except (OSError, ConnectionError, TimeoutError):
            screen.message.setText(
                "The clinic's server could not be reached. Check your internet connection "
                "and try again in a moment."
            )
            if self.core is not None:
                await self.core.close()
            self.core = None
            return False
        finally:
            screen.join.setEnabled(True)
        screen.message.setText("")
        self._show(self.prepare_screen)
        self.prepare_screen.emergency.setFocus()
        return True

    # -- prepare

    def _choose_music(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of music")
        if folder:
            self.own_music_path = Path(folder)
            self.prepare_screen.device_note.setText(
                "Your music will play in the session. Anything that cannot play is skipped."
            )

    def _test_sound(self) -> None:
        core = self.core
        if core is not None and core.audio is not None:
            core.audio.play_chime(ChimeKind.CHECK_IN)
            self.prepare_screen.device_note.setText("You should hear two soft notes.")
        else:
            self.prepare_screen.device_note.setText(
                "Sound starts with the session (the test sound needs the session's audio)."
            )

    async def begin_session(self) -> None:
        core = self.core
        if core is None:
            return
        p = self.prepare_screen
        p.begin.setEnabled(False)
        try:
            await core.start()
        finally:
            p.begin.setEnabled(True)
        self._observe(core)
        if self.own_music_path is not None:
            core.add_music(self.own_music_path)
        card = p.card()
        if any(v for k, v in card.model_dump().items() if k != "kind"):
            await core.share_card(card)
        intention = p.intention.toPlainText().strip()
        if intention:
            await self._keep_private(NoteKind.INTENTION, intention)
            if p.share_intention.isChecked():
                await core.share_intention(intention[:2000])
        self._in_session = True
        self._show(self.session_screen)
        self.session_screen.ok.setFocus()
        self._ticker.start()

    def _observe(self, core: RoleCore) -> None:
        s = self.session_screen
        core.link_changed.connect(s.link.setText)
        core.patient_line.connect(self._calm_line)
        core.checkin_requested.connect(self._requested)
        core.prompt_pushed.connect(self.show_prompt)
        core.music_changed.connect(self._music)
        core.session_ended.connect(self._ended)
        core.notice.connect(self._notice)
        wire_video(core, s.video, self.prepare_screen.self_view)
        if core.audio is not None:
            s.volume.setValue(round(core.audio.volume_db))

    # -- the session

    def check_in(self, source: str) -> None:
        core = self.core
        if core is None or not self._in_session:
            return
        now = time.monotonic()
        if now - self._last_checkin < CHECKIN_DEBOUNCE_S:
            return
        self._last_checkin = now
        spawn(core.check_in("key" if source == "key" else "button"))
        s = self.session_screen
        s.request.stop()
        s.confirm.setText("Sent — your therapist can see you're OK.")
        QTimer.singleShot(6000, lambda: s.confirm.setText(""))

    async def _help(self) -> None:
        if self.core is not None:
            # The calm line that answers comes from the ladder (``patient_line``).
            await self.core.help_held()

    def _notice(self, text: str) -> None:
        # Plain notes (a skipped music file, a changed output): shown quietly, never sounded.
        self.session_screen.confirm.setText(text)

    def _calm_line(self, text: str) -> None:
        line = self.session_screen.line
        line.setText(text)
        line.show()

    def _requested(self, _request_id: str) -> None:
        self.session_screen.request.start(
            "Your therapist is checking in. Press “I'm OK” or any key when you're ready."
        )

    def show_prompt(self, prompt_id: str) -> None:
        found: Prompt | None = prompt(prompt_id)
        if found is None:
            return
        s = self.session_screen
        s.prompt_text.setText(f"<b>{found.title}</b><br>" + "<br>".join(found.lines))
        if self._breathing is not None:
            self._breathing.deleteLater()
            self._breathing = None
        if found.breathing is not None:
            self._breathing = BreathingGuide(found.breathing)
            self._breathing.text_color = CALM_DARK["text"]
            self._breathing.reduced_motion = s.calm.isChecked()
            s.breathing_slot.addWidget(self._breathing)
        s.prompt_list.hide()
        s.prompt_box.show()

    def _close_prompt(self) -> None:
        self.session_screen.prompt_box.hide()
        if self._breathing is not None:
            self._breathing.deleteLater()
            self._breathing = None
        self.session_screen.ok.setFocus()

    def _music(self, status: MusicStatus) -> None:
        s = self.session_screen
        s.music_title.setText(f"♪ {status.title}" if status.title else "Music")
        s.play.setText("Pause" if status.playing else "Play")

    def _play_pause(self) -> None:
        audio = self.core.audio if self.core else None
        if audio is None:
            return
        status = audio.status()
        (audio.pause if status.playing else audio.play)()

    def _next_track(self) -> None:
        if self.core is not None and self.core.audio is not None:
            self.core.audio.next()

    def _mute(self, muted: bool) -> None:
        if self.core is not None:
            self.core.set_music_muted(muted)
        self.session_screen.mute.setText("Unmute" if muted else "Mute")

    def _mic(self, muted: bool) -> None:
        if self.core is not None:
            self.core.set_mic_muted(muted)
        self.session_screen.mic.setText("Unmute my microphone" if muted else "Mute my microphone")

    def _camera(self, off: bool) -> None:
        if self.core is not None:
            self.core.set_camera_enabled(not off)
        self.session_screen.camera.setText("Turn my camera on" if off else "Turn my camera off")

    def _reduce_motion(self, on: bool) -> None:
        self.session_screen.request.reduced_motion = on
        if self._breathing is not None:
            self._breathing.reduced_motion = on

    def _tick(self) -> None:
        if self._breathing is not None:
            label, left, _ = self._breathing.step()
            self._breathing.setAccessibleDescription(f"{label}, {left}")

    def _end_clicked(self) -> None:
        answer = QMessageBox.question(
            self,
            "End the session?",
            "End the session now? Your therapist will be told.",
            QMessageBox.StandardButton.No | QMessageBox.StandardButton.Yes,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes and self.core is not None:
            spawn(self.core.end_session())

    def _ended(self) -> None:
        self._in_session = False
        self._ticker.stop()
        self._show(self.after_screen)

    # -- after

    async def _keep_private(self, kind: NoteKind, text: str) -> bool:
        core = self.core
        if core is None or core.records is None:
            return False
        journal = Journal(core.records)
        try:
            await journal.unlock(self.passphrase)
        except NeedsPassphrase:
            passphrase, ok = QInputDialog.getText(
                self,
                "Protect your private words",
                "This computer has no keyring. Choose a passphrase (at least 8 characters) "
                "to keep your intention and journal encrypted:",
                QLineEdit.EchoMode.Password,
            )
            if not ok or len(passphrase) < 8:
                return False
            self.passphrase = passphrase
            await journal.unlock(passphrase)
        await journal.add(core.session_id, kind, text)
        return True

    async def _save_journal(self) -> None:
        a = self.after_screen
        text = a.journal.toPlainText().strip()
        if not text:
            a.status.setText("Nothing to save yet.")
            return
        if await self._keep_private(NoteKind.JOURNAL, text):
            a.journal.clear()
            a.status.setText("Saved, encrypted on this computer.")
        else:
            a.status.setText("Not saved: a passphrase is needed to keep it private.")

    def _save_reminder(self) -> None:
        when = self.after_screen.reminder.dateTime().toSecsSinceEpoch()
        path = self.data_dir / "integration-reminder.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(when), encoding="utf-8")
        self.after_screen.status.setText(
            "Reminder set. Companion will show it when you next open it."
        )

    # -- closing and screenshots

    def _ask_before_closing(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Stay in the session?",
            "You are in a session with your therapist. Closing this window would end the "
            "call. Stay in the session?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.No

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._in_session and not self.confirm_close():
            event.ignore()
            return
        self._in_session = False
        event.accept()

    def save_screenshots(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        current = self.stack.currentWidget()
        names = {self.join_screen: "join", self.prepare_screen: "prepare",
                 self.session_screen: "session", self.after_screen: "after"}  # fmt: skip
        for screen in self._visited:
            self.stack.setCurrentWidget(screen)
            path = folder / f"patient-{names.get(screen, 'screen')}.png"
            self.grab().save(str(path))
            saved.append(path)
        if current is not None:
            self.stack.setCurrentWidget(current)
        return saved


async def wait_closed(window: QMainWindow) -> None:
    while window.isVisible():
        await asyncio.sleep(0.2)
