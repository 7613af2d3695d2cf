"""Two signaling nodes sharing one real Redis: members on different nodes, one session."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis

from companion.protocol.messages import (
    CheckIn,
    IceCandidate,
    PromptPush,
    RelayedSignal,
    SessionEvent,
)
from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import ClientOptions, SignalingClient
from tests.server.conftest import RedisProcess
from tests.waiting import until

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


@pytest.fixture
async def two_nodes(
    tmp_path: Path, redis_server: RedisProcess
) -> AsyncIterator[tuple[SignalingServer, SignalingServer]]:
    data = tmp_path / "clinic"  # one clinic: the nodes share accounts and the signing key
    nodes = [
        SignalingServer(ServerConfig(data_dir=data, port=0, redis_url=redis_server.url))
        for _ in range(2)
    ]
    for node in nodes:
        await node.start()
    yield nodes[0], nodes[1]
    for node in nodes:
        await node.stop()


async def _seat(
    therapist: SignalingClient,
    patient: SignalingClient,
    name: str,
    secret: str,
    by_link: bool = False,
) -> str:
    """The therapist signs in, opens a session and joins it; the patient joins with the
    invite's code (or its link's token). Returns the session id."""
    await therapist.connect()
    await therapist.login(name, secret)
    created = await therapist.create_session()
    await therapist.join(session_id=created.session.session_id)
    invite = created.invites[0]
    await patient.connect()
    await patient.join(invite=invite.token if by_link else invite.code)
    return created.session.session_id


@dataclass
class _Pair:
    therapist: SignalingClient
    """On node A."""
    patient: SignalingClient
    """On node B."""
    direct: redis.Redis
    """The tests' own connection to the clinic's Redis (replies decoded)."""
    session_id: str


@contextlib.asynccontextmanager
async def _seated_pair(
    nodes: tuple[SignalingServer, SignalingServer],
    redis_server: RedisProcess,
    patient_options: ClientOptions | None = None,
) -> AsyncIterator[_Pair]:
    """A therapist on node A and a patient on node B in one session, both arrivals stored."""
    node_a, node_b = nodes
    _, secret = node_a.db.add_therapist("dr-pair")
    therapist = SignalingClient(node_a.ws_url)
    patient = SignalingClient(node_b.ws_url, patient_options)
    direct = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        session_id = await _seat(therapist, patient, "dr-pair", secret)
        await until(lambda: therapist.last_seq >= 2)  # both joined
        yield _Pair(therapist, patient, direct, session_id)
    finally:
        direct.close()
        await therapist.close()
        await patient.close()


async def _both_nodes_listening(direct: redis.Redis) -> None:
    """Both nodes subscribe to Redis again (one pattern subscription each)."""
    await until(lambda: sum(int(c["psub"]) for c in direct.client_list()) == 2)


async def test_a_session_spans_two_nodes(
    two_nodes: tuple[SignalingServer, SignalingServer],
) -> None:
    node_a, node_b = two_nodes
    _, secret = node_a.db.add_therapist("dr-redis")
    therapist, patient = SignalingClient(node_a.ws_url), SignalingClient(node_b.ws_url)
    try:
        await _seat(therapist, patient, "dr-redis", secret)  # the code was made on the other node

        await until(
            lambda: (
                therapist.presence is not None
                and {m.role for m in therapist.presence.members if m.status == "online"}
                == {"therapist", "patient"}
            )
        )

        signals: list[RelayedSignal] = []
        patient.signal_received.connect(signals.append)
        await therapist.signal(
            patient.member_id or "", "call-1-x", IceCandidate(kind="candidate", candidate="c")
        )
        await until(lambda: len(signals) == 1)

        seen: list[SessionEvent] = []
        therapist.event_received.connect(seen.append)
        await patient.send_event(CheckIn(kind="checkin"))
        await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="feet-on-the-floor"))
        await until(lambda: {"checkin", "prompt.push"} <= {e.event.kind for e in seen})
        assert [e.event.kind for e in seen].count("checkin") == 1, [e.event.kind for e in seen]
        seqs = [e.seq for e in seen]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))

        # The patient's node goes away; the patient resumes on the other node.
        patient.urls = [node_a.ws_url]
        before = patient.last_seq
        await patient.drop_connection()
        await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="five-senses"))
        await until(lambda: patient.state == "online" and patient.last_seq >= before + 2)
        assert patient.joined is not None and patient.joined.resumed
    finally:
        await therapist.close()
        await patient.close()


async def test_without_redis_nodes_say_unhealthy_and_refuse_new_sessions(
    two_nodes: tuple[SignalingServer, SignalingServer], redis_server: RedisProcess
) -> None:
    node_a, _ = two_nodes
    _, secret = node_a.db.add_therapist("dr-down")
    therapist = SignalingClient(node_a.ws_url)
    try:
        await therapist.connect()
        await therapist.login("dr-down", secret)
        redis_server.stop()
        async with aiohttp.ClientSession() as http, http.get(f"{node_a.http_url}/healthz") as resp:
            assert resp.status == 503
        from companion.protocol.errors import ProtocolError

        with pytest.raises(ProtocolError) as info:
            await therapist.create_session()
        assert info.value.code == "unavailable"
        redis_server.start()
        # Redis is back: the node serves new sessions again (allow its pool a moment).
        for _ in range(20):
            try:
                created = await therapist.create_session()
                break
            except ProtocolError:
                await asyncio.sleep(0.25)
        assert created.session.session_id
        async with aiohttp.ClientSession() as http, http.get(f"{node_a.http_url}/healthz") as resp:
            assert resp.status == 200
    finally:
        await therapist.close()


async def test_check_ins_refused_while_redis_is_down_arrive_once_it_is_back(
    two_nodes: tuple[SignalingServer, SignalingServer], redis_server: RedisProcess
) -> None:
    """The patient's socket stays up while the clinic's Redis restarts: the check-ins the
    node refused as ``unavailable`` are sent again by themselves, and arrive exactly once,
    in the order they were made."""
    # The first resend comes late enough that Redis is surely back when the second
    # check-in is made: the second must still wait behind the first.
    late_resend = ClientOptions(resend_refused_s=(3.0,))
    # Both arrivals are stored (and so in the save below) before Redis goes away.
    async with _seated_pair(two_nodes, redis_server, late_resend) as pair:
        therapist, patient, direct = pair.therapist, pair.patient, pair.direct
        seen: list[SessionEvent] = []
        therapist.event_received.connect(seen.append)
        refusals: list[str] = []
        patient.error_received.connect(lambda error: refusals.append(error.code))
        states: list[str] = []
        patient.state_changed.connect(states.append)

        # A restart that keeps the data, as with the `appendonly yes` of docs/deploy.md.
        await asyncio.to_thread(direct.save)
        await asyncio.to_thread(redis_server.stop)
        first = await patient.send_event(CheckIn(kind="checkin"))
        await until(lambda: "unavailable" in refusals)
        assert patient.unacknowledged == 1
        await asyncio.to_thread(redis_server.start)
        await _both_nodes_listening(direct)
        # Redis is back, but the first check-in waits for its resend: the second waits too.
        second = await patient.send_event(CheckIn(kind="checkin"))
        await until(lambda: patient.unacknowledged == 0, within_s=30)
        await until(lambda: sum(e.event.kind == "checkin" for e in seen) >= 2, within_s=10)
        await asyncio.sleep(1.0)  # a second copy would have arrived by now
        assert [e.event_id for e in seen if e.event.kind == "checkin"] == [first, second]
        assert states == []  # no reconnect: the refused events were sent again on their own


async def test_events_a_node_missed_while_not_subscribed_reach_its_members(
    two_nodes: tuple[SignalingServer, SignalingServer], redis_server: RedisProcess
) -> None:
    """An event stored and published while node A's subscription to Redis was broken (a
    Redis restart, a dropped connection) reaches A's members once A subscribes again."""
    async with _seated_pair(two_nodes, redis_server) as pair:
        therapist, patient, direct = pair.therapist, pair.patient, pair.direct
        session_id = pair.session_id
        seen: list[SessionEvent] = []
        therapist.event_received.connect(seen.append)

        # The patient's check-in as node B stores it, its publish heard by no one (as when
        # it came while node A was reconnecting to Redis).
        seq = direct.incr(f"cmp:seq:{session_id}")
        missed = SessionEvent(
            session_id=session_id,
            seq=seq,
            event_id=str(uuid.uuid4()),
            from_member=patient.member_id,
            from_role="patient",
            at=time.time(),
            event=CheckIn(kind="checkin"),
        )
        direct.zadd(f"cmp:events:{session_id}", {missed.model_dump_json(): seq})
        await asyncio.sleep(0.5)
        assert seen == []
        # Both nodes lose their subscriber connection; redis-py subscribes again.
        assert direct.client_kill_filter(_type="pubsub") == 2
        await until(lambda: len(seen) >= 1)
        assert [e.event_id for e in seen] == [missed.event_id]
        # Later events arrive live, after it, and nothing twice.
        await patient.send_event(CheckIn(kind="checkin"))
        await until(lambda: len(seen) == 2)
        await asyncio.sleep(0.5)
        assert [e.seq for e in seen] == [seq, seq + 1]


