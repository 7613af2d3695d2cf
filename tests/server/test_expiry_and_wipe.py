"""Ended sessions' live state is freed (memory and Redis), and a Redis that comes back
empty is noticed: its members take their places again (issue 18, findings 5 and 11)."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import redis

from companion.protocol.messages import CheckIn, SessionEvent
from companion.server.app import SignalingServer
from companion.server.clinicdb import InviteRecord, SessionRecord
from companion.server.memory_store import MemoryStore
from companion.server.redis_store import SESSION_TOMBSTONE_S, RedisStore
from companion.server.store import MemberRecord, StoreUnavailable
from tests.server.conftest import RedisProcess
from tests.server.test_redis_nodes import _seated_pair, two_nodes  # noqa: F401
from tests.waiting import until

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


def _render(seq: int) -> str:
    return f'{{"type":"event","seq":{seq},' + '"pad":"' + "x" * 1000 + '"}'


async def _ended_session_with_events(store: MemoryStore | RedisStore) -> None:
    await store.create_session(SessionRecord("s1", "t1", "", 0.0))
    await store.save_invite(InviteRecord("i1", "s1", "patient", "ABCDEFGH", 1e12))
    await store.seat(MemberRecord("m1", "s1", "patient", "hash1", "online", "i1"), None)
    for n in range(100):
        await store.append_event("s1", f"e{n}", _render)
    await store.end_session("s1")


async def test_memory_store_frees_an_ended_session_after_the_retention() -> None:
    now = [1_000.0]
    store = MemoryStore(ended_retention_s=60.0, clock=lambda: now[0])
    await _ended_session_with_events(store)
    now[0] += 59.0
    await store.create_session(SessionRecord("s2", "t1", "", 0.0))
    assert len(await store.events_since("s1", 0)) == 100  # kept for the retention time
    now[0] += 2.0
    await store.create_session(SessionRecord("s3", "t1", "", 0.0))
    assert await store.events_since("s1", 0) == []
    assert await store.get_member("m1") is None
    assert await store.resume_target("hash1") is None
    assert await store.members("s1") == []
    # What a late comer needs to hear "it ended" stays.
    session = await store.get_session("s1")
    assert session is not None and session.ended
    assert await store.get_invite("i1") is not None


@needs_redis
async def test_redis_store_expires_an_ended_session(redis_server: RedisProcess) -> None:
    store = RedisStore(redis_server.url, prefix="t:", ended_retention_s=1.0)
    direct = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await _ended_session_with_events(store)
        for key in (
            "t:events:s1",
            "t:eids:s1",
            "t:seq:s1",
            "t:members:s1",
            "t:member:m1",
            "t:resume:hash1",
        ):
            assert 0 < direct.pttl(key) <= 1_000, key
        assert direct.ttl("t:session:s1") > SESSION_TOMBSTONE_S - 60
        await asyncio.sleep(1.2)
        assert direct.exists("t:events:s1", "t:member:m1", "t:resume:hash1") == 0
        assert await store.resume_target("hash1") is None
        session = await store.get_session("s1")
        assert session is not None and session.ended
    finally:
        direct.close()
        await store.close()


@needs_redis
async def test_a_redis_restarted_empty_makes_members_join_again(
    two_nodes: tuple[SignalingServer, SignalingServer],  # noqa: F811
    redis_server: RedisProcess,
) -> None:
    async with _seated_pair(two_nodes, redis_server) as pair:
        before = {pair.therapist.member_id, pair.patient.member_id}
        checkins: list[SessionEvent] = []
        pair.therapist.event_received.connect(
            lambda e: checkins.append(e) if e.event.kind == "checkin" else None
        )
        redis_server.stop()
        redis_server.start()  # same port, nothing in it (against deploy.md)
        # Both are told and take a place again (new members: the old ones are gone).
        await until(
            lambda: (
                pair.therapist.member_id not in before
                and pair.patient.member_id not in before
                and pair.therapist.state == pair.patient.state == "online"
            ),
            within_s=20,
        )
        node_a = two_nodes[0]
        # This read may meet a pooled connection the restart closed: one more try is what
        # redis-py needs to reconnect it (the members' own requests went through already).
        try:
            members = await node_a.store.members(pair.session_id)
        except StoreUnavailable:
            members = await node_a.store.members(pair.session_id)
        assert sorted(m.role for m in members if m.status == "online") == ["patient", "therapist"]
        # The session goes on: a check-in is numbered past what the members hold (the
        # client drops any other) and delivered.
        await pair.patient.send_event(CheckIn(kind="checkin"))
        await until(lambda: len(checkins) == 1)
