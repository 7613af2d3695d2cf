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
