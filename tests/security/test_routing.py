"""The server gives each member only what its role may read, live, on replay and across
nodes; and it vouches for each member's session key in the member list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from companion.protocol.messages import (
    CheckIn,
    Intention,
    SessionEvent,
    TextMessage,
)
from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import SignalingClient
from tests.security.samples import SECRET_WORDS
from tests.server.conftest import RedisProcess, redis_server  # noqa: F401 - fixture
from tests.server.raw import RawClient
from tests.waiting import until


@dataclass
class Trio:
    therapist: SignalingClient
    patient: SignalingClient
    support: SignalingClient
    invites: dict[str, str]


async def _seat_trio(urls: dict[str, str], server: SignalingServer) -> Trio:
    _, secret = server.db.add_therapist("dr-route")
    therapist, patient, support = (
        SignalingClient(urls[r]) for r in ("therapist", "patient", "support")
    )
    trio = Trio(therapist, patient, support, invites={})
    await trio.therapist.connect()
    await trio.therapist.login("dr-route", secret)
    created = await trio.therapist.create_session()
    await trio.therapist.join(session_id=created.session.session_id)
    trio.invites = {i.role: i.token for i in created.invites}
    for role in ("patient", "support"):
        client: SignalingClient = getattr(trio, role)
        await client.connect()
        await client.join(invite=trio.invites[role])
    return trio


async def _close(trio: Trio) -> None:
    for client in (trio.therapist, trio.patient, trio.support):
        await client.close()


@pytest.fixture
async def trio(server: SignalingServer) -> AsyncIterator[Trio]:
    seated = await _seat_trio(
        dict.fromkeys(("therapist", "patient", "support"), server.ws_url), server
    )
    yield seated
    await _close(seated)


def _kinds(client: SignalingClient) -> list[SessionEvent]:
    got: list[SessionEvent] = []
    client.event_received.connect(got.append)
    return got


async def _private_words_then_a_checkin(trio: Trio) -> None:
    await trio.patient.send_event(Intention(kind="intention", text=SECRET_WORDS))
    await trio.therapist.send_event(TextMessage(kind="message", to_role="patient", text="for p"))
    await trio.therapist.send_event(TextMessage(kind="message", to_role="support", text="for s"))
    await trio.patient.send_event(CheckIn(kind="checkin"))


def _what(events: list[SessionEvent]) -> list[str]:
    return [f"{e.event.kind}:{getattr(e.event, 'to_role', '')}" for e in events]


async def test_live_fan_out_and_replay_give_each_role_only_its_own(trio: Trio) -> None:
    seen = {role: _kinds(getattr(trio, role)) for role in ("therapist", "patient", "support")}
    await _private_words_then_a_checkin(trio)
    everything = {"intention:", "message:patient", "message:support", "checkin:"}
    await until(lambda: everything <= set(_what(seen["therapist"])), within_s=5)
    # Each sender's events arrive in order: once its check-in is in, its intention would be.
    await until(lambda: all("checkin:" in _what(s) for s in seen.values()), within_s=5)
    await until(lambda: "message:support" in _what(seen["support"]), within_s=5)
    await until(lambda: "message:patient" in _what(seen["patient"]), within_s=5)
    assert "intention:" not in _what(seen["support"])
    assert "message:patient" not in _what(seen["support"])
    assert "message:support" not in _what(seen["patient"])

    # The support member's own resume token, asking for everything from the start (its
    # app closed first, so that it does not take the place back meanwhile).
    assert trio.support.joined is not None
    token = trio.support.joined.resume_token
    await trio.support.close()
    raw = await RawClient.open(trio.support.urls[0])
    try:
        await raw.send({"type": "resume", "rid": "r", "resume_token": token, "last_seq": 0})
        await raw.recv_type("joined")
        replayed: list[str] = []
        with pytest.raises(TimeoutError):
            while True:
                message = await raw.recv(timeout=1.0)
                if message["type"] == "event":
                    event = message["event"]
                    replayed.append(f"{event['kind']}:{event.get('to_role', '')}")
        assert "checkin:" in replayed and "message:support" in replayed
        assert "intention:" not in replayed and "message:patient" not in replayed
    finally:
        await raw.close()


async def test_the_member_list_vouches_for_each_members_key(
    trio: Trio, server: SignalingServer
) -> None:
    def key_of(client: SignalingClient, listed_by: SignalingClient) -> str | None:
        return next(m.public_key for m in listed_by.members if m.member_id == client.member_id)

    await until(lambda: len(trio.therapist.members) == 3, within_s=5)
    for client in (trio.therapist, trio.patient, trio.support):
        assert client.identity is not None
        assert key_of(client, trio.therapist) == client.identity.public_key
    # A resume keeps the key; a fresh app joining with the invite brings a new one.
    before = trio.support.identity
    assert before is not None
    device = trio.support.device  # the same install comes back: its place is its own
    await trio.support.drop_connection()
    await until(lambda: trio.support.state == "online", within_s=10)
    assert trio.support.identity is before
    await until(lambda: key_of(trio.support, trio.patient) == before.public_key, within_s=5)
    await trio.support.close()
    fresh = SignalingClient(server.ws_url)
    try:
        await fresh.connect()
        async with asyncio.timeout(10):
            while True:  # the old place may count as "in use" for a moment
                try:
                    await fresh.join(invite=trio.invites["support"], device=device)
                    break
                except Exception:
                    await asyncio.sleep(0.3)
        assert fresh.identity is not None and fresh.identity.public_key != before.public_key
        assert fresh.member_id == trio.support.member_id
        await until(
            lambda: key_of(fresh, trio.patient) == fresh.identity.public_key,  # type: ignore[union-attr]
            within_s=5,
        )
    finally:
        await fresh.close()


async def test_routing_holds_across_nodes(tmp_path: Path, redis_server: RedisProcess) -> None:  # noqa: F811
    data = tmp_path / "clinic"
    nodes = [
        SignalingServer(ServerConfig(data_dir=data, port=0, redis_url=redis_server.url))
        for _ in range(2)
    ]
    for node in nodes:
        await node.start()
    # The support person on the other node: the event reaches it through Redis.
    trio = await _seat_trio(
        {"therapist": nodes[0].ws_url, "patient": nodes[0].ws_url, "support": nodes[1].ws_url},
        nodes[0],
    )
    try:
        seen = {role: _kinds(getattr(trio, role)) for role in ("therapist", "patient", "support")}
        await _private_words_then_a_checkin(trio)
        await until(lambda: all("checkin:" in _what(s) for s in seen.values()), within_s=10)
        assert "intention:" in _what(seen["therapist"])
        assert "intention:" not in _what(seen["support"])
        assert "message:support" not in _what(seen["patient"])
        assert "message:support" in _what(seen["support"])
    finally:
        await _close(trio)
        for node in nodes:
            await node.stop()
