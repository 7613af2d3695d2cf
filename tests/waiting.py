"""The one "wait until" of the tests: poll a condition on the running loop, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    predicate: Callable[[], bool], within_s: float = 15.0, what: str = "", every_s: float = 0.05
) -> None:
    """Return once ``predicate()`` is true; raise ``TimeoutError`` (saying ``what`` did
    not happen) if it is still false after ``within_s`` seconds."""
    try:
        async with asyncio.timeout(within_s):
            while not predicate():
                await asyncio.sleep(every_s)
    except TimeoutError:
        raise TimeoutError(f"not within {within_s:g} s: {what or 'the condition'}") from None
