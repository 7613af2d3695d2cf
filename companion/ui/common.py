"""What every window shares: the qasync loop, themes, the video view, running coroutines
from buttons, and a meter of the UI loop's lag.

The core emits its Signals on the asyncio loop, which under qasync *is* the Qt thread, so
widgets may be touched straight from those callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import numpy as np
import qasync
from PySide6.QtCore import (
    QEvent,
    QMessageLogContext,
    QObject,
    QRectF,
    QSocketNotifier,
    Qt,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from companion.app import (
    CALM_DARK,
    ProcessingSettings,
    RoleCore,
    TaskSet,
    quiet_lost_data_channel_sends,
)
from companion.i18n import _

_log = logging.getLogger(__name__)
# qasync logs every callback handed to a worker thread, with its arguments, at DEBUG: the
# words of a note being saved, a phone number being stored. Not in our log, even --debug.
logging.getLogger("qasync").setLevel(logging.INFO)


def apply_theme(app: QApplication, colors: dict[str, str], scale: float = 1.0) -> None:
    """Palette + a base font ``scale`` × the system's (so text follows the system size)."""
    app.setPalette(make_palette(colors))
    font = QFont(app.font())
    size = font.pointSizeF() if font.pointSizeF() > 0 else 10.0
    font.setPointSizeF(size * scale)
    app.setFont(font)


def card_style(name: str, colors: dict[str, str], radius: int = 8, padding: int = 0) -> str:
    """The style sheet of a white card named ``name`` (its object name), text colour
    included: under a style sheet, text follows the application's palette, not the
    window's theme, so a card in a light window would be unreadable under a dark app."""
    pad = f" padding: {padding}px;" if padding else ""
    return (
        f"#{name} {{ background: {colors['panel']}; color: {colors['text']};"
        f" border: 1px solid #d5dbe2; border-radius: {radius}px;{pad} }}"
        f" #{name} QLabel {{ color: {colors['text']}; }}"
    )


def theme_window(window: QWidget, colors: dict[str, str], scale: float = 1.0) -> None:
    """The same for one window (the patient's stays dark and large beside other windows)."""
    window.setPalette(make_palette(colors))
    window.setAutoFillBackground(True)
    font = QFont(window.font())
    size = font.pointSizeF() if font.pointSizeF() > 0 else 10.0
    font.setPointSizeF(size * scale)
    window.setFont(font)


def ready_to_retype(field: QLineEdit) -> None:
    """After a refused join, the field to correct has the focus, its text selected: the
    Join button, disabled while trying, had passed the focus on (to the server address,
    which the next code typed then replaced)."""
    field.setFocus()
    field.selectAll()


def fit_to_screen(window: QWidget, width: int, height: int) -> None:
    """Open at ``width``×``height``, or smaller where the screen's free area is (the
    console opened at 1400×880, past a 1366×768 laptop's screen)."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is not None:
        free = screen.availableGeometry()
        # The window manager adds a title bar and borders outside the window's own size.
        width, height = min(width, free.width() - 8), min(height, free.height() - 40)
    window.resize(width, height)


def make_palette(colors: dict[str, str]) -> QPalette:
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(colors["window"]))
    palette.setColor(QPalette.ColorRole.Base, QColor(colors["panel"]))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor(colors["window"]))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(colors["text"]))
    palette.setColor(QPalette.ColorRole.Text, QColor(colors["text"]))
    palette.setColor(QPalette.ColorRole.Button, QColor(colors["panel"]))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(colors["text"]))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(colors["accent"]))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(colors["accent_text"]))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(colors["muted"]))
    return palette


# Qt's platform plugins say these on every window; they mean nothing to a person.
_QT_NOISE = (
    "does not support propagateSizeHints",  # i18n: not words (Qt's log lines)
    "does not support raise()",  # i18n: not words
)
_qt_said: set[str] = set()


def _qt_message(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings, through our log: known noise dropped, each message said once."""
    if any(noise in message for noise in _QT_NOISE) or message in _qt_said:
        return
    if len(_qt_said) < 500:
        _qt_said.add(message)
    level = (
        logging.DEBUG if kind in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg) else logging.WARNING
    )
    logging.getLogger("companion.qt").log(level, "Qt: %s", message)


