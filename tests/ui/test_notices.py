"""An alert while the window is hidden also reaches the desktop's notification service (a
stand-in on a real D-Bus session bus); a window in front gets none."""

from __future__ import annotations

import asyncio
import json

from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from companion.app.notices import DesktopNotices
from companion.ui.notices import notify_if_hidden
from tests.app.test_notices import _start_service
from tests.app.test_power import SessionBus, session_bus

__all__ = ["session_bus"]


async def test_an_alert_reaches_the_desktop_only_while_the_window_is_hidden(
    qapp: QApplication, session_bus: SessionBus
) -> None:
    service = _start_service(session_bus)
    assert service.stdout is not None
    window = QWidget()
    notices = DesktopNotices()
    window.show()
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window, 3000)
    assert not notify_if_hidden(window, notices, "Please go to the patient now", True)
    window.showMinimized()
    assert notify_if_hidden(window, notices, "Please go to the patient now", True)
    await notices.close()
    shown = json.loads(await asyncio.to_thread(service.stdout.readline))
    assert shown == {"title": "Companion", "body": "Please go to the patient now", "urgency": 2}
    window.close()
