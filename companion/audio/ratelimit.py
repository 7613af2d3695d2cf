"""Warnings that repeat at most once per interval, for faults that can recur every block."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """Logs the first warning of a kind, then at most one per ``interval_s`` with a count."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(message)
        if last is not None and now - last < self._interval:
            self._suppressed[message] = self._suppressed.get(message, 0) + 1
            return
        self._last[message] = now
        skipped = self._suppressed.pop(message, 0)
        if skipped:
            self._logger.warning(message + " (%d more since last report)", *args, skipped)
        else:
            self._logger.warning(message, *args)