def make_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    qInstallMessageHandler(_qt_message)
    app = QApplication(argv or sys.argv[:1])
    app.setApplicationName("Companion")
    app.setOrganizationName("Companion")
    return app


class QtLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop with a ``call_soon_threadsafe`` that touches no Qt object from the
    calling thread.

    qasync's own emits a Qt signal with Python arguments from the foreign thread; with
    several threads doing it at once (executor results, audio engines) PySide6 corrupted
    reference counts and the process died ("deallocating None"). Here a foreign thread only
    appends to a deque and writes a byte to a socket; a QSocketNotifier on the loop's
    thread hands the callbacks to ``call_soon`` — asyncio's own self-pipe pattern."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...], Any]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._notifier = QSocketNotifier(self._wake_r.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain_pending)

    def call_soon_threadsafe(
        self, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        self._pending.append((callback, args, context))
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")
        return asyncio.Handle(callback, args, self, context=context)

    def _drain_pending(self, *_: object) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_r.recv(4096):
                pass
        while self._pending:
            callback, args, context = self._pending.popleft()
            self.call_soon(callback, *args, context=context)

    def close(self) -> None:
        self._notifier.setEnabled(False)
        super().close()
        self._wake_r.close()
        self._wake_w.close()


CLOSE_WITHIN_S = 5.0
"""Closing the window ends the process within this, whatever the network does."""


def run_qt(main: Callable[[QApplication], Coroutine[Any, Any, int]]) -> int:
    """Run ``main(app)`` on one qasync loop shared by Qt and the asyncio core."""
    app = make_app()
    # ``main`` returns once its window is closed and its core has closed; Qt quitting on
    # its own when the last window closes would stop the loop under it ("Event loop
    # stopped before Future completed").
    app.setQuitOnLastWindowClosed(False)
    loop = QtLoop(app)
    quiet_lost_data_channel_sends(loop)
    asyncio.set_event_loop(loop)

    async def main_then_settle() -> int:
        try:
            return await main(app)
        finally:
            await settle_remaining_tasks()

    with loop:
        return int(loop.run_until_complete(main_then_settle()))


SETTLE_WITHIN_S = 2.0
"""How long the tasks still running when the app ends get to finish once cancelled."""


async def settle_remaining_tasks() -> None:
    """Cancel every task still running and let them finish while the loop still runs, as
    ``asyncio.run`` does.

    qasync processes Qt's events once more after its loop has stopped, with no running loop:
    a task stepped then (aiortc's DTLS reader woken by a packet, say) fails with "Queue ...
    bound to a different event loop", and its traceback lands in the log at every exit."""
    here = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not here]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest, timeout=SETTLE_WITHIN_S)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def close_core(core: RoleCore | None) -> None:
    """Close a core at the end of the app, bounded: a server or a device that does not
    answer must not keep a windowless process alive."""
    if core is None:
        return
    try:
        await asyncio.wait_for(core.close(), CLOSE_WITHIN_S)
    except Exception as exc:
        _log.warning("closing took too long or failed (%s); quitting anyway", type(exc).__name__)


def spawn(coro: Awaitable[Any], on_error: Callable[[BaseException], None] | None = None) -> None:
    """Run a coroutine from a button; failures go to ``on_error`` (or the log), never lost."""

    async def guarded() -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if on_error is not None:
                on_error(exc)
            else:
                _log.warning("action failed: %s", type(exc).__name__)

    _running.spawn(guarded())


_running = TaskSet()


class ElidedLabel(QLabel):
    """One long word (a link) shown as much as fits, ending in "…" when cut; the whole of
    it in the tooltip. A plain QLabel cuts such a word mid-letter with no sign of it."""

    def __init__(self, text: str, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = text
        self.setToolTip(text)
        self.setStyleSheet(f"color: {color}")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, width)
        if shown != self.text():
            self.setText(shown)


