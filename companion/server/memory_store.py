"""``SessionStore`` for a single node: live state in memory, clinic data in SQLite."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from companion.server.clinicdb import ClinicDB, InviteRecord, SessionRecord
from companion.server.store import (
    ENDED_SESSION_RETENTION_S,
    Deliver,
    MemberRecord,
    ResumeTarget,
    Seating,
    StoredEvent,
    Unsubscribe,
    WipeHandler,
)

# A 2-hour session produces a few hundred timeline events; this bounds a runaway client.
MAX_EVENTS_PER_SESSION = 20_000
MAX_ATTEMPT_KEYS = 100_000


class MemoryStore:
    def __init__(
        self,
        db: ClinicDB | None = None,
        ended_retention_s: float = ENDED_SESSION_RETENTION_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._retention_s = ended_retention_s
        self._clock = clock
        self._ended_at: dict[str, float] = {}
        """Ended sessions whose live state is still held, oldest first."""
        self._sessions: dict[str, SessionRecord] = {}
        self._invites: dict[str, InviteRecord] = {}
        self._invite_by_code: dict[str, str] = {}
        self._members: dict[str, MemberRecord] = {}
        self._member_by_resume: dict[str, str] = {}
        self._members_of: dict[str, list[str]] = defaultdict(list)
        self._events: dict[str, list[StoredEvent]] = defaultdict(list)
        self._seq_by_event_id: dict[str, dict[str, StoredEvent]] = defaultdict(dict)
        self._session_subs: dict[str, list[Deliver]] = defaultdict(list)
        self._member_subs: dict[str, list[Deliver]] = defaultdict(list)
        self._attempts: dict[str, tuple[float, int]] = {}  # key -> (window ends, count)
        if db is not None:
            for session in db.load_sessions():
                self._sessions[session.session_id] = session
            for invite in db.load_invites():
                self._remember_invite(invite)

    async def _persist(self, fn: Callable[[], None]) -> None:
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(None, fn)

    # -- durable clinic data

    async def create_session(self, session: SessionRecord) -> None:
        self._expire()
        self._sessions[session.session_id] = session
        if self._db is not None:
            db = self._db
            await self._persist(lambda: db.save_session(session))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id)

    async def sessions_of(self, therapist_id: str) -> list[SessionRecord]:
        return sorted(
            (s for s in self._sessions.values() if s.therapist_id == therapist_id),
            key=lambda s: s.created_at,
        )

    async def end_session(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        ended = replace(session, ended=True)
        self._sessions[session_id] = ended
        self._ended_at.setdefault(session_id, self._clock())
        self._expire()
        if self._db is not None:
            db = self._db
            await self._persist(lambda: db.save_session(ended))

    def _expire(self) -> None:
        """Free the live state of sessions that ended over the retention time ago (checked
        whenever a session is created or ends: a busy node frees as it goes)."""
        cutoff = self._clock() - self._retention_s
        expired: set[str] = set()
        for session_id, ended_at in list(self._ended_at.items()):
            if ended_at > cutoff:
                break
            del self._ended_at[session_id]
            expired.add(session_id)
        if not expired:
            return
        gone: set[str] = set()
        for session_id in expired:
            self._events.pop(session_id, None)
            self._seq_by_event_id.pop(session_id, None)
            for member_id in self._members_of.pop(session_id, []):
                self._members.pop(member_id, None)
                gone.add(member_id)
        # Every resume token a member ever had points at it.
        for resume_hash, member_id in list(self._member_by_resume.items()):
            if member_id in gone:
                del self._member_by_resume[resume_hash]

    def _remember_invite(self, invite: InviteRecord) -> None:
        self._invites[invite.invite_id] = invite
        self._invite_by_code[invite.code_hash] = invite.invite_id

    async def save_invite(self, invite: InviteRecord) -> None:
        self._remember_invite(invite)
        if self._db is not None:
            db = self._db
            await self._persist(lambda: db.save_invite(invite))

    async def get_invite(self, invite_id: str) -> InviteRecord | None:
        return self._invites.get(invite_id)

    async def invite_by_code(self, code_hash: str) -> InviteRecord | None:
        invite_id = self._invite_by_code.get(code_hash)
        return self._invites.get(invite_id) if invite_id else None

    async def revoke_invite(self, invite_id: str) -> None:
        invite = self._invites.get(invite_id)
        if invite is not None:
            await self.save_invite(replace(invite, revoked=True))

    # -- attempt counters (short codes)

    async def count_attempt(self, key: str, window_s: float) -> int:
        now = time.monotonic()
        ends, count = self._attempts.get(key, (0.0, 0))
        if now >= ends:
            ends, count = now + window_s, 0
            if len(self._attempts) > MAX_ATTEMPT_KEYS:  # many addresses: forget the expired
                self._attempts = {k: v for k, v in self._attempts.items() if v[0] > now}
        self._attempts[key] = (ends, count + 1)
        return count + 1

    async def attempts(self, key: str) -> int:
        ends, count = self._attempts.get(key, (0.0, 0))
        return count if time.monotonic() < ends else 0

    # -- live membership

    async def put_member(self, member: MemberRecord) -> None:
        previous = self._members.get(member.member_id)
        if previous is None:
            self._members_of[member.session_id].append(member.member_id)
        elif previous.resume_hash != member.resume_hash:
            self._member_by_resume.pop(previous.resume_hash, None)  # one live token a member
        self._members[member.member_id] = member
        self._member_by_resume[member.resume_hash] = member.member_id

    async def get_member(self, member_id: str) -> MemberRecord | None:
        return self._members.get(member_id)

    async def members(self, session_id: str) -> list[MemberRecord]:
        return [self._members[m] for m in self._members_of.get(session_id, [])]

    async def resume_target(self, resume_hash: str) -> ResumeTarget | None:
        member_id = self._member_by_resume.get(resume_hash)
        member = self._members.get(member_id) if member_id else None
        if member is None:
            return None
        invite = self._invites.get(member.invite_id) if member.invite_id else None
        return ResumeTarget(member, self._sessions.get(member.session_id), invite)

    async def seat(self, member: MemberRecord, after_seq: int | None) -> Seating:
        await self.put_member(member)
        session_id = member.session_id
        missed = [] if after_seq is None else await self.events_since(session_id, after_seq)
        return Seating(await self.last_seq(session_id), await self.members(session_id), missed)

    # -- the timeline

    async def append_event(
        self, session_id: str, event_id: str, render: Callable[[int], str]
    ) -> tuple[StoredEvent, bool]:
        seen = self._seq_by_event_id[session_id]
        if event_id in seen:
            return seen[event_id], True
        log = self._events[session_id]
        seq = log[-1].seq + 1 if log else 1
        stored = StoredEvent(seq, event_id, render(seq))
        log.append(stored)
        seen[event_id] = stored
        if len(log) > MAX_EVENTS_PER_SESSION:
            dropped = log.pop(0)
            seen.pop(dropped.event_id, None)
        await self.publish(session_id, stored.payload)
        return stored, False

    async def events_since(self, session_id: str, after_seq: int) -> list[StoredEvent]:
        return [e for e in self._events.get(session_id, []) if e.seq > after_seq]

    async def last_seq(self, session_id: str) -> int:
        log = self._events.get(session_id)
        return log[-1].seq if log else 0

    # -- fan-out

    async def publish(self, session_id: str, payload: str) -> None:
        for deliver in list(self._session_subs.get(session_id, [])):
            deliver(payload)

    async def send_to_member(self, member_id: str, payload: str) -> None:
        for deliver in list(self._member_subs.get(member_id, [])):
            deliver(payload)

    @staticmethod
    def _subscribe(table: dict[str, list[Deliver]], key: str, deliver: Deliver) -> Unsubscribe:
        table[key].append(deliver)

        def unsubscribe() -> None:
            subs = table.get(key)
            if subs and deliver in subs:
                subs.remove(deliver)
                if not subs:
                    del table[key]

        return unsubscribe

    async def subscribe_session(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        return self._subscribe(self._session_subs, session_id, deliver)

    async def subscribe_member(self, member_id: str, deliver: Deliver) -> Unsubscribe:
        return self._subscribe(self._member_subs, member_id, deliver)

    def on_wiped(self, handler: WipeHandler) -> None:
        """Memory is never wiped under a running node."""

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._session_subs.clear()
        self._member_subs.clear()
