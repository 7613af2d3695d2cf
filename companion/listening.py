"""Silence counts only while this side is listening.

Both ends of a signaling connection call it dead after a while with no frame from the
other. A wait that wakes much later than it asked means this process was not running its
loop meanwhile (a long callback, a blocking call, no CPU for it): the other end's frames
may be waiting unread, and that time is not its silence.
"""

from __future__ import annotations

STALL_S = 0.25
"""A wake-up this much later than asked is a stall, not a busy loop's usual lateness."""


def heard_after_stall(last_heard: float, asleep_at: float, delay: float, now: float) -> float:
    """``last_heard`` moved on by the time the loop was held up during a wait of ``delay``
    begun at ``asleep_at`` and over at ``now`` (never past ``now``)."""
    late = now - asleep_at - delay
    return min(now, last_heard + late) if late > STALL_S else last_heard
