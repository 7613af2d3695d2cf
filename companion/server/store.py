"""The interface between the signaling handlers and shared session state.

Handlers only talk to a ``SessionStore``: sessions, invites, members, the sequenced event
log and fan-out. ``MemoryStore`` serves one node; a Redis-backed store can serve several
nodes behind the same interface without touching the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from companion.protocol.messages import MemberStatus, Role
from companion.server.clinicdb import InviteRecord, SessionRecord

Deliver = Callable[[str], None]
"""Hands one serialized server message to a local connection's outbound queue."""
Unsubscribe = Callable[[], None]
WipeHandler = Callable[[], Awaitable[None]]
"""Called when the shared store is found empty: its members must take their places again."""

ENDED_SESSION_RETENTION_S = 3600.0
"""An ended session's live state (timeline, members, resume tokens) is kept this long after
its end, then freed. Its record (and its invites) stay, so late comers hear it ended."""


class StoreUnavailable(Exception):
    """The shared state cannot be reached right now (clients get ``unavailable``)."""


@dataclass(frozen=True)
class MemberRecord:
    member_id: str
    session_id: str
    role: Role
    resume_hash: str
    status: MemberStatus
    invite_id: str | None = None
    therapist_id: str | None = None
    epoch: int = 0
    """Bumped on every join or resume, so a stale connection's death cannot mark a
    member lost after it has already come back on a newer connection."""
    device_hash: str = ""
    """Keyed hash of the device secret it first joined with ("" if none was given)."""
    public_key: str | None = None
    """The member's session key as it gave it in ``join`` (kept on resume), vouched for to
    the others in the member list."""
    box_key: str | None = None
    """Its key for sealed words, likewise."""
    language: str | None = None
    """The language the person reads, as its join said (kept on resume): the outer
    ladder's messages to the support person are written in it."""

    def with_status(self, status: MemberStatus) -> MemberRecord:
        return replace(self, status=status)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    payload: str
    """The serialized ``SessionEvent`` exactly as fanned out, so a replay is byte-identical."""


@dataclass(frozen=True)
class ResumeTarget:
    """The member a resume token names, with what decides whether it may come back."""

    member: MemberRecord
    session: SessionRecord | None
    invite: InviteRecord | None
    """The member's invite (``None`` for the therapist, or when it is gone)."""


@dataclass(frozen=True)
class Seating:
    """What a member is told as it takes its place, read together with the write."""

    last_seq: int
    members: list[MemberRecord]
    missed: list[StoredEvent]
    """The events after the ``after_seq`` it asked for (none for a fresh join)."""


class SessionStore(Protocol):
    # Durable clinic data
    async def create_session(self, session: SessionRecord) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...
    async def sessions_of(self, therapist_id: str) -> list[SessionRecord]: ...
    async def end_session(self, session_id: str) -> None: ...
    async def save_invite(self, invite: InviteRecord) -> None: ...
    async def get_invite(self, invite_id: str) -> InviteRecord | None: ...
    async def invite_by_code(self, code_hash: str) -> InviteRecord | None: ...
    async def revoke_invite(self, invite_id: str) -> None: ...

    # Counters of wrong short codes, shared by the nodes (see codeguard.py)
    async def count_attempt(self, key: str, window_s: float) -> int: ...
    async def attempts(self, key: str) -> int: ...

    # Live membership
    async def put_member(self, member: MemberRecord) -> None: ...
    async def get_member(self, member_id: str) -> MemberRecord | None: ...
    async def members(self, session_id: str) -> list[MemberRecord]: ...

    # Taking a place: each is one round trip on a shared store, because when a node dies
    # all its clients resume on the others at once.
    async def resume_target(self, resume_hash: str) -> ResumeTarget | None: ...
    async def seat(self, member: MemberRecord, after_seq: int | None) -> Seating:
        """``put_member``, then the session's last seq, its members and the events after
        ``after_seq`` (when given)."""
        ...

    # The session's timeline
    async def append_event(
        self, session_id: str, event_id: str, render: Callable[[int], str]
    ) -> tuple[StoredEvent, bool]:
        """Store an event once and fan it out to the session, in ``seq`` order on every
        node. ``render(seq)`` makes its payload; returns (event, duplicate)."""
        ...

    async def events_since(self, session_id: str, after_seq: int) -> list[StoredEvent]: ...
    async def last_seq(self, session_id: str) -> int: ...

    # Fan-out to connections on every node
    async def publish(self, session_id: str, payload: str) -> None: ...
    async def send_to_member(self, member_id: str, payload: str) -> None: ...
    async def subscribe_session(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        """Deliver every later ``publish`` to this session; active when this returns."""
        ...

    async def subscribe_member(self, member_id: str, deliver: Deliver) -> Unsubscribe: ...

    def on_wiped(self, handler: WipeHandler) -> None:
        """``handler()`` runs when the store lost its data (a Redis restarted empty)."""
        ...

    async def healthy(self) -> bool: ...
    async def close(self) -> None: ...
