"""``SessionStore`` on Redis: several signaling nodes serve one clinic.

Sessions, invites, members, resume tokens and each session's timeline live in Redis;
fan-out is Redis pub/sub (one subscriber connection per node). Members of one session may
sit on different nodes: presence, relay, resume and the event sequence behave as on one.
When a node's subscriber connection comes back after a break, the node delivers the
session events published meanwhile from the timeline, in order, before newer ones.

Keys (all under ``prefix``): ``session:<id>`` hash, ``sessions:<therapist>`` set,
``invite:<id>`` hash, ``code:<keyed hash of the code>`` -> invite id, ``member:<id>`` hash,
``resume:<hash>`` -> member id, ``members:<session>`` list (+ set for uniqueness),
``seq:<session>`` counter, ``eids:<session>`` hash event id -> seq,
``events:<session>`` sorted set (score = seq) of serialized events, ``store`` the
store's identity (see ``_check_wiped``), ``attempts:<key>`` counters of wrong
short codes (they expire with their window).

An ended session's timeline, members and resume tokens expire ``ended_retention_s`` after
its end; its own hash after ``SESSION_TOMBSTONE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from companion.listening import ListeningTimeout
from companion.server.clinicdb import InviteRecord, SessionRecord
from companion.server.store import (
    ENDED_SESSION_RETENTION_S,
    Deliver,
    MemberRecord,
    ResumeTarget,
    Seating,
    StoredEvent,
    StoreUnavailable,
    Unsubscribe,
    WipeHandler,
)

_log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# Store an event once and publish it, atomically: events of a session reach every node in
# seq order even when two nodes append at the same moment. The payload comes rendered with
# seq -1; the script writes the real number in (JSON escapes quotes inside strings, so the
# first unescaped "seq":-1, is the field itself). ARGV[3] is the highest seq this node has
# delivered for the session: a Redis that restarted without its last writes (appendfsync
# everysec loses up to a second) must not hand out numbers the members already hold,
# or they would take a new check-in for one they have and drop it.
_SEQ_PLACEHOLDER = -1
_SEQ_SLOT = f'"seq":{_SEQ_PLACEHOLDER},'  # as the script finds it
_SEQ_FIELD = re.compile(r'"seq":(\d+),')  # the first match is the field, as above
_APPEND = """
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local stored = redis.call('ZRANGEBYSCORE', KEYS[3], existing, existing)
  return {tonumber(existing), 1, stored[1] or ''}
end
local seq = redis.call('INCR', KEYS[2])
if seq <= tonumber(ARGV[3]) then
  seq = tonumber(ARGV[3]) + 1
  redis.call('SET', KEYS[2], seq)
end
redis.call('HSET', KEYS[1], ARGV[1], seq)
local payload = string.gsub(ARGV[2], '"seq":%-1,', '"seq":' .. seq .. ',', 1)
redis.call('ZADD', KEYS[3], seq, payload)
redis.call('PUBLISH', KEYS[4], payload)
return {seq, 0}
"""

# A resume in one round trip: the member a token names, its session and its invite. The
# keys after the first are named inside, so these scripts want a single Redis (not a
# cluster). ARGV[1] is the key prefix.
_RESUME_TARGET = """
local member_id = redis.call('GET', KEYS[1])
if not member_id then return false end
local member = redis.call('HGETALL', ARGV[1] .. 'member:' .. member_id)
if #member == 0 then return false end
local fields = {}
for i = 1, #member, 2 do fields[member[i]] = member[i + 1] end
local session = redis.call('HGETALL', ARGV[1] .. 'session:' .. fields['session_id'])
local invite = {}
if fields['invite_id'] ~= '' then
  invite = redis.call('HGETALL', ARGV[1] .. 'invite:' .. fields['invite_id'])
