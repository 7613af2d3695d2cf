"""Silence counts only while this side is listening.

Both ends of a signaling connection call it dead after a while with no frame from the
other. A wait that wakes much later than it asked means this process was not running its
loop meanwhile (a long callback, a blocking call, no CPU for it): the other end's frames
may be waiting unread, and that time is not its silence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

STALL_S = 0.25
"""A wake-up this much later than asked is a stall, not a busy loop's usual lateness."""


async def sleep_listening(delay: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Sleep ``delay``; return how long the loop was held up meanwhile: the time this
    wait woke later than asked, or 0 for a busy loop's usual lateness."""
    asleep_at = clock()
    await asyncio.sleep(delay)
    late = clock() - asleep_at - delay
    return late if late > STALL_S else 0.0


def heard_after_stall(last_heard: float, held_up_s: float, now: float) -> float:
    """``last_heard`` moved on by ``held_up_s`` the loop did not listen (never past ``now``)."""
    return min(now, last_heard + held_up_s)


class ListeningTimeout:
    """``asyncio.timeout(delay)`` counted in the loop's own running time: a wake-up much
    later than asked (the loop held up by a long collection, or no CPU to spare) gives the
    lost time back, because what is awaited may be waiting unread in a socket. Without
    that, a stall past ``delay`` failed every request in flight at once, answered or not.
    """

    def __init__(self, delay: float, stall_s: float = STALL_S) -> None:
        self._delay = delay
        self._stall_s = stall_s
        self._expired = False
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> ListeningTimeout:
        self._task = asyncio.current_task()
        self._schedule(self._delay)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        if self._handle is not None:
            self._handle.cancel()
        expired = self._expired and exc_type is asyncio.CancelledError
        if expired and self._task is not None and self._task.uncancel() == 0:
            raise TimeoutError from exc
        return False

    def _schedule(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        self._handle = loop.call_at(due, self._fire, due)

    def _fire(self, due: float) -> None:
        late = asyncio.get_running_loop().time() - due
        if late > self._stall_s:  # not listening meanwhile: look again after that long
            self._schedule(min(late, self._delay))
        elif self._task is not None:
            self._expired = True
            self._task.cancel()
