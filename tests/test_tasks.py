"""TaskSet: background tasks kept until done, cancelled and awaited on close."""

from __future__ import annotations

import asyncio

from companion.tasks import TaskSet


async def test_a_finished_task_is_forgotten_and_close_cancels_the_rest() -> None:
    tasks = TaskSet()
    done = tasks.spawn(asyncio.sleep(0), name="quick")
    slow = tasks.spawn(asyncio.sleep(60))
    assert len(tasks) == 2 and done.get_name() == "quick"
    await done
    await asyncio.sleep(0)  # the done callback runs on the next turn of the loop
    assert list(tasks) == [slow]
    await tasks.cancel_all()
    assert slow.cancelled() and len(tasks) == 0