end
return {member_id, member, session, invite}
"""
# Seat a member and read what it is told, as one step: KEYS are its member hash, its
# resume key, the session's member set, member list, seq counter and events; ARGV the
# prefix, the member id, the seq to replay after ('' for none), the highest seq this node
# has delivered for the session, then the member's fields. The member's previous resume
# key goes: one live token a member. As in _APPEND, the counter
# never stays below numbers the members hold: this node's, or the resuming member's own
# (trusted up to 1,000 past the counter, so a client cannot push it far).
_SEAT = """
local previous = redis.call('HGET', KEYS[1], 'resume_hash')
if previous and ARGV[1] .. 'resume:' .. previous ~= KEYS[2] then
  redis.call('DEL', ARGV[1] .. 'resume:' .. previous)
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('SET', KEYS[2], ARGV[2])
if redis.call('SADD', KEYS[3], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[4], ARGV[2]) end
local ids = redis.call('LRANGE', KEYS[4], 0, -1)
local rows = {}
for i, id in ipairs(ids) do rows[i] = redis.call('HGETALL', ARGV[1] .. 'member:' .. id) end
local missed = {}
if ARGV[3] ~= '' then
  missed = redis.call('ZRANGEBYSCORE', KEYS[6], '(' .. ARGV[3], '+inf', 'WITHSCORES')
end
local last_seq = tonumber(redis.call('GET', KEYS[5]) or '0')
local floor = tonumber(ARGV[4])
if ARGV[3] ~= '' then floor = math.max(floor, math.min(tonumber(ARGV[3]), last_seq + 1000)) end
if floor > last_seq then
  last_seq = floor
  redis.call('SET', KEYS[5], floor)
end
return {last_seq, ids, rows, missed}
"""
# End a session: mark it, and let its live state expire. KEYS: the session hash, its member
# list, member set, seq counter, events and event ids; ARGV: the prefix, the retention and
# the session hash's own (longer) lifetime, in seconds.
_END_SESSION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ended', '1')
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local member = ARGV[1] .. 'member:' .. id
  local resume_hash = redis.call('HGET', member, 'resume_hash')
  if resume_hash then redis.call('EXPIRE', ARGV[1] .. 'resume:' .. resume_hash, ARGV[2]) end
  redis.call('EXPIRE', member, ARGV[2])
end
for i = 2, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
SESSION_TOMBSTONE_S = 30 * 24 * 3600
"""An ended session's hash stays this long, so a late join hears it ended."""
WIPE_CHECK_S = 1.0
"""How often a node checks that the store still holds its data (one GET)."""


