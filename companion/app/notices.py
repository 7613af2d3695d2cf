"""Desktop notifications (issue 21, part 4): when Companion's window is behind others or
minimised, an alert also appears as the desktop's own notification, besides the in-window
call. Qt-free: the UI says whether its window is hidden (``companion/ui/notices.py``).

Through ``desktop-notifier`` (freedesktop notifications over D-Bus on Linux, the
notification centres on macOS and Windows). A desktop with no notification service loses
nothing but the extra notice: one log line, and the in-window call goes on.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from typing import Any

from companion.tasks import TaskSet

_log = logging.getLogger(__name__)


def _default_notifier() -> Any:
    from desktop_notifier import DesktopNotifier

    return DesktopNotifier(app_name="Companion")  # i18n: not words (the name)


class DesktopNotices:
    def __init__(self, make: Callable[[], Any] = _default_notifier) -> None:
        """``make``: the ``DesktopNotifier`` to use, made at the first notice."""
        self._make = make
        self._notifier: Any = None
        self._failed = False
        self._making = asyncio.Lock()
        self._tasks = TaskSet()

    async def show(self, title: str, body: str, urgent: bool = False) -> bool:
        """Put one notice on the desktop; False if the desktop has no way to show it."""
        try:
            async with self._making:
                if self._notifier is None:
                    # Importing and making it held the loop 0.4-2.9 s on a busy computer
                    # (the call's watch and the signaling client stood still meanwhile).
                    await asyncio.to_thread(importlib.import_module, "desktop_notifier")
                    self._notifier = await asyncio.to_thread(self._make)
            from desktop_notifier import Urgency

            level = Urgency.Critical if urgent else Urgency.Normal
            dispatched: list[bool] = []
            # desktop-notifier swallows a failure (a warning of its own): only its
            # "dispatched" callback says the desktop took the notice.
            send = self._notifier.send(
                title, body, urgency=level, on_dispatched=lambda: dispatched.append(True)
            )
            await asyncio.wait_for(send, 5.0)
            if dispatched:
                return True
            reason = "no notification service"  # i18n: not words (logged)
        except Exception as exc:  # the window's call remains
            reason = type(exc).__name__
        if not self._failed:
            _log.warning("desktop notifications unavailable (%s)", reason)
        self._failed = True
        return False

    def post(self, title: str, body: str, urgent: bool = False) -> None:
        """``show`` in the background (from a Qt slot), keeping the task until it is done."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no session running (a window shown before its loop)
            return
        self._tasks.add(loop.create_task(self.show(title, body, urgent)))

    async def close(self) -> None:
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