async def test_a_redis_that_lost_its_last_writes_does_not_number_a_check_in_twice(
    two_nodes: tuple[SignalingServer, SignalingServer], redis_server: RedisProcess
) -> None:
    """Redis restarts from a snapshot older than the events the members already hold (as
    with appendfsync everysec, or a failover to a replica behind): the next check-in still
    reaches the therapist, under a number it has not had."""
    async with _seated_pair(two_nodes, redis_server) as pair:
        therapist, patient, direct = pair.therapist, pair.patient, pair.direct
        seen: list[SessionEvent] = []
        therapist.event_received.connect(seen.append)
        await asyncio.to_thread(direct.save)  # the snapshot Redis will come back from
        await patient.wait_acked(await patient.send_event(CheckIn(kind="checkin")))
        await until(lambda: len(seen) == 1)
        # Stopped without a save (no save points configured): the check-in is lost to it.
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(redis_server.start)
        assert direct.get(f"cmp:seq:{pair.session_id}") == "2"
        await _both_nodes_listening(direct)

        second = await patient.send_event(CheckIn(kind="checkin"))
        await until(lambda: patient.unacknowledged == 0, within_s=30)
        await until(lambda: len(seen) == 2)
        assert [e.event_id for e in seen][1] == second
        assert [e.seq for e in seen] == [3, 4]


