"""Background tasks kept alive until they finish, and drained on close.

asyncio keeps only a weak reference to a running task: a task nobody holds can be
collected mid-flight. Each owner keeps its tasks in a :class:`TaskSet`, which forgets a
task once it is done and cancels and awaits the rest when the owner closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any


class TaskSet:
    """The running background tasks of one owner."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start ``coro`` on the running loop and keep it until it is done."""
        return self.add(asyncio.get_running_loop().create_task(coro, name=name))

    def add(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Keep ``task`` (started elsewhere) until it is done."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until each has finished."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class ListeningTimeout:
    """``asyncio.timeout(delay)`` counted in the loop's own running time: a wake-up much
    later than asked (the loop held up by a long collection, or no CPU to spare) gives the
    lost time back, because what is awaited may be waiting unread in a socket. Without
    that, a stall past ``delay`` failed every request in flight at once, answered or not.
    """

    def __init__(self, delay: float, stall_s: float = 0.5) -> None:
        self._delay = delay
        self._stall_s = stall_s
        self._expired = False
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> ListeningTimeout:
        self._task = asyncio.current_task()
        self._schedule(self._delay)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> bool:  # fmt: skip
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
