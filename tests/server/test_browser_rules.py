"""Rules a client written from docs/protocol.md alone relies on (issue 25): each test is
named beside its rule in the document."""

from __future__ import annotations

import json
from pathlib import Path

from companion.protocol.messages import IceServer
from companion.server.app import ServerConfig, SignalingServer
from companion.server.ice import IceConfig
from tests.conftest import Clinic
from tests.server.raw import RawClient


async def test_ping_is_answered_ok_before_and_after_joining(clinic: Clinic) -> None:
    """A browser cannot send WebSocket pings: ``ping`` is the keepalive any connection may
    send, a patient's included (``list_sessions`` would be refused to them)."""
    therapist = await RawClient.open(clinic.url)
    patient = await RawClient.open(clinic.url)
    try:
        assert await patient.request({"type": "ping", "rid": "k1"}, "ok") == {
            "type": "ok",
            "rid": "k1",
        }
        await therapist.request(
            {"type": "login", "rid": "l", "therapist": clinic.therapist, "secret": clinic.secret},
            "login_ok",
        )
        created = await therapist.request({"type": "create_session", "rid": "c"}, "session_created")
        invite = next(i for i in created["invites"] if i["role"] == "patient")
        await patient.request({"type": "join", "rid": "j", "invite": invite["token"]}, "joined")
        await patient.send({"type": "list_sessions", "rid": "s"})
        refused = await patient.recv_type("error")
        assert refused["code"] == "not_authenticated"
        assert (await patient.request({"type": "ping", "rid": "k2"}, "ok"))["rid"] == "k2"
    finally:
        await patient.close()
        await therapist.close()


def test_a_stun_entry_carries_no_null_credentials() -> None:
    stun = json.loads(IceServer(urls=["stun:stun.example:3478"]).model_dump_json())
    assert stun == {"urls": ["stun:stun.example:3478"]}
    turn = IceServer(urls=["turn:t.example"], username="u", credential="c")
    assert json.loads(turn.model_dump_json()) == {
        "urls": ["turn:t.example"],
        "username": "u",
        "credential": "c",
    }


async def test_joined_lists_stun_servers_without_null_fields(tmp_path: Path) -> None:
    config = ServerConfig(
        data_dir=tmp_path,
        port=0,
        ice=IceConfig(stun_urls=["stun:127.0.0.1:3478"], turn_urls=[], turn_secret=None),
    )
    async with SignalingServer(config) as server:
        _, secret = server.db.add_therapist("dr-stun")
        raw = await RawClient.open(server.ws_url)
        try:
            await raw.request(
                {"type": "login", "rid": "l", "therapist": "dr-stun", "secret": secret}, "login_ok"
            )
            created = await raw.request({"type": "create_session", "rid": "c"}, "session_created")
            joined = await raw.request(
                {"type": "join", "rid": "j", "session_id": created["session"]["session_id"]},
                "joined",
            )
        finally:
            await raw.close()
    assert joined["ice_servers"] == [{"urls": ["stun:127.0.0.1:3478"]}]
