"""The patient's window: join → prepare → the session → after.

Dark and calm, large type, big targets. During the session any key checks in (so it
works under an eye mask), "I need help" needs a 1.5 s hold, and nothing flashes or
sounds sudden: the core plays only soft chimes, quieter than the music. Nothing here logs
the patient's words (intention, journal, card).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QLocale, QObject, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFileDialog,
    QLineEdit,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from companion.app import CALM_DARK, NoteKind, RoleCore, write_place
from companion.app.joining import JOIN_WITHIN_S, JoinRefused, close_quietly, join_fresh
from companion.app.journal import (
    MIN_PASSPHRASE,
    WRONG_KEY,
    NeedsPassphrase,
    load_settings,
    save_reminder,
    save_setting,
)
from companion.app.prompts import Prompt, prompt
from companion.app.spoken import HELP_KEY_HOLD_S
from companion.i18n import N_, _
from companion.protocol.messages import MusicStatus
from companion.ui.common import ready_to_retype, spawn, theme_window
from companion.ui.patient.screens import (
    NAVIGATION_KEYS,
    AfterScreen,
    JoinScreen,
    PassphraseBox,
    PrepareScreen,
    SessionScreen,
)
from companion.ui.widgets import BreathingGuide

_log = logging.getLogger(__name__)

CHECKIN_DEBOUNCE_S = 3.0
FONT_SCALE = 1.4
SENT = N_("Sent — your therapist can see you're OK.")
OK_NOW = N_("I'm OK now")
MIN_TARGET_PX = 44
"""The smallest button a person may have to hit (WCAG 2.5.5)."""
POWER_CHECK_S = 10.0
"""While preparing, the battery is read again this often (plugged in: the ask goes)."""
PASSPHRASE_FIRST = N_(
    "This computer has no keyring. Choose a passphrase (at least {n} characters) to keep "
    "your words encrypted; you'll need it to read them later."
)
PASSPHRASE_AGAIN = N_("Your passphrase, to keep your words encrypted:")
CLOSE_WORDS = N_(
    "Close Companion? The call stops and your therapist will be told. Opening Companion "
    "again brings you back into this session."
)


def _style(c: dict[str, str]) -> str:
    """Colours and shapes only (sizes come from fonts, so they follow the system's)."""
    return (
        f"QMainWindow, QStackedWidget > QWidget, QScrollArea, QScrollArea > QWidget > QWidget"
        f" {{ background: {c['window']}; }}"
        f" QLabel, QCheckBox {{ color: {c['text']}; }}"
        f' QLabel[tone="muted"] {{ color: {c["muted"]}; }}'
        f' QLabel[tone="warm"] {{ color: {c["warm"]}; }}'
        f' QLabel[tone="accent"] {{ color: {c["accent"]}; }}'
        f" QLabel[panel=true], QFrame[panel=true] {{ background: {c['panel']};"
        f" border: 1px solid {c['muted']}; border-radius: 10px; padding: 12px; }}"
        f" QPushButton {{ background: {c['panel']}; color: {c['text']};"
        f" border: 2px solid {c['muted']}; border-radius: 12px; padding: 6px 14px; }}"
        f" QPushButton:checked {{ background: #2f3a47; border-color: {c['accent']}; }}"
        f" QPushButton:disabled {{ color: {c['muted']}; }}"
        # "I'm OK" is the largest thing on a screen watched in the dark: a dimmer green than
        # the accent, its text still at AA contrast.
        f" QPushButton#ok {{ background: {c['ok']}; color: {c['accent_text']};"
        f" border: 3px solid {c['ok']}; border-radius: 22px; }}"
        f" QPushButton#ok:focus {{ border: 5px solid {c['text']}; }}"
        f" QLineEdit, QPlainTextEdit, QListWidget, QDateTimeEdit {{ background: {c['panel']};"
        f" color: {c['text']}; border: 2px solid {c['muted']}; border-radius: 8px;"
        # Without its own colour a placeholder is the text at half alpha: 4.37:1 on panel.
        f" placeholder-text-color: {c['muted']};"
        f" padding: 6px; selection-background-color: {c['accent']};"
        f" selection-color: {c['accent_text']}; }}"
        # The date's text in the middle of its 44 px box, and an arrow one can see.
        " QDateTimeEdit { padding: 0px 10px; min-height: 44px; }"
        " QDateTimeEdit::drop-down { width: 40px; }"
        " QDateTimeEdit::down-arrow { width: 18px; height: 18px; }"
        f" QListWidget::item {{ padding: 10px 14px; border: 1px solid {c['muted']};"
        f" border-radius: 8px; }}"
        f" QListWidget::item:selected {{ background: {c['accent']}; color: {c['accent_text']}; }}"
        " QCheckBox { spacing: 12px; padding: 4px; border: 2px solid transparent;"
        " border-radius: 6px; }"
        " QCheckBox::indicator { width: 26px; height: 26px; border-radius: 5px;"
        f" border: 2px solid {c['muted']}; background: {c['panel']}; }}"
        f" QCheckBox::indicator:checked {{ background: {c['accent']}; }}"
        f" QProgressBar {{ background: {c['panel']}; border: 2px solid {c['muted']};"
        f" border-radius: 8px; }}"
        f" QProgressBar::chunk {{ background: {c['accent']}; border-radius: 6px; }}"
        f" QSlider::groove:horizontal {{ height: 12px; background: {c['panel']};"
        f" border: 2px solid {c['muted']}; border-radius: 7px; }}"
        f" QSlider::sub-page:horizontal {{ background: {c['accent']}; border-radius: 7px; }}"
        f" QSlider::handle:horizontal {{ background: {c['text']}; width: 30px;"
        f" margin: -11px 0; border-radius: 15px; }}"
        # Focus: a thick accent border on every control, never only a colour change.
        f" QPushButton:focus, QLineEdit:focus, QPlainTextEdit:focus, QListWidget:focus,"
        f" QDateTimeEdit:focus, QCheckBox:focus {{ border: 3px solid {c['accent']}; }}"
        f" QScrollBar:vertical {{ background: {c['window']}; width: 16px; border: none; }}"
        f" QScrollBar::handle:vertical {{ background: {c['muted']}; min-height: 40px;"
        f" border-radius: 7px; margin: 2px; }}"
        " QScrollBar::add-line, QScrollBar::sub-line { height: 0; }"
        f" QSlider:focus {{ border: 3px solid {c['accent']}; border-radius: 8px; }}"
    )


def line_height(widget: QWidget) -> int:
    return widget.fontMetrics().height()


class PatientWindow(QMainWindow):
    def __init__(self, make_core: Callable[[], RoleCore], data_dir: Path) -> None:
        super().__init__()
        self.make_core = make_core
        self.data_dir = data_dir
        self.core: RoleCore | None = None
        self.passphrase: str | None = None
        self.own_music_path: Path | None = None
        self.check_ins_sent = 0
        self._last_checkin = 0.0
        self._visited: list[QWidget] = []
        self._in_session = False
        self._breathing: BreathingGuide | None = None
        self._devices: asyncio.Task[None] | None = None
        self._level: asyncio.Task[None] | None = None
        self._power: asyncio.Task[None] | None = None
        self._observed = False
        self._close_confirmed = False
        self._skip_private = False
        self._ladder_line = ""
        self._device_note = ""
        self.setWindowTitle(_("Companion"))
        self.setAccessibleName(_("Companion, your session"))
        theme_window(self, CALM_DARK, scale=FONT_SCALE)
        self.setStyleSheet(_style(CALM_DARK))
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)
        self.join_screen = JoinScreen()
        self.prepare_screen = PrepareScreen()
        self.session_screen = SessionScreen()
        self.after_screen = AfterScreen()
        for screen in (
            self.join_screen,
            self.prepare_screen,
            self.session_screen,
            self.after_screen,
        ):
            self.stack.addWidget(screen)
        self._show(self.join_screen)
        self._wire()
        self._watch_keys()
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self._confirm_timer = QTimer(self)
        self._confirm_timer.setSingleShot(True)
        self._confirm_timer.timeout.connect(lambda: self.session_screen.confirm.setText(""))
        # Holding the space bar asks for help; a shorter press is "I'm OK" (on release).
        self._help_key = QTimer(self)
        self._help_key.setSingleShot(True)
        # A coarse timer (Qt's default) may fire 5 % early: 2.85 s, seen in a full run.
        self._help_key.setTimerType(Qt.TimerType.PreciseTimer)
        self._help_key.setInterval(round(HELP_KEY_HOLD_S * 1000))
        self._help_key.timeout.connect(self._help)
        self.confirm_close: Callable[[], bool] = self._ask_before_closing
        """True to close during a session (tests and the demo replace the question)."""
        self.clock: Callable[[], float] = time.monotonic
        """The check-in's 3 s clock (tests move it on rather than wait)."""
        if load_settings(data_dir).get("reduced_motion"):
            self.session_screen.calm.setChecked(True)
        self.apply_fonts()

    # -- type sizes follow the system font

    def apply_fonts(self) -> None:
        base = QApplication.font().pointSizeF()
        font = QFont(self.font())
        font.setPointSizeF((base if base > 0 else 10.0) * FONT_SCALE)
        self.setFont(font)
        # Style-sheeted widgets do not inherit the window's font, so each gets its own.
        for widget in self.findChildren(QWidget):
            scale = widget.property("scale")
            wfont = QFont(font)
            if isinstance(scale, float):
                wfont.setPointSizeF(font.pointSizeF() * scale)
                wfont.setBold(bool(widget.property("bold")))
            widget.setFont(wfont)
        for button in self.findChildren(QAbstractButton):
            lines = button.property("lines")
            if isinstance(lines, float):
                button.setMinimumHeight(
                    max(MIN_TARGET_PX, round(button.fontMetrics().height() * lines))
                )
        line = self.fontMetrics().height()
        for edit in self.findChildren(QLineEdit):
            edit.setMinimumHeight(round(edit.fontMetrics().height() * 1.9))
        self.prepare_screen.intention.setMinimumHeight(line * 4)
        s = self.session_screen
        s.line.setMinimumHeight(s.line.fontMetrics().height() * 2)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ApplicationFontChange:
            self.apply_fonts()
        super().changeEvent(event)

    # -- navigation

    def _show(self, screen: QWidget) -> None:
        self.stack.setCurrentWidget(screen)
        if screen not in self._visited:
            self._visited.append(screen)

    def _wire(self) -> None:
        j, p, s, a = self.join_screen, self.prepare_screen, self.session_screen, self.after_screen
        j.join.clicked.connect(lambda: spawn(self.join(j.code.text())))
        j.code.returnPressed.connect(j.join.click)
        p.begin.clicked.connect(lambda: spawn(self.begin_session(), self._begin_failed))
        p.test_sound.clicked.connect(self._test_sound)
        p.own_music.clicked.connect(self._choose_music)
        p.skip_private.clicked.connect(self._start_without_private)
        s.ok.clicked.connect(lambda: self.check_in("button"))
        s.key_check_in = lambda: self.check_in("key")
        s.help.held.connect(self._help)
        s.grounding.toggled.connect(self._toggle_prompts)
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
            lambda db: self.core.devices.set_music_volume(float(db)) if self.core else None
        )
        s.mute.toggled.connect(self._mute)
        s.mic.toggled.connect(self._mic)
        s.camera.toggled.connect(self._camera)
        s.calm.toggled.connect(self._reduce_motion)
        s.end.clicked.connect(self._end_clicked)
        s.end_question.answered.connect(self._end_answered)
        s.close_question.answered.connect(self._close_answered)
        a.save.clicked.connect(lambda: spawn(self._save_journal()))
        a.remind.clicked.connect(self._save_reminder)

    # -- join

    async def join(self, code: str, within_s: float = JOIN_WITHIN_S) -> bool:
        """Connect and join with a link or a code; on success, the preparation screen.

        Never hangs: within ``within_s`` the patient is in, or reads why not. Each try
        starts from a fresh connection, so a server corrected after a failure is used."""
        screen = self.join_screen
        code = code.strip()
        if not code:
            screen.say(_("Type the code your therapist gave you, or paste the link."))
            return False
        screen.join.setEnabled(False)
        screen.say(_("Connecting…"))
        await self._drop_core()
        try:
            core = await join_fresh(self.make_core(), code, screen.server.text(), within_s)
        except JoinRefused as exc:
            screen.say(exc.sentence)
            if exc.ask_server:
                screen.server_box.show()
            ready_to_retype(screen.server if exc.ask_server else screen.code)
            if exc.forget:  # not a place to go back to on the next start
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(write_place, self.data_dir, None)
            return False
        finally:
            screen.join.setEnabled(True)
        self.core = core
        screen.know_server(core.server_urls[0])
        screen.say("")
        self._show(self.prepare_screen)
        self.prepare_screen.checks[0].setFocus()
        self._devices = asyncio.ensure_future(self._open_devices(core))
        return True

    async def _drop_core(self) -> None:
        core, self.core = self.core, None
        await close_quietly(core)

    # -- prepare: the device check

    async def _watch_power(self, core: RoleCore) -> None:
        """While preparing: ask to plug in on battery, and stop asking once plugged in."""
        note = self.prepare_screen.power_note
        while True:
            words = await core.plug_in_advice()
            note.setText(words or "")
            note.setVisible(words is not None)
            await asyncio.sleep(POWER_CHECK_S)

    async def _open_devices(self, core: RoleCore) -> None:
        p = self.prepare_screen
        self._power = asyncio.ensure_future(self._watch_power(core))
        core.notice.connect(self._notice)
        try:
            await core.open_devices()
        except Exception:  # a device that will not open must not stop the session
            p.device_note.setText(
                _("Your devices could not be checked here; the session can still start.")
            )
            return
        own = core.devices.self_view()
        if own is not None:
            own.frame_ready.connect(p.self_view.show_frame)
        if not core.devices.has_microphone:
            p.no_microphone(
                _(
                    "No microphone was found. That's all right: you can still hear your "
                    "therapist and press “I'm OK”."
                )
            )
        else:
            self._level = asyncio.ensure_future(
                core.devices.watch_mic_level(lambda v: p.mic_level.setValue(round(v * 100)))
            )
        p.voice.bind_core(core)
        if core.devices.music_volume_db is not None:
            self.session_screen.volume.setValue(round(core.devices.music_volume_db))

    def _choose_music(self) -> None:
        # open(), not getExistingDirectory(): no nested event loop under the call's tasks.
        dialog = QFileDialog(self, _("Choose a folder of music"))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(self._music_chosen)
        dialog.open()

    def _music_chosen(self, folder: str) -> None:
        if folder:
            self.own_music_path = Path(folder)
            self.prepare_screen.device_note.setText(
                _("Your music will play in the session. Anything that cannot play is skipped.")
            )

    def _test_sound(self) -> None:
        if self.core is not None and self.core.devices.test_sound():
            self.prepare_screen.device_note.setText(
                _("You should hear two soft notes. If not, check your headphones' volume.")
            )
        else:
            self.prepare_screen.device_note.setText(
                _("Sound is not ready yet — try again in a moment.")
            )

    def _start_without_private(self) -> None:
        self._skip_private = True
        spawn(self.begin_session(), self._begin_failed)

    def _begin_failed(self, exc: BaseException) -> None:
        self.prepare_screen.device_note.setText(
            _("The session could not start just now. Please press the button again.")
        )

    async def begin_session(self) -> None:
        """From Prepare to the session screen: starts the call, shares the card (and the
        intention, if the patient chose), keeps the intention encrypted."""
        core = self.core
        if core is None:
            return
        p = self.prepare_screen
        intention = p.intention.toPlainText().strip()
        p.begin.setEnabled(False)
        try:
            # Anything needing an answer is asked here, before the session: during it a
            # question would cover "I'm OK".
            if intention and not self._skip_private and not await self._unlocked(p.passphrase):
                p.skip_private.show()
                p.passphrase.edit.setFocus()
                # Once the layout has placed the new rows: scroll them into view.
                QTimer.singleShot(50, lambda: p.scroll_area.ensureWidgetVisible(p.skip_private))
                return
            if self._devices is not None:
                try:
                    await self._devices
                except Exception as exc:  # the session starts anyway: devices fall back
                    _log.warning("device check did not finish: %s", type(exc).__name__)
            await core.start()
        finally:
            p.begin.setEnabled(True)
        core.note_session_began()
        self._stop_level()
        self._observe(core)
        if self.own_music_path is not None:
            core.devices.add_music(self.own_music_path)
        self._in_session = True
        self._show(self.session_screen)
        self.session_screen.ok.setFocus()
        core.welcome()
        p.passphrase.hide()
        p.skip_private.hide()
        self._ticker.start()
        card = p.card()
        if any(v for k, v in card.model_dump().items() if k != "kind"):
            await core.share_card(card)
        if intention and not self._skip_private:
            await self._keep_private(NoteKind.INTENTION, intention)
            if p.share_intention.isChecked():
                await core.share_intention(intention[:2000])

    def _stop_level(self) -> None:
        """The preparation's watchers (the microphone's level, the battery) stop."""
        for task in (self._level, self._power):
            if task is not None:
                task.cancel()
        self._level = self._power = None

    def _observe(self, core: RoleCore) -> None:
        if self._observed:
            return
        self._observed = True
        s = self.session_screen
        core.link_changed.connect(s.link.setText)
        core.patient_line.connect(self._calm_line)
        core.checkin_requested.connect(self._requested)
        core.prompt_pushed.connect(self.show_prompt)
        core.music_changed.connect(self._music)
        core.session_ended.connect(self._ended)
        core.help_answered.connect(self._help_answered)
        if core.remote_video is not None:
            core.remote_video.frame_ready.connect(s.video.show_frame)
        if core.devices.music_volume_db is not None:
            s.volume.setValue(round(core.devices.music_volume_db))

    # -- the session

    def check_in(self, source: str) -> None:
        """ "I'm OK" (the button or any key); at most one every 3 s, however long a key is
        held or however often it is pressed."""
        core = self.core
        if core is None or not self._in_session:
            return
        s = self.session_screen
        s.request.stop()
        s.ok.setText(_("I'm OK"))
        s.confirm.setText(_(SENT))
        self._confirm_timer.start(8000)
        now = self.clock()
        if now - self._last_checkin < CHECKIN_DEBOUNCE_S:
            return
        self._last_checkin = now
        self.check_ins_sent += 1
        spawn(core.check_in("key" if source == "key" else "button"))

    @property
    def breathing_guide(self) -> BreathingGuide | None:
        """The breathing prompt's guide while one is shown."""
        return self._breathing

    def _help(self) -> None:
        s = self.session_screen
        s.confirm.setText(
            _("You asked for help. Your therapist and support person are being told.")
        )
        self._confirm_timer.stop()  # stays until someone answers
        s.ok.setText(_(OK_NOW))
        if self.core is not None:
            # The calm line that follows comes from the ladder (``patient_line``).
            spawn(self.core.help_held())

    def _help_answered(self, who: str) -> None:
        """Someone answered the call for help: the patient is told, and "I'm OK now" is
        the big button (pressing it checks in)."""
        s = self.session_screen
        card = self.core.facts.card if self.core is not None else None
        name = " ".join(card.support_name.split()) if card is not None else ""
        s.confirm.setText(
            (
                _("{name} is coming to you.").format(name=name)
                if name
                else _("Your support person is coming to you.")
            )
            if who == "support"
            else _("Your therapist has seen your call for help and is with you.")
        )
        s.ok.setText(_(OK_NOW))

    def _notice(self, text: str) -> None:
        # Plain notes (no camera, a skipped music file, a changed output): shown quietly,
        # and never over what the ladder says about the therapist's link.
        if self.stack.currentWidget() is self.session_screen:
            self._device_note = text
            self._show_line()
        else:
            self.prepare_screen.device_note.setText(text)

    def _calm_line(self, text: str) -> None:
        """The ladder's calm words (the link dropped, help is coming): they come first."""
        self._ladder_line = text
        self._show_line()

    def _show_line(self) -> None:
        text = self._ladder_line or self._device_note
        line = self.session_screen.line
        line.setText(text)
        line.setVisible(bool(text))

    def _requested(self, _request_id: str) -> None:
        s = self.session_screen
        s.request.reduced_motion = s.calm.isChecked()
        s.request.start(
            _("Your therapist is checking in. When you're ready, press “I'm OK” or any key.")
        )
        s.place_request()

    def _toggle_prompts(self, shown: bool) -> None:
        s = self.session_screen
        s.prompt_list.setVisible(shown)
        if shown:
            s.prompt_list.setFocus()
            if s.prompt_list.currentRow() < 0:
                s.prompt_list.setCurrentRow(0)

    def show_prompt(self, prompt_id: str) -> None:
        found: Prompt | None = prompt(prompt_id)
        if found is None:
            return
        s = self.session_screen
        s.prompt_text.setText(f"<b>{found.title}</b><br>" + "<br>".join(found.lines))
        s.prompt_text.setAccessibleDescription(" ".join((found.title, *found.lines)))
        if self._breathing is not None:
            self._breathing.deleteLater()
            self._breathing = None
            if self.core is not None:
                self.core.stop_breathing()
        if found.breathing is not None:
            guide = BreathingGuide(found.breathing)
            if self.core is not None:
                self.core.start_breathing(found.breathing)  # spoken on the guide's clock
            guide.text_color = CALM_DARK["text"]
            guide.reduced_motion = s.calm.isChecked()
            guide.setFont(s.prompt_text.font())
            guide.setPalette(self.palette())
            guide.setMinimumSize(round(line_height(self) * 9), round(line_height(self) * 9))
            s.breathing_slot.addWidget(guide)
            self._breathing = guide
        s.grounding.setChecked(False)
        s.prompt_box.show()

    def _close_prompt(self) -> None:
        self.session_screen.prompt_box.hide()
        if self._breathing is not None:
            self._breathing.deleteLater()
            self._breathing = None
        if self.core is not None:
            self.core.stop_breathing()
        self.session_screen.ok.setFocus()

    def _music(self, status: MusicStatus) -> None:
        s = self.session_screen
        s.music_title.setText(f"♪  {status.title}" if status.title else _("Music"))
        s.play.setText(_("Pause") if status.playing or s.mute.isChecked() else _("Play"))

    def _play_pause(self) -> None:
        playing = self.core.devices.play_pause() if self.core is not None else None
        if playing is None:
            return
        self.session_screen.play.setText(_("Pause") if playing else _("Play"))

    def _next_track(self) -> None:
        if self.core is not None:
            self.core.devices.next_track()

    def _mute(self, muted: bool) -> None:
        if self.core is not None:
            self.core.devices.set_music_muted(muted)
        self.session_screen.mute.setText(_("Unmute music") if muted else _("Mute music"))

    def _mic(self, muted: bool) -> None:
        if self.core is not None:
            self.core.set_mic_muted(muted)
        self.session_screen.mic.setText(
            _("Unmute my microphone") if muted else _("Mute my microphone")
        )

    def _camera(self, off: bool) -> None:
        if self.core is not None:
            self.core.set_camera_enabled(not off)
        self.session_screen.camera.setText(
            _("Turn my camera on") if off else _("Turn my camera off")
        )

    def _reduce_motion(self, on: bool) -> None:
        s = self.session_screen
        s.request.reduced_motion = on
        s.request.update()
        if self._breathing is not None:
            self._breathing.reduced_motion = on
            self._breathing.update()
        s.calm.setText(_("Motion reduced") if on else _("Reduce motion"))
        save_setting(self.data_dir, "reduced_motion", on)

    def _tick(self) -> None:
        if self._breathing is not None:
            label, left, _full = self._breathing.step()
            self._breathing.setAccessibleDescription(f"{label}, {left}")

    def _end_clicked(self) -> None:
        s = self.session_screen
        s.ask(s.end_question, _("End the session now? Your therapist will be told."))

    def _end_answered(self, end: bool) -> None:
        if end and self.core is not None:
            spawn(self.core.end_session())
        else:
            self.session_screen.ok.setFocus()

    def _ended(self) -> None:
        self._in_session = False
        self._ticker.stop()
        self.session_screen.request.stop()
        a = self.after_screen
        core = self.core
        by_therapist = core is not None and any(
            e.kind == "session.end" and e.who == "therapist" for e in core.facts.timeline
        )
        if by_therapist:
            a.why.setText(_("Your therapist has ended the session."))
            a.why.show()
        self._show(a)
        a.journal.setFocus()

    # -- after

    async def _unlocked(self, box: PassphraseBox) -> bool:
        """The records can take private words: unlocked by the keyring, by the passphrase
        of this sitting, or by the one typed in ``box``; else ``box`` asks for one (on the
        screen) and this returns False."""
        core = self.core
        if core is None:
            return False
        journal = await core.journal()
        if journal.unlocked:
            return True
        typed = box.edit.text()
        try:
            try:
                await journal.unlock(self.passphrase)
            except NeedsPassphrase as exc:
                first = str(exc) == "KeyringUnavailable"
                if len(typed) < MIN_PASSPHRASE:
                    box.ask(
                        _(PASSPHRASE_FIRST).format(n=MIN_PASSPHRASE)
                        if first
                        else _(PASSPHRASE_AGAIN)
                    )
                    return False
                await journal.unlock(typed)
                self.passphrase = typed
        except WRONG_KEY:
            box.edit.clear()
            box.ask(_("That passphrase does not open your private words. Try again."))
            return False
        box.hide()
        return True

    async def _keep_private(self, kind: NoteKind, text: str) -> bool:
        core = self.core
        if core is None:
            return False
        journal = await core.journal()
        if not journal.unlocked:
            return False
        await journal.add(core.session_id, kind, text)
        return True

    async def _save_journal(self) -> None:
        a = self.after_screen
        text = a.journal.toPlainText().strip()
        if not text:
            a.status.setText(_("Nothing to save yet — write whenever you like."))
            return
        if await self._unlocked(a.passphrase) and await self._keep_private(NoteKind.JOURNAL, text):
            a.journal.clear()
            a.status.setText(_("Saved, encrypted on this computer."))
        else:
            a.status.setText(
                _(
                    "Not saved yet: a passphrase is needed to keep it private (above). Your "
                    "words are still here."
                )
            )

    def _save_reminder(self) -> None:
        a = self.after_screen
        when = a.reminder.dateTime()
        save_reminder(self.data_dir, float(when.toSecsSinceEpoch()))
        a.reminder_status.setText(
            _("Reminder set for {when}. Companion will show it when you next open it.").format(
                when=QLocale().toString(when, _("dddd d MMMM, HH:mm"))
            )
        )

    # -- keys anywhere in the session check in

    def _watch_keys(self) -> None:
        """Keys that need no eyes, whatever has focus: any key checks in (Space on "Next"
        moves the music on *and* says "I'm OK"); Up and Down make the music louder or
        softer; the space bar held for 3 s asks for help, a shorter press checks in when
        it is let go. The help button's own Space is its own hold, never a check-in."""
        self.session_screen.installEventFilter(self)
        for widget in self.session_screen.findChildren(QWidget):
            if widget is not self.session_screen.help:
                widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
            or not isinstance(event, QKeyEvent)
            or event.isAutoRepeat()
            or not self._in_session
            or self.stack.currentWidget() is not self.session_screen
        ):
            return False
        key, pressed = event.key(), event.type() == QEvent.Type.KeyPress
        if (
            key in (Qt.Key.Key_Up, Qt.Key.Key_Down)
            and watched is not self.session_screen.prompt_list
        ):
            if pressed and self.core is not None:
                db = self.core.music_step(up=key == Qt.Key.Key_Up)
                if db is not None:
                    self.session_screen.volume.setValue(round(db))
            return True  # the slider or a button does not move as well
        if key == Qt.Key.Key_Space:
            return self._space(pressed, watched)
        if pressed and key not in NAVIGATION_KEYS:
            self.check_in("key")
        return watched is self.session_screen and pressed  # the screen's own check-in once

    def _space(self, pressed: bool, watched: QObject) -> bool:
        if pressed:
            self._help_key.start()
            return watched is self.session_screen
        if self._help_key.isActive():
            self._help_key.stop()
            self.check_in("key")
            return watched is self.session_screen
        # Held for help: the focused button must not act on the release as well.
        if isinstance(watched, QAbstractButton):
            watched.setDown(False)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # A key the focused control left unhandled (or with no control focused): the same
        # keys as anywhere on the session screen.
        if self._in_session and self.stack.currentWidget() is self.session_screen:
            if not self.eventFilter(self.session_screen, event):
                self.session_screen.keyPressEvent(event)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if self._in_session and self.stack.currentWidget() is self.session_screen:
            self.eventFilter(self.session_screen, event)
            return
        super().keyReleaseEvent(event)

    # -- closing and screenshots

    def _ask_before_closing(self) -> bool:
        """Closing during a session asks first, inside the window ("Stay in the session"
        focused); "Close Companion" then really closes."""
        if self._close_confirmed:
            return True
        self._show(self.session_screen)
        s = self.session_screen
        s.ask(s.close_question, _(CLOSE_WORDS))
        self.raise_()
        self.activateWindow()
        return False

    def _close_answered(self, close: bool) -> None:
        if close:
            self._close_confirmed = True
            self.close()
        else:
            self.session_screen.ok.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._in_session and not self.confirm_close():
            event.ignore()
            return
        self._in_session = False
        self._stop_level()
        self._ticker.stop()
        event.accept()

    def save_screenshots(self, folder: Path) -> list[Path]:
        """Grabs each screen the window has been through (or the current one)."""
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        current = self.stack.currentWidget() or self.join_screen
        names = {
            self.join_screen: "join",
            self.prepare_screen: "prepare",
            self.session_screen: "session",
            self.after_screen: "after",
        }
        for screen in self._visited or [current]:
            self.stack.setCurrentWidget(screen)
            path = folder / f"patient-{names.get(screen, 'screen')}.png"
            self.grab().save(str(path))
            saved.append(path)
        self.stack.setCurrentWidget(current)
        return saved


async def wait_closed(window: QMainWindow) -> None:
    while window.isVisible():
        await asyncio.sleep(0.2)
