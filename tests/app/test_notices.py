"""Desktop notifications through desktop-notifier's real code, to a stand-in notification
service on a real D-Bus session bus (tests/app/notifications_service.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from companion.app.notices import DesktopNotices
from tests.app.test_power import SessionBus, session_bus

__all__ = ["session_bus"]
_SERVICE = Path(__file__).with_name("notifications_service.py")


def _start_service(bus: SessionBus) -> subprocess.Popen[str]:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus.address}
    service = subprocess.Popen(
        [sys.executable, str(_SERVICE)], stdout=subprocess.PIPE, text=True, env=env
    )
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


async def test_the_first_notice_is_made_off_the_loop(session_bus: SessionBus) -> None:
    """Importing and making the notifier held the loop up to 2.9 s on a busy computer: the
    call's watch and the signaling client stood still meanwhile. Here making it takes
    0.5 s; the loop goes on turning all the while."""
    made = threading.Event()

    def slow_make() -> object:
        time.sleep(0.5)
        made.set()
        raise OSError("no desktop here")  # what happens next is another test's

    turns = 0

    async def turning() -> None:
        nonlocal turns
        while not made.is_set():
            turns += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(turning())
    assert not await DesktopNotices(slow_make).show("Companion", "Please go to the patient now")
    await ticker
    assert turns > 10