async def test_a_member_who_drops_while_redis_is_down_is_marked_lost_once_it_is_back(
    two_nodes: tuple[SignalingServer, SignalingServer], redis_server: RedisProcess
) -> None:
    """The node cannot record the drop while Redis is away; it does so when Redis returns,
    instead of leaving the patient "online" with no one on the line."""
    async with _seated_pair(two_nodes, redis_server) as pair:
        therapist, patient, direct = pair.therapist, pair.patient, pair.direct
        kinds: list[str] = []
        therapist.event_received.connect(lambda event: kinds.append(event.event.kind))
        await asyncio.to_thread(direct.save)
        await asyncio.to_thread(redis_server.stop)
        await patient.close()
        await asyncio.sleep(0.5)
        assert kinds == []
        await asyncio.to_thread(redis_server.start)
        await until(lambda: "member.lost" in kinds, within_s=20)
        ids = direct.lrange(f"cmp:members:{pair.session_id}", 0, -1)
        rows = [direct.hgetall("cmp:member:" + str(i)) for i in ids]
        status = {row["role"]: row["status"] for row in rows}
        assert status == {"therapist": "online", "patient": "lost"}


def _start_node(data: Path, redis_url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "companion",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(data),
            "--redis",
            redis_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split(" on ")[1].split()[0]


async def test_a_killed_node_costs_nothing(tmp_path: Path, redis_server: RedisProcess) -> None:
    """SIGKILL the node a patient is on: the patient moves to the other node and resumes;
    every event is delivered once, in order."""
    data = tmp_path / "clinic"
    secret = subprocess.run(
        [
            sys.executable,
            "-m",
            "companion",
            "server",
            "add-therapist",
            "dr-kill",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    node_a, url_a = _start_node(data, redis_server.url)
    node_b, url_b = _start_node(data, redis_server.url)
    therapist = SignalingClient([url_a])
    patient = SignalingClient([url_b, url_a])  # a list of nodes, as a client is configured
    try:
        await _seat(therapist, patient, "dr-kill", secret, by_link=True)
        heard: list[SessionEvent] = []
        therapist.event_received.connect(heard.append)
        sent = [await patient.send_event(CheckIn(kind="checkin")) for _ in range(3)]
        node_b.kill()  # the patient's node dies mid-session
        sent += [await patient.send_event(CheckIn(kind="checkin")) for _ in range(3)]
        await until(lambda: patient.state == "online" and patient.unacknowledged == 0, within_s=15)
        assert patient.joined is not None and patient.joined.resumed
        await asyncio.sleep(0.3)
        assert [e.event_id for e in heard if e.event.kind == "checkin"] == sent
    finally:
        await therapist.close()
        await patient.close()
        for node in (node_a, node_b):
            node.kill()
            node.wait(timeout=10)
