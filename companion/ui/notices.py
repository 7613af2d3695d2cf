"""An alert also as the desktop's own notification while Companion's window is behind
others or minimised (issue 21, part 4); the in-window call sounds either way."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from companion.app.notices import DesktopNotices

TITLE = "Companion"  # i18n: not words (the product's name)


def window_hidden(widget: QWidget) -> bool:
    window = widget.window()
    return not window.isVisible() or window.isMinimized() or not window.isActiveWindow()


def notify_if_hidden(widget: QWidget, notices: DesktopNotices, body: str, urgent: bool) -> bool:
    """Post ``body`` to the desktop if nobody can see ``widget``'s window; True if posted."""
    if not window_hidden(widget):
        return False
    notices.post(TITLE, body, urgent)
    return True