class VideoView(QWidget):
    """Shows the newest RGB frame (H, W, 3 uint8), scaled to fit, letterboxed."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self.frames_shown = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAccessibleName(placeholder or _("Video"))

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def show_frame(self, rgb: np.ndarray) -> None:
        height, width, _depth = rgb.shape
        data = np.ascontiguousarray(rgb)
        # copy(): the QImage must own its pixels once the array goes away
        self._image = QImage(
            data.data, width, height, 3 * width, QImage.Format.Format_RGB888
        ).copy()
        self.frames_shown += 1
        self.update()

    def clear(self) -> None:
        self._image = None
        self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#0b0e12"))
        if self._image is None:
            painter.setPen(QColor(CALM_DARK["muted"]))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        scaled = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - scaled.width()) / 2
        y = (self.height() - scaled.height()) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(x, y, scaled.width(), scaled.height()), self._image)


class VoiceSettings(QWidget):
    """The microphone's processing: one line on what it does (echo cancellation is always
    on, so it is said, not offered) and the two choices, applied at once."""

    def __init__(self, noise_text: str, gain_text: str) -> None:
        super().__init__()
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.noise_suppression = QCheckBox(noise_text)
        self.noise_suppression.setAccessibleName(_("Reduce background noise"))
        self.noise_suppression.setChecked(True)
        self.auto_gain = QCheckBox(gain_text)
        self.auto_gain.setAccessibleName(_("Raise a quiet voice automatically"))
        for widget in (self.note, self.noise_suppression, self.auto_gain):
            v.addWidget(widget)

    def bind(
        self,
        settings: ProcessingSettings,
        active: bool,
        apply: Callable[[ProcessingSettings], None],
    ) -> None:
        self.noise_suppression.setChecked(settings.noise_suppression)
        self.auto_gain.setChecked(settings.auto_gain)
        self.note.setText(settings.describe(active))

        def changed(_checked: bool) -> None:
            chosen = ProcessingSettings(
                noise_suppression=self.noise_suppression.isChecked(),
                auto_gain=self.auto_gain.isChecked(),
            )
            apply(chosen)
            self.note.setText(chosen.describe(active))

        self.noise_suppression.toggled.connect(changed)
        self.auto_gain.toggled.connect(changed)

    def bind_core(self, core: RoleCore) -> None:
        """Show ``core``'s processing, or nothing when it has none (a test pattern and tone,
        or no microphone)."""
        processing = core.devices.mic_processing()
        if processing is None:
            self.hide()
            return
        self.show()
        settings, active = processing
        self.bind(settings, active, core.devices.set_voice_settings)


def wire_video(core: RoleCore, remote: VideoView | None, own: VideoView | None) -> None:
    """The other side's video into ``remote``, our own camera into ``own`` (either may be
    missing: no call, or no camera)."""
    video = core.remote_video
    if remote is not None and video is not None:
        video.frame_ready.connect(remote.show_frame)
    view = core.devices.self_view() if own is not None else None
    if view is not None and own is not None:
        view.frame_ready.connect(own.show_frame)


class LoopLagMeter(QObject):
    """How late a 20 ms Qt timer fires: the UI loop's lag, in ms (p99 is what matters)."""

    def __init__(self, interval_ms: int = 20, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.samples: list[float] = []
        self._interval = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.samples.append(max(0.0, (now - self._last) * 1000 - self._interval))
        self._last = now

    def p99_ms(self) -> float:
        return float(np.percentile(self.samples, 99)) if self.samples else 0.0


def format_ago(seconds: float | None) -> str:
    """ "just now", "2 min ago", "1 h 5 min ago" — for boards read across a room."""
    if seconds is None:
        return _("not yet")
    if seconds < 45:
        return _("just now")
    minutes = int(seconds // 60 + (1 if seconds % 60 >= 30 else 0))
    if minutes < 60:
        return _("{minutes} min ago").format(minutes=minutes)
    return _("{hours} h {minutes} min ago").format(hours=minutes // 60, minutes=minutes % 60)


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _EnterPresses(QObject):
    """Enter (or Return) presses the focused button of ``window``, as Space does: Qt does
    so only in dialogs, and people press Enter on "Sign in" or "I'm with the patient"."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and not event.isAutoRepeat()
            and isinstance(watched, QAbstractButton)
            and watched.isEnabled()
            and watched.window() is self._window
        ):
            watched.animateClick()
            return True
        return False


def press_with_enter(window: QWidget) -> None:
    """Enter presses the focused button anywhere in ``window`` (the filter goes with it)."""
    app = QApplication.instance()
    if app is not None:
        app.installEventFilter(_EnterPresses(window))