def _available(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Redis trouble becomes ``StoreUnavailable``: the client hears "try again shortly"."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    return wrapper


def _session_from(h: dict[str, str], session_id: str) -> SessionRecord:
    return SessionRecord(
        session_id,
        h["therapist_id"],
        h["label"],
        float(h["created_at"]),
        h["ended"] == "1",
        h.get("relay_only") == "1",
    )


def _invite_from(h: dict[str, str], invite_id: str) -> InviteRecord:
    return InviteRecord(
        invite_id,
        h["session_id"],
        h["role"],
        h.get("code_hash", ""),
        float(h["expires_at"]),
        h["revoked"] == "1",
    )


def _pairs(flat: list[str]) -> dict[str, str]:
    """A hash as a Lua script returns it (field, value, field, value…)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _member_fields(member: MemberRecord) -> dict[str, str]:
    return {
        "session_id": member.session_id,
        "role": member.role,
        "resume_hash": member.resume_hash,
        "status": member.status,
        "invite_id": member.invite_id or "",
        "therapist_id": member.therapist_id or "",
        "epoch": str(member.epoch),
        "device_hash": member.device_hash,
        "public_key": member.public_key or "",
        "box_key": member.box_key or "",
        "language": member.language or "",
    }


def _member_from(h: dict[str, str], member_id: str) -> MemberRecord:
    return MemberRecord(
        member_id=member_id,
        session_id=h["session_id"],
        role=h["role"],  # type: ignore[arg-type]
        resume_hash=h["resume_hash"],
        status=h["status"],  # type: ignore[arg-type]
        invite_id=h["invite_id"] or None,
        therapist_id=h["therapist_id"] or None,
        epoch=int(h["epoch"]),
        device_hash=h.get("device_hash", ""),
        public_key=h.get("public_key") or None,
        box_key=h.get("box_key") or None,
        language=h.get("language") or None,
    )


REPLY_TIMEOUT_S = 2.0
"""A Redis reply not read within this long of the node's own running time fails the
request ("try again shortly")."""


class _ListeningConnection(aioredis.Connection):
    """Replies awaited in the node's own running time (``ListeningTimeout``): a node held up
    past the timeout still reads the answers Redis sent meanwhile (issue 18)."""

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (redis-py's signature)
        **kwargs: Any,
    ) -> Any:
        if timeout is not None:  # the caller's own wait (pub/sub polling)
            return await super().read_response(disable_decoding, timeout, **kwargs)
        try:
            async with ListeningTimeout(REPLY_TIMEOUT_S):
                return await super().read_response(disable_decoding, math.inf, **kwargs)
        except TimeoutError as exc:  # the connection was dropped as it was cancelled
            raise RedisTimeout("no reply from redis in time") from exc


class RedisStore:
    def __init__(
        self, url: str, prefix: str = "cmp:", ended_retention_s: float = ENDED_SESSION_RETENTION_S
    ) -> None:
        # redis-py's stubs type replies as bytes | str whatever decode_responses says; with
        # decode_responses=True every reply here is str.
        # A blocking pool of bounded size: when a node dies and all its clients resume on
        # this one at once, requests wait their turn for a connection instead of failing
        # with MaxConnectionsError (redis-py's default pool stops at 100 connections).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            decode_responses=True,
            max_connections=256,
            timeout=10.0,
            connection_class=_ListeningConnection,
        )
        self._redis: Any = aioredis.Redis.from_pool(pool)
        self._prefix = prefix
        self._append = self._redis.register_script(_APPEND)
        self._resume_target = self._redis.register_script(_RESUME_TARGET)
        self._seat = self._redis.register_script(_SEAT)
        self._end_session = self._redis.register_script(_END_SESSION)
        self._retention_s = ended_retention_s
        # Wipe detection: the store's identity as this node first saw it, and the records
        # of the sessions with members here, to write back if the store comes back empty.
        self._identity: str | None = None
        self._next_wipe_check = 0.0
        self._wiped: WipeHandler | None = None
        self._records: dict[str, SessionRecord] = {}
        self._invites_of: dict[str, dict[str, InviteRecord]] = defaultdict(dict)
        # Subscription confirmations are wanted: one comes after every reconnect.
        self._pubsub: Any = self._redis.pubsub()
        self._local: dict[str, list[Deliver]] = defaultdict(list)
        self._seen_seq: dict[str, int] = {}  # session channel -> last event seq delivered here
        self._session_channels = self._k("chan", "session", "")
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Lock()

    def _k(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    # -- durable clinic data

    @_available
    async def create_session(self, session: SessionRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._k("session", session.session_id),
                mapping={
                    "therapist_id": session.therapist_id,
                    "label": session.label,
                    "created_at": repr(session.created_at),
                    "ended": "1" if session.ended else "0",
                    "relay_only": "1" if session.relay_only else "0",
                },
            )
            pipe.sadd(self._k("sessions", session.therapist_id), session.session_id)
            await pipe.execute()
        self._remember(session)

    @_available
    async def get_session(self, session_id: str) -> SessionRecord | None:
        h = await self._redis.hgetall(self._k("session", session_id))
        return self._remember(_session_from(h, session_id)) if h else None

    @_available
    async def sessions_of(self, therapist_id: str) -> list[SessionRecord]:
        ids = await self._redis.smembers(self._k("sessions", therapist_id))
        sessions = [s for s in [await self.get_session(i) for i in ids] if s is not None]
        return sorted(sessions, key=lambda s: s.created_at)

    @_available
    async def end_session(self, session_id: str) -> None:
        keys = [self._k("session", session_id)] + [
            self._k(kind, session_id) for kind in ("members", "memberset", "seq", "events", "eids")
        ]
        retention = max(1, round(self._retention_s))
        await self._end_session(keys=keys, args=[self._prefix, retention, SESSION_TOMBSTONE_S])

    @_available
    async def save_invite(self, invite: InviteRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._k("invite", invite.invite_id),
                mapping={
                    "session_id": invite.session_id,
                    "role": invite.role,
                    "code_hash": invite.code_hash,
                    "expires_at": repr(invite.expires_at),
                    "revoked": "1" if invite.revoked else "0",
                },
            )
            pipe.set(self._k("code", invite.code_hash), invite.invite_id)
            await pipe.execute()
        self._remember_invite(invite)

    @_available
    async def get_invite(self, invite_id: str) -> InviteRecord | None:
        h = await self._redis.hgetall(self._k("invite", invite_id))
        return self._remember_invite(_invite_from(h, invite_id)) if h else None

    @_available
    async def invite_by_code(self, code_hash: str) -> InviteRecord | None:
        invite_id = await self._redis.get(self._k("code", code_hash))
        return await self.get_invite(invite_id) if invite_id else None

    @_available
    async def revoke_invite(self, invite_id: str) -> None:
        await self._redis.hset(self._k("invite", invite_id), "revoked", "1")

    # -- attempt counters (short codes), shared by every node

    @_available
    async def count_attempt(self, key: str, window_s: float) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._k("attempts", key))
            pipe.pexpire(self._k("attempts", key), int(window_s * 1000), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    @_available
    async def attempts(self, key: str) -> int:
        value = await self._redis.get(self._k("attempts", key))
        return int(value) if value else 0

    # -- live membership

    @_available
    async def put_member(self, member: MemberRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("member", member.member_id), mapping=_member_fields(member))
            pipe.set(self._k("resume", member.resume_hash), member.member_id)
            pipe.sadd(self._k("memberset", member.session_id), member.member_id)
            added, *_ = (await pipe.execute())[2:]
        if added:
            await self._redis.rpush(self._k("members", member.session_id), member.member_id)

    @_available
    async def get_member(self, member_id: str) -> MemberRecord | None:
        h = await self._redis.hgetall(self._k("member", member_id))
        return _member_from(h, member_id) if h else None

    @_available
    async def members(self, session_id: str) -> list[MemberRecord]:
        ids = await self._redis.lrange(self._k("members", session_id), 0, -1)
        # Every presence update reads all members: one round trip for them, not one each
        # (it matters when a dead node's clients all resume on this one at once).
        async with self._redis.pipeline(transaction=False) as pipe:
            for member_id in ids:
                pipe.hgetall(self._k("member", member_id))
            rows = await pipe.execute() if ids else []
        return [_member_from(h, i) for i, h in zip(ids, rows, strict=True) if h]

    @_available
    async def resume_target(self, resume_hash: str) -> ResumeTarget | None:
        found = await self._resume_target(
            keys=[self._k("resume", resume_hash)], args=[self._prefix]
        )
        if not found:
            return None
        member_id, member, session, invite = found
        record = _member_from(_pairs(member), member_id)
        target = ResumeTarget(
            record,
            _session_from(_pairs(session), record.session_id) if session else None,
            _invite_from(_pairs(invite), record.invite_id) if invite and record.invite_id else None,
        )
        if target.session is not None:
            self._remember(target.session)
        if target.invite is not None:
            self._remember_invite(target.invite)
        return target

    @_available
    async def seat(self, member: MemberRecord, after_seq: int | None) -> Seating:
        session_id = member.session_id
        keys = [
            self._k("member", member.member_id),
            self._k("resume", member.resume_hash),
            self._k("memberset", session_id),
            self._k("members", session_id),
            self._k("seq", session_id),
            self._k("events", session_id),
        ]
        fields = [part for pair in _member_fields(member).items() for part in pair]
        args = [
            self._prefix,
            member.member_id,
            "" if after_seq is None else str(after_seq),
            str(self._delivered_seq(session_id)),
        ]
        last_seq, ids, rows, missed = await self._seat(keys=keys, args=[*args, *fields])
        members = [_member_from(_pairs(row), i) for i, row in zip(ids, rows, strict=True) if row]
        events = [StoredEvent(int(score), "", payload) for payload, score in _pairs(missed).items()]
        return Seating(int(last_seq), members, events)

    # -- the timeline

    @_available
    async def append_event(
        self, session_id: str, event_id: str, render: Callable[[int], str]
    ) -> tuple[StoredEvent, bool]:
        keys = [
            self._k("eids", session_id),
            self._k("seq", session_id),
            self._k("events", session_id),
            self._k("chan", "session", session_id),
        ]
        rendered = render(_SEQ_PLACEHOLDER)
        seq, duplicate, *stored = await self._append(
            keys=keys, args=[event_id, rendered, self._delivered_seq(session_id)]
        )
        # A new event's payload is not sent back: it is the one rendered here, numbered.
        payload = stored[0] if duplicate else rendered.replace(_SEQ_SLOT, f'"seq":{seq},', 1)
        return StoredEvent(int(seq), event_id, payload), bool(duplicate)

    @_available
    async def events_since(self, session_id: str, after_seq: int) -> list[StoredEvent]:
        rows = await self._redis.zrangebyscore(
            self._k("events", session_id), f"({after_seq}", "+inf", withscores=True
        )
        return [StoredEvent(int(score), "", payload) for payload, score in rows]

    @_available
    async def last_seq(self, session_id: str) -> int:
        value = await self._redis.get(self._k("seq", session_id))
        return int(value) if value else 0

    # -- fan-out through pub/sub

    @_available
    async def publish(self, session_id: str, payload: str) -> None:
        await self._redis.publish(self._k("chan", "session", session_id), payload)

    @_available
    async def send_to_member(self, member_id: str, payload: str) -> None:
        await self._redis.publish(self._k("chan", "member", member_id), payload)

    async def _subscribe(self, channel: str, deliver: Deliver) -> Unsubscribe:
        # One pattern subscription per node, made once: redis-py's pub/sub connection must
        # not be written (SUBSCRIBE) while the listener reads it, and a node filtering
        # locally costs little at a clinic's scale.
        async with self._listening:
            if self._listener is None or self._listener.done():
                await self._pubsub.psubscribe(self._k("chan", "*"))
                self._listener = asyncio.create_task(self._listen(), name="redis-fanout")
        self._local[channel].append(deliver)

        def unsubscribe() -> None:
            subs = self._local.get(channel)
            if subs and deliver in subs:
                subs.remove(deliver)
                if not subs:
                    del self._local[channel]
                    self._seen_seq.pop(channel, None)
                    self._forget(channel.removeprefix(self._session_channels))

        return unsubscribe

    @_available
    async def subscribe_session(self, session_id: str, deliver: Deliver) -> Unsubscribe:
        return await self._subscribe(self._k("chan", "session", session_id), deliver)

    @_available
    async def subscribe_member(self, member_id: str, deliver: Deliver) -> Unsubscribe:
        return await self._subscribe(self._k("chan", "member", member_id), deliver)

    async def _listen(self) -> None:
        subscribed_before = catch_up = False
        while True:
            try:
                if catch_up or time.monotonic() >= self._next_wipe_check:
                    self._next_wipe_check = time.monotonic() + WIPE_CHECK_S
                    await self._check_wiped()
                if catch_up:  # before anything newer is delivered
                    await self._catch_up()
                    catch_up = False
                message: dict[str, Any] | None = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, StoreUnavailable) as exc:
                _log.warning("redis fan-out interrupted: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            if message["type"] == "psubscribe":
                # After a break redis-py subscribes again on a new connection: what was
                # published in between reached the other nodes but not this one.
                catch_up, subscribed_before = subscribed_before, True
            elif message["type"] == "pmessage":
                self._deliver(message["channel"], message["data"])

    def _delivered_seq(self, session_id: str) -> int:
        """The highest seq this node has delivered for the session (0: none yet)."""
        return self._seen_seq.get(self._session_channels + session_id, 0)

    def _deliver(self, channel: str, payload: str) -> None:
        subscribers = self._local.get(channel)
        if not subscribers:
            return
        # Every member's admission is an event on its session's channel, so each session
        # with members here soon has a known place to catch up from.
        timeline = channel.startswith(self._session_channels) and payload.startswith(
            '{"type":"event"'
        )
        if timeline and (found := _SEQ_FIELD.search(payload)):
            self._seen_seq[channel] = max(self._seen_seq.get(channel, 0), int(found.group(1)))
        for deliver in list(subscribers):
            deliver(payload)

    async def _catch_up(self) -> None:
        """Deliver, in order, the session events this node missed while it was not
        subscribed (members drop any they already have: they keep the highest seq)."""
        caught_up = 0
        for channel, seen in list(self._seen_seq.items()):
            if channel not in self._local:  # its last member left meanwhile
                continue
            session_id = channel.removeprefix(self._session_channels)
            for stored in await self.events_since(session_id, seen):
                self._deliver(channel, stored.payload)
                caught_up += 1
        _log.info("redis fan-out back: %d missed events delivered", caught_up)

    # -- a store that lost its data

    def on_wiped(self, handler: WipeHandler) -> None:
        self._wiped = handler

    def _remember(self, session: SessionRecord) -> SessionRecord:
        """Session and invite records pass through here on their way to handlers: those of
        sessions with members on this node are what it writes back after a wipe."""
        self._records[session.session_id] = session
        self._forget_unwatched()
        return session

    def _remember_invite(self, invite: InviteRecord) -> InviteRecord:
        self._invites_of[invite.session_id][invite.invite_id] = invite
        self._forget_unwatched()
        return invite

    def _forget(self, session_id: str) -> None:
        self._records.pop(session_id, None)
        self._invites_of.pop(session_id, None)

    def _forget_unwatched(self, keep_at_most: int = 5_000) -> None:
        # Records read for sessions nobody here joined (a therapist's list, a failed
        # join) are dropped in batches, not kept for good.
        if len(self._records) + len(self._invites_of) <= 2 * keep_at_most:
            return
        for session_id in list(self._records.keys() | self._invites_of.keys()):
            if self._session_channels + session_id not in self._local:
                self._forget(session_id)

    async def _check_wiped(self) -> None:
        """The ``store`` key names this store's data; all nodes share it. Gone (a Redis
        restarted without its data) or different (another node saw that first): write
        back the sessions and invites of this node's members, then let the node make
        them join again. Their timelines are lost; their places are not."""
        key = self._k("store")
        if self._identity is None:
            await self._redis.set(key, secrets.token_hex(8), nx=True)
            self._identity = await self._redis.get(key)
            return
        current = await self._redis.get(key)
        if current == self._identity:
            return
        if current is None:
            await self._redis.set(key, secrets.token_hex(8), nx=True)
            current = await self._redis.get(key)
        _log.warning(
            "the shared store lost its data: writing back %d live sessions", len(self._records)
        )
        self._seen_seq.clear()  # numbering starts afresh with the members' new places
        for session_id, session in list(self._records.items()):
            if self._session_channels + session_id not in self._local:
                continue
            await self.create_session(session)
            for invite in list(self._invites_of.get(session_id, {}).values()):
                await self.save_invite(invite)
        if self._wiped is not None:
            await self._wiped()
        self._identity = current  # only now: a step that failed is retried next time

    async def healthy(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 1.0))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        await self._redis.aclose()
