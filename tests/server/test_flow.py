"""The whole signaling flow against a real server on 127.0.0.1 with real WebSocket clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from companion.protocol.messages import (
    CheckIn,
    CheckInRequest,
    IceCandidate,
    PromptPush,
    RelayedSignal,
    SessionEvent,
)
from companion.server.app import ServerConfig, SignalingServer
from companion.server.memory_store import MemoryStore
from companion.server.store import MemberRecord, Seating, StoredEvent, StoreUnavailable
from companion.signaling.client import SignalingClient
from tests.conftest import Clinic
from tests.server.raw import RawClient
from tests.waiting import until


@pytest.fixture(params=["memory", "redis"])
def server_config(request: pytest.FixtureRequest, tmp_path: Path) -> ServerConfig:
    """The whole flow on either store: one node in memory, or one node over real Redis."""
    redis_url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    return ServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, redis_url=redis_url)


async def test_healthz_answers(server: SignalingServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.http_url}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    assert "version" in body


async def test_invite_join_relay_presence_resume(clinic: Clinic) -> None:
    therapist = SignalingClient(clinic.url)
    patient = SignalingClient(clinic.url)
    support = SignalingClient(clinic.url)
    try:
        await therapist.connect()
        await therapist.login(clinic.therapist, clinic.secret)
        created = await therapist.create_session("evening")
        invites = {i.role: i for i in created.invites}
        assert invites["patient"].link.startswith("companion://join?")
        assert len(invites["patient"].code) == 9  # XXXX-XXXX

        await therapist.join(session_id=created.session.session_id)
        await patient.connect()
        await patient.join(invite=invites["patient"].token, as_role="patient")
        await support.connect()
        # A code as a person would type it: lower case, spaces instead of the dash.
        await support.join(invite=invites["support"].code.lower().replace("-", " "))

        await until(
            lambda: (
                therapist.presence is not None
                and sorted(m.role for m in therapist.presence.members if m.status == "online")
                == ["patient", "support", "therapist"]
            )
        )

        # Relay: WebRTC negotiation goes to exactly one member.
        seen_signals: list[RelayedSignal] = []
        patient.signal_received.connect(seen_signals.append)
        await therapist.signal(
            patient.member_id or "", "call-1", IceCandidate(kind="candidate", candidate="cand")
        )
        await until(lambda: len(seen_signals) == 1)
        assert seen_signals[0].from_member == therapist.member_id

        # Events fan out, in one order, to everyone whose role may read them (the support
        # person has no part in the patient's grounding prompts).
        timelines: dict[str, list[SessionEvent]] = {"t": [], "p": [], "s": []}
        therapist.event_received.connect(timelines["t"].append)
        patient.event_received.connect(timelines["p"].append)
        support.event_received.connect(timelines["s"].append)
        await patient.send_event(CheckIn(kind="checkin"))
        await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="box-breathing"))
        await until(lambda: len(timelines["t"]) == len(timelines["p"]) == 2)
        await therapist.send_event(CheckInRequest(kind="checkin.request", request_id="r1"))
        await until(lambda: len(timelines["s"]) == 2)
        kinds = {who: [e.event.kind for e in t][:2] for who, t in timelines.items()}
        assert kinds == {
            "t": ["checkin", "prompt.push"],
            "p": ["checkin", "prompt.push"],
            "s": ["checkin", "checkin.request"],
        }

        # Resume: the patient drops; events happen meanwhile; it comes back with all of them.
        before = patient.last_seq
        await patient.drop_connection()
        await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="five-senses"))
        await until(lambda: patient.state == "online" and patient.last_seq > before + 1)
        # The prompt pushed while the patient was away arrived on resume.
        assert "five-senses" in [getattr(e.event, "prompt_id", None) for e in timelines["p"]]
        assert [e.seq for e in timelines["p"]] == sorted({e.seq for e in timelines["p"]})
        await until(lambda: any(e.event.kind == "member.back" for e in timelines["t"]))
    finally:
        for client in (therapist, patient, support):
            await client.close()


@pytest.fixture
async def seated(clinic: Clinic) -> AsyncIterator[tuple[SignalingClient, SignalingClient]]:
    """A therapist and a patient, both joined to one session."""
    therapist, patient = SignalingClient(clinic.url), SignalingClient(clinic.url)
    await therapist.connect()
    await therapist.login(clinic.therapist, clinic.secret)
    created = await therapist.create_session()
    await therapist.join(session_id=created.session.session_id)
    await patient.connect()
    await patient.join(invite=created.invites[0].token)
    yield therapist, patient
    await therapist.close()
    await patient.close()


async def test_retried_event_lands_once(seated: tuple[SignalingClient, SignalingClient]) -> None:
    therapist, patient = seated
    received: list[SessionEvent] = []
    therapist.event_received.connect(received.append)
    event_id = str(uuid.uuid4())
    first = await patient.send_event(CheckIn(kind="checkin"), event_id=event_id)
    ack1 = await patient.wait_acked(first)
    await patient.send_event(CheckIn(kind="checkin"), event_id=event_id)
    ack2 = await patient.wait_acked(event_id)
    assert ack2 is not None and ack2.duplicate
    assert ack1 is None or ack1.seq == ack2.seq
    await asyncio.sleep(0.2)
    assert [e.event_id for e in received if e.event.kind == "checkin"] == [event_id]


async def test_events_sent_while_offline_arrive_once_in_order(
    seated: tuple[SignalingClient, SignalingClient],
) -> None:
    therapist, patient = seated
    received: list[SessionEvent] = []
    therapist.event_received.connect(received.append)
    await patient.drop_connection()
    ids = [await patient.send_event(CheckIn(kind="checkin")) for _ in range(5)]
    await until(lambda: patient.state == "online" and patient.unacknowledged == 0)
    await asyncio.sleep(0.2)
    checkins = [e.event_id for e in received if e.event.kind == "checkin"]
    assert checkins == ids


async def test_dead_connection_is_noticed_and_others_told(clinic: Clinic) -> None:
    """A client that goes silent (stops answering pings) is declared lost by the server."""
    therapist = SignalingClient(clinic.url)
    try:
        await therapist.connect()
        await therapist.login(clinic.therapist, clinic.secret)
        created = await therapist.create_session()
        await therapist.join(session_id=created.session.session_id)
        # autoping off and never reading: to the server this is a dead peer.
        silent = await RawClient.open(clinic.url, autoping=False)
        await silent.send({"type": "join", "invite": created.invites[0].token})
        lost: list[SessionEvent] = []
        therapist.event_received.connect(
            lambda e: lost.append(e) if e.event.kind == "member.lost" else None
        )
        await until(lambda: len(lost) == 1, within_s=10)
        await silent.close()
    finally:
        await therapist.close()


async def test_revoked_invite_cannot_join_and_holder_is_let_go(clinic: Clinic) -> None:
    therapist = SignalingClient(clinic.url)
    support = await RawClient.open(clinic.url)
    try:
        await therapist.connect()
        await therapist.login(clinic.therapist, clinic.secret)
        created = await therapist.create_session()
        invite = next(i for i in created.invites if i.role == "support")
        await support.request({"type": "join", "invite": invite.token}, "joined")
        await therapist.revoke_invite(invite.invite_id)
        error = await support.recv_type("error")
        assert error["code"] == "token_revoked" and error["fatal"]
        again = await RawClient.open(clinic.url)
        await again.send({"type": "join", "invite": invite.code})
        assert (await again.recv_type("error"))["code"] == "token_revoked"
        await again.close()
        rows = clinic.server.db.audit_rows()
        assert ("revoke", "invite", invite.invite_id) in [(r[2], r[3], r[4]) for r in rows]
    finally:
        await therapist.close()
        await support.close()


async def test_turn_credentials_are_issued_when_configured(tmp_path) -> None:
    import base64
    import hashlib
    import hmac

    from companion.server.app import ServerConfig
    from companion.server.ice import IceConfig

    config = ServerConfig(
        data_dir=tmp_path,
        port=0,
        ice=IceConfig(
            stun_urls=["stun:127.0.0.1:3478"],
            turn_urls=["turn:127.0.0.1:3478?transport=udp"],
            turn_secret="s3cret",
            turn_ttl_s=600,
        ),
    )
    async with SignalingServer(config) as server:
        _, secret = server.db.add_therapist("dr-turn")
        client = SignalingClient(server.ws_url)
        await client.connect()
        await client.login("dr-turn", secret)
        created = await client.create_session()
        joined = await client.join(session_id=created.session.session_id)
        await client.close()
    turn = next(s for s in joined.ice_servers if s.username)
    expiry, member = (turn.username or "").split(":")
    assert member == joined.member_id
    expected = base64.b64encode(
        hmac.new(b"s3cret", (turn.username or "").encode(), hashlib.sha1).digest()
    ).decode()
    assert turn.credential == expected
    assert int(expiry) > 0


class _GivesWay(MemoryStore):
    """Shared state that gives way at chosen steps (a Redis blip)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0
        self.append_failures = 0
        self.background_read_failures = 0
        """``get_member`` fails in the node's background retries ("mark … lost")."""

    async def seat(self, member: MemberRecord, after_seq: int | None) -> Seating:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("ConnectionError")
        return await super().seat(member, after_seq)

    async def get_member(self, member_id: str) -> MemberRecord | None:
        task = asyncio.current_task()
        if self.background_read_failures and task and task.get_name().startswith("mark"):
            self.background_read_failures -= 1
            raise StoreUnavailable("ConnectionError")
        return await super().get_member(member_id)

    async def append_event(
        self, session_id: str, event_id: str, render: Callable[[int], str]
    ) -> tuple[StoredEvent, bool]:
        if self.append_failures:
            self.append_failures -= 1
            raise StoreUnavailable("ConnectionError")
        return await super().append_event(session_id, event_id, render)


