"""``RedisStore``'s own promises, on a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace

import redis

from companion.server.redis_store import RedisStore
from companion.server.store import MemberRecord
from tests.server.conftest import RedisProcess

STALL_S = 3.0
"""Longer than the 2 s read timeout the store had."""


def _render(event_id: str) -> Callable[[int], str]:
    return lambda seq: json.dumps(
        {"type": "event", "session_id": "s1", "seq": seq, "event_id": event_id},
        separators=(",", ":"),
    )


async def test_a_resuming_member_keeps_the_numbers_above_what_it_holds(
    redis_server: RedisProcess,
) -> None:
    """A Redis that lost its last writes has a counter below the members' last seq: a
    member resuming with that seq (on a node that has delivered nothing of the session)
    takes the counter up with it, so the next event is new to everyone."""
    store = RedisStore(redis_server.url)
    try:
        patient = MemberRecord("m1", "s1", "patient", "h1", "online", invite_id="i1", epoch=1)
        assert (await store.seat(patient, None)).last_seq == 0
        for event_id in ("e1", "e2"):
            await store.append_event("s1", event_id, _render(event_id))

        back = await store.seat(replace(patient, resume_hash="h2", epoch=2), after_seq=7)
        assert back.last_seq == 7 and back.missed == []
        stored, duplicate = await store.append_event("s1", "e3", _render("e3"))
        assert (stored.seq, duplicate) == (8, False)
        assert json.loads(stored.payload)["seq"] == 8
        # A fresh join changes nothing; a wild last_seq moves the counter 1,000 at most.
        assert (await store.seat(replace(patient, epoch=3), None)).last_seq == 8
        wild = await store.seat(replace(patient, epoch=4), after_seq=10**9)
        assert wild.last_seq == 1008
        assert [e.seq for e in (await store.seat(patient, after_seq=1)).missed] == [2, 8]
    finally:
        await store.close()


async def test_a_members_language_is_kept_through_a_seat_and_a_read(
    redis_server: RedisProcess,
) -> None:
    """The outer ladder reads the support person's language from the member record
    (docs/protocol.md, ``join``): Redis keeps it like the member's other fields."""
    store = RedisStore(redis_server.url)
    try:
        support = MemberRecord(
            "m1", "s1", "support", "h1", "online", invite_id="i1", epoch=1, language="es"
        )
        await store.seat(support, None)
        assert [m.language for m in await store.members("s1")] == ["es"]
        await store.put_member(replace(support, member_id="m2", language=None))
        kept = await store.get_member("m2")
        assert kept is not None and kept.language is None
    finally:
        await store.close()


async def test_a_stalled_node_still_gets_the_replies_that_waited_for_it(
    redis_server: RedisProcess,
) -> None:
    """Issue 18: the node's own loop held up past the Redis client's read timeout (a machine
    with no CPU to spare): Redis answered in time, the reply sat in the socket. Before, the
    timeout fired as the loop ran again and the request failed ("try again shortly") for
    every client whose request was in flight."""
    store = RedisStore(redis_server.url)
    try:
        await store.last_seq("s1")  # connected
        # Redis holds its answer for 1 s (as under load), within the read timeout.
        redis.Redis.from_url(redis_server.url).client_pause(1000)
        pending = asyncio.create_task(store.last_seq("s1"))
        await asyncio.sleep(0.05)  # sent
        time.sleep(STALL_S)  # the whole loop held up: the answer waits in the socket
        assert await pending == 0
    finally:
        await store.close()
