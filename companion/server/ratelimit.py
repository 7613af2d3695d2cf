"""Rate limits: token buckets, the sign-in limiter and a log that an attacker cannot fill.

Everything here is plain bookkeeping with an injectable clock, so tests can move time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from companion.protocol.errors import ErrorCode, ProtocolError

Clock = Callable[[], float]


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate_per_s: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` if it is there; else spend nothing and say no."""
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def charge(self, cost: float) -> float:
        """Spend ``cost`` even into debt; returns how long to wait until the debt is paid
        (0: within budget). For throttling: the caller waits instead of refusing."""
        self._refill()
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    @property
    def full(self) -> bool:
        return self.available >= self.burst


@dataclass(frozen=True)
class LoginLimits:
    failures_burst: float = 10.0
    """Wrong secrets an address (or aimed at one account) may send before it must wait."""
    failures_per_min: float = 4.0
    """How fast that allowance comes back."""
    table_size: int = 10_000
    """Addresses and account names remembered at most (the oldest quiet ones go first)."""


@dataclass
class _LoginKey:
    bucket: TokenBucket
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LoginLimiter:
    """Sign-ins with a secret cost a scrypt hash (tens of ms of a thread). Per address and
    per account name: one check at a time (an attacker's own attempts queue behind each
    other, never in front of anyone else's), and past a few failures an attempt is refused
    at once, before any hashing."""

    def __init__(self, limits: LoginLimits | None = None, clock: Clock = time.monotonic) -> None:
        self.limits = limits or LoginLimits()
        self._clock = clock
        self._keys: dict[str, _LoginKey] = {}

    def _key(self, key: str) -> _LoginKey:
        entry = self._keys.pop(key, None)  # re-inserted last: the dict keeps recency order
        if entry is None:
            limits = self.limits
            entry = _LoginKey(
                TokenBucket(limits.failures_per_min / 60.0, limits.failures_burst, self._clock)
            )
            if len(self._keys) >= limits.table_size:
                self._forget_quiet()
        self._keys[key] = entry
        return entry

    def _forget_quiet(self) -> None:
        for key, entry in list(self._keys.items()):
            if entry.bucket.full and not entry.lock.locked():
                del self._keys[key]
        while len(self._keys) >= self.limits.table_size:  # all busy: drop the oldest
            del self._keys[next(iter(self._keys))]

    @contextlib.asynccontextmanager
    async def attempt(self, address: str, account: str) -> AsyncIterator[Callable[[], None]]:
        """``async with limiter.attempt(addr, name) as failed:`` check, and call
        ``failed()`` when the secret was wrong. Raises ``too_many_attempts`` (not fatal)
        when either key has no failures left."""
        keys = [self._key(f"addr:{address}"), self._key(f"account:{account.casefold()}")]
        # Always the address first, then the account: no two attempts wait on each other.
        async with keys[0].lock, keys[1].lock:
            if any(k.bucket.available < 1.0 for k in keys):
                raise ProtocolError(
                    ErrorCode.TOO_MANY_ATTEMPTS,
                    "Too many wrong sign-ins from here or for this account; wait a minute.",
                )
            wrong: list[bool] = []
            try:
                yield lambda: wrong.append(True)
            finally:
                if wrong:
                    for k in keys:
                        k.bucket.take(1.0)


class RateLimitedLog:
    """One line per kind of trouble at most every ``every_s``, never a traceback: what an
    attacker sends must not fill the disk. Suppressed lines are counted in the next one."""

    def __init__(
        self, logger: logging.Logger, every_s: float = 10.0, clock: Clock = time.monotonic
    ) -> None:
        self._logger = logger
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._every_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        more = self._suppressed.pop(kind, 0)
        suffix = f" (and {more} more in the last {now - last:.0f} s)" if more and last else ""
        self._logger.warning(f"{message}{suffix}", *args)


class HttpErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, as aiohttp calls it (``exception`` with a traceback for
    every malformed request), turned into rate-limited one-line warnings."""

    def __init__(self, log: RateLimitedLog, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self._rate_limited = log

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if level < logging.WARNING:
            return
        exc = kwargs.get("exc_info")
        what = type(exc).__name__ if isinstance(exc, BaseException) else "error"
        # The message names the remote address; the exception's own text may quote the
        # request (a header an attacker chose), so only its type is written.
        self._rate_limited.warning(f"http:{what}", "bad HTTP request refused (%s)", what)
