"""Desktop notifications through desktop-notifier's real code, to a stand-in notification
service on a real D-Bus session bus (tests/app/notifications_service.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from companion.app.notices import DesktopNotices
from tests.app.test_power import SessionBus, session_bus

__all__ = ["session_bus"]
_SERVICE = Path(__file__).with_name("notifications_service.py")


def _start_service(bus: SessionBus) -> subprocess.Popen[str]:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address}
    service = subprocess.Popen([sys.executable, str(_SERVICE)], stdout=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
    bus.service = service  # the fixture stops it
    assert service.stdout is not None and service.stdout.readline().strip() == "ready"
    return service


async def test_an_alert_reaches_the_desktops_notification_service(session_bus: SessionBus) -> None:
    service = _start_service(session_bus)
    notices = DesktopNotices()
    assert await notices.show("Companion", "Please go to the patient now", urgent=True)
    assert service.stdout is not None
    shown = json.loads(service.stdout.readline())
    assert shown == {"title": "Companion", "body": "Please go to the patient now", "urgency": 2}


async def test_a_desktop_without_a_notification_service_loses_only_the_notice(
    session_bus: SessionBus,
) -> None:
    notices = DesktopNotices()
    assert not await notices.show("Companion", "Please go to the patient now")
    assert not await notices.show("Companion", "again")  # and says so once
