"""Limits on guessing short codes, across connections and (on Redis) across nodes.

A short code is 8 characters from 30 (about 6.6e11 codes), so guessing one needs many
tries: each client address gets ``ADDRESS_MISSES`` wrong codes a minute, the whole
server ``SERVER_MISSES`` (so many addresses together cannot do much better), and a code
that is presented ``CODE_REFUSALS`` times by a device it does not belong to is locked.
Invite links carry a signed token that cannot be guessed and are not limited here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from companion.protocol.errors import ErrorCode, ProtocolError

WINDOW_S = 60.0


@dataclass(frozen=True)
class CodeLimits:
    address_misses: int = 10
    """Wrong codes a client address may try per minute."""
    server_misses: int = 600
    """Wrong codes the whole server takes per minute; past it codes wait, links work."""
    code_refusals: int = 20
    """Refused uses of one right code (another device, another role) before it locks."""


class AttemptCounter(Protocol):
    """What the shared store keeps for this: counters that expire."""

    async def count_attempt(self, key: str, window_s: float) -> int:
        """Add one to ``key`` and return its count in the window (which starts at the
        first count and ends ``window_s`` later)."""
        ...

    async def attempts(self, key: str) -> int: ...


class CodeGuard:
    def __init__(self, counter: AttemptCounter, limits: CodeLimits | None = None) -> None:
        self._counter = counter
        self.limits = limits or CodeLimits()

    async def check(self, address: str) -> None:
        """Before a code is looked up: refused while this address or the server is over."""
        limits = self.limits
        if await self._counter.attempts("addr:" + address) >= limits.address_misses or (
            await self._counter.attempts("server") >= limits.server_misses
        ):
            raise ProtocolError(ErrorCode.TOO_MANY_ATTEMPTS, fatal=True)

    async def missed(self, address: str) -> None:
        """A code that names no invite: counted; raises once this address is over."""
        await self._counter.count_attempt("server", WINDOW_S)
        misses = await self._counter.count_attempt("addr:" + address, WINDOW_S)
        if misses >= self.limits.address_misses:
            raise ProtocolError(ErrorCode.TOO_MANY_ATTEMPTS, fatal=True)

    async def refusals(self, invite_id: str) -> int:
        return await self._counter.attempts("code:" + invite_id)

    async def check_code(self, invite_id: str) -> None:
        if await self.refusals(invite_id) >= self.limits.code_refusals:
            raise ProtocolError(ErrorCode.CODE_LOCKED)

    async def refused(self, invite_id: str, lifetime_s: float) -> None:
        """A right code used where it may not be: counted for the rest of its life."""
        await self._counter.count_attempt("code:" + invite_id, max(1.0, lifetime_s))