@dataclass
class _Blip:
    store: _GivesWay
    therapist: SignalingClient
    patient: RawClient
    """Connected, not joined."""
    invite: str
    url: str


@pytest.fixture
async def blip(tmp_path: Path) -> AsyncIterator[_Blip]:
    """A therapist seated in a fresh session on a store that gives way when told to."""
    store = _GivesWay()
    async with SignalingServer(ServerConfig(data_dir=tmp_path, port=0), store=store) as server:
        _, secret = server.db.add_therapist("dr-blip")
        therapist = SignalingClient(server.ws_url)
        patient = await RawClient.open(server.ws_url)
        try:
            await therapist.connect()
            await therapist.login("dr-blip", secret)
            created = await therapist.create_session()
            await therapist.join(session_id=created.session.session_id)
            await until(lambda: therapist.last_seq == 1)  # its own arrival
            yield _Blip(store, therapist, patient, created.invites[0].token, server.ws_url)
        finally:
            await patient.close()
            await therapist.close()


async def test_a_join_refused_halfway_leaves_the_connection_free_to_try_again(
    blip: _Blip,
) -> None:
    store, therapist, patient = blip.store, blip.therapist, blip.patient
    store.failures = 1
    join = {"type": "join", "invite": blip.invite, "rid": "j1"}
    refused = await patient.request(join, "error")
    assert (refused["code"], refused["rid"]) == ("unavailable", "j1")
    # Not seated: what the session says meanwhile is not this connection's to hear.
    pushed = PromptPush(kind="prompt.push", prompt_id="box-breathing")
    await therapist.wait_acked(await therapist.send_event(pushed))
    joined = await patient.request({**join, "rid": "j2"}, "joined")
    assert joined["rid"] == "j2" and not joined["resumed"]
    assert joined["last_seq"] == 2  # the therapist's arrival and the prompt
    await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="five-senses"))
    later = await patient.recv_type("event")
    while later["event"]["kind"] != "prompt.push":
        later = await patient.recv_type("event")
    assert later["event"]["prompt_id"] == "five-senses"


