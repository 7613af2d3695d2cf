"""Widgets the three apps share: the press-and-hold button, a breathing guide, a gently
pulsing banner, a question asked inside the window. None of them flashes: changes are
slow (≤ 1 cycle a second) and each honours reduced motion."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QElapsedTimer, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFocusEvent, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from companion.i18n import N_, _

HOLD_S = 1.5


class HoldButton(QWidget):
    """Fires ``held`` only after being pressed for ``hold_s`` (mouse, touch, Space or
    Enter); a ring fills meanwhile. Letting go early does nothing."""

    held = Signal()

    def __init__(
        self, text: str, color: str, hold_s: float = HOLD_S, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.text = text
        self.text_color = ""
        """Set when a style sheet hides the window's palette from this widget."""
        self.hold_s = hold_s
        self._color = QColor(color)
        self._clock = QElapsedTimer()
        self._pressing = False
        self._done = False
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._tick)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(text)
        self.setAccessibleDescription(
            _("Press and hold for {hold_s:.1f} seconds").format(hold_s=hold_s)
        )
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(96)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    @property
    def progress(self) -> float:
        if not self._pressing:
            return 0.0
        return min(1.0, self._clock.elapsed() / 1000 / self.hold_s)

    def _start(self) -> None:
        if self._pressing:
            return
        self._pressing, self._done = True, False
        self._clock.start()
        self._timer.start()
        self.update()

    def _stop(self) -> None:
        self._pressing = False
        self._timer.stop()
        self.update()

    def _tick(self) -> None:
        if self.progress >= 1.0 and not self._done:
            self._done = True
            self._stop()
            self.held.emit()
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._start()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # A second press soon after the first arrives as a double click: still a press.
        self.mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._stop()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not event.isAutoRepeat():
                self._start()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not event.isAutoRepeat():
                self._stop()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self._stop()
        super().focusOutEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(3, 3, -3, -3)
        fill = QColor(self._color)
        fill.setAlpha(60 if not self._pressing else 90)
        painter.setPen(QPen(self._color, 4 if self.hasFocus() else 2))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 18, 18)
        # The ring: fills clockwise while held.
        size = min(rect.height() - 24, 64.0)
        ring = QRectF(rect.left() + 20, rect.center().y() - size / 2, size, size)
        painter.setPen(QPen(QColor(self._color).darker(150), 6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(ring)
        if self.progress > 0:
            painter.setPen(QPen(self._color.lighter(130), 6))
            painter.drawArc(ring, 90 * 16, -int(360 * 16 * self.progress))
        painter.setPen(
            QColor(self.text_color) if self.text_color else self.palette().windowText().color()
        )
        text_rect = rect.adjusted(size + 36, 0, -12, 0)
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            self.text + _("\n(press and hold)"),
        )


class PulseBanner(QLabel):
    """A banner whose background breathes slowly (one cycle in 2 s) to draw the eye
    without flashing; with reduced motion it simply stays lit."""

    def __init__(self, color: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = QColor(color)
        self.backing = ""
        """A solid colour under the breathing fill (a banner lying over a video)."""
        self.reduced_motion = False
        self._timer = QTimer(self)
        self._timer.setInterval(80)
        self._timer.timeout.connect(self.update)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMargin(18)

    def start(self, text: str) -> None:
        self.setText(text)
        self.show()
        if not self.reduced_motion:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        level = 0.75 if self.reduced_motion else 0.55 + 0.25 * math.sin(time.monotonic() * math.pi)
        fill = QColor(self._color)
        fill.setAlphaF(max(0.0, min(1.0, level * 0.5)))
        if self.backing:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(self.backing))
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 14, 14)
        painter.setPen(QPen(self._color, 2))
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 14, 14)
        painter.end()
        super().paintEvent(event)


_BREATH_STEPS = (N_("Breathe in"), N_("Hold"), N_("Breathe out"), N_("Rest"))


class BreathingGuide(QWidget):
    """A circle that grows while breathing in and shrinks while breathing out, with the
    step in words. Reduced motion: the words alone, counting the seconds."""

    def __init__(self, pattern: tuple[int, int, int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pattern = pattern
        self.text_color = ""
        self.reduced_motion = False
        self.started = time.monotonic()
        """When the first breath began (a screenshot sets it to draw one moment)."""
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.update)
        self._timer.start()
        self.setMinimumSize(220, 220)
        self.setAccessibleName(_("Breathing guide"))

    def step(self, now: float | None = None) -> tuple[str, int, float]:
        """(words, whole seconds left in the step, how full the breath is 0..1)."""
        names = tuple(_(name) for name in _BREATH_STEPS)
        cycle = sum(self.pattern)
        t = ((now or time.monotonic()) - self.started) % cycle
        for index, length in enumerate(self.pattern):
            if length and t < length:
                frac = t / length
                fullness = (frac, 1.0, 1.0 - frac, 0.0)[index]
                return names[index], math.ceil(length - t), fullness
            t -= length
        return names[0], self.pattern[0], 0.0

    def _words_radius(self) -> float:
        """Half the diagonal of the widest step's words and count, with a margin."""
        metrics = self.fontMetrics()
        longest = max(self.pattern)
        size = QRect(0, 0, 10_000, 10_000)
        rects = [
            metrics.boundingRect(size, Qt.AlignmentFlag.AlignCenter, f"{name}\n{longest}")
            for name in map(_, _BREATH_STEPS)
        ]
        return max(math.hypot(r.width(), r.height()) for r in rects) / 2 + 6

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        words, left, fullness = self.step()
        color = self.palette().highlight().color()
        side = min(self.width(), self.height()) - 20
        if not self.reduced_motion:
            # The smallest circle still holds the longest step's words ("Breathe out"
            # spilled over the circle's edge at the patient's type size).
            smallest = min(side / 2, self._words_radius())
            radius = smallest + (side / 2 - smallest) * fullness
            center = QRectF(self.rect()).center()
            fill = QColor(color)
            fill.setAlphaF(0.35)
            painter.setBrush(fill)
            painter.setPen(QPen(color, 2))
            painter.drawEllipse(center, radius, radius)
        painter.setPen(
            QColor(self.text_color) if self.text_color else self.palette().windowText().color()
        )
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, f"{words}\n{left}")


class InlineQuestion(QFrame):
    """A question asked inside the window ("Close Companion?"), never a modal dialog: a
    modal's nested event loop stops the call's tasks (asyncio under qasync) and hides the
    session behind it. ``ask`` shows it with the safe answer focused; ``answered`` gives
    True for the second (the action), False for the first (stay)."""

    answered = Signal(bool)

    def __init__(self, stay: str, act: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("question")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("panel", True)
        layout = QVBoxLayout(self)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        row = QHBoxLayout()
        self.stay = QPushButton(stay)
        self.stay.setAccessibleName(stay)
        self.act = QPushButton(act)
        self.act.setAccessibleName(act)
        for button in (self.stay, self.act):
            button.setMinimumHeight(48)
            button.setAutoDefault(True)
            row.addWidget(button)
        layout.addLayout(row)
        self.stay.clicked.connect(lambda: self._answer(False))
        self.act.clicked.connect(lambda: self._answer(True))
        self.hide()

    def ask(self, text: str) -> None:
        self.text.setText(text)
        self.setAccessibleName(text.split("\n", 1)[0])
        self.show()
        self.stay.setFocus()

    def _answer(self, act: bool) -> None:
        self.hide()
        self.answered.emit(act)