async def test_an_arrival_the_store_cannot_announce_yet_is_announced_once_it_can(
    blip: _Blip,
) -> None:
    """Seated, then the store gives way: the join stands (no error after ``joined``) and
    the others hear of the arrival once, a moment later."""
    kinds: list[str] = []
    blip.therapist.event_received.connect(lambda event: kinds.append(event.event.kind))
    blip.store.append_failures = 2  # now and on the first retry
    join = {"type": "join", "invite": blip.invite, "rid": "j1"}
    assert (await blip.patient.request(join, "joined"))["last_seq"] == 1
    arrival = await blip.patient.recv_type("event")  # an error first would fail here
    assert (arrival["seq"], arrival["event"]["kind"]) == (2, "member.joined")
    await until(lambda: kinds == ["member.joined"])
    await asyncio.sleep(1.0)
    assert kinds == ["member.joined"]


async def test_a_seat_given_back_late_does_not_unseat_the_member_who_took_it_again(
    blip: _Blip,
) -> None:
    """A resume fails halfway and its seat is to be given back once the store answers;
    meanwhile the member resumes again and is seated. The late give-back leaves it be."""
    kinds: list[str] = []
    blip.therapist.event_received.connect(lambda event: kinds.append(event.event.kind))
    joined = await blip.patient.request({"type": "join", "invite": blip.invite}, "joined")
    await blip.patient.close()
    await until(lambda: kinds == ["member.joined", "member.lost"])
    again = await RawClient.open(blip.url)
    try:
        blip.store.failures = blip.store.background_read_failures = 1
        resume = {"type": "resume", "resume_token": joined["resume_token"], "last_seq": 2}
        assert (await again.request(resume, "error"))["code"] == "unavailable"
        assert (await again.request(resume, "joined"))["resumed"]
        await until(lambda: kinds[-1:] == ["member.back"])
        await asyncio.sleep(1.5)  # the give-back has been tried again by now
        assert kinds == ["member.joined", "member.lost", "member.back"]
        assert blip.therapist.presence is not None
        assert [m.status for m in blip.therapist.presence.members] == ["online", "online"]
    finally:
        await again.close()


async def test_an_arrival_announced_late_is_not_news_once_the_member_has_left(
    blip: _Blip,
) -> None:
    kinds: list[str] = []
    blip.therapist.event_received.connect(lambda event: kinds.append(event.event.kind))
    blip.store.append_failures = 2  # the arrival now, and on the first retry
    await blip.patient.request({"type": "join", "invite": blip.invite}, "joined")
    await until(lambda: blip.store.append_failures == 0)  # the next try comes in 0.5 s
    await blip.patient.request({"type": "leave", "rid": "l1"}, "ok")
    await until(lambda: kinds == ["member.left"])
    await asyncio.sleep(1.5)  # the arrival has been tried again by now
    assert kinds == ["member.left"]
