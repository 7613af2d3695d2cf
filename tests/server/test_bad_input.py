"""Bad input, one row each: the exact error code, and a healthy session that never notices.

Every row runs against the same real server, beside a live therapist + patient session
(session A). After each row, session A must still relay a check-in with no error, no
reconnect and nothing unexpected.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import pytest

from companion.protocol.messages import CheckIn, Error, InviteInfo, SessionEvent, TextMessage
from companion.server.app import SignalingServer
from companion.server.clinicdb import InviteRecord
from companion.signaling.client import SignalingClient
from tests.server.raw import RawClient

UUID = "0b7e4a8a-3c1f-4d8e-9a39-6b0f2f6a1c55"


@dataclass
class Arena:
    server: SignalingServer
    therapist: SignalingClient
    patient: SignalingClient
    secret: str
    other_secret: str
    invites_a: dict[str, InviteInfo]
    invites_b: dict[str, InviteInfo]
    session_a: str
    session_b: str
    errors: list[Error] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    checkins: list[SessionEvent] = field(default_factory=list)


@pytest.fixture
async def arena(server: SignalingServer) -> AsyncIterator[Arena]:
    _, secret = server.db.add_therapist("dr-a")
    _, other_secret = server.db.add_therapist("dr-b")
    therapist, patient = SignalingClient(server.ws_url), SignalingClient(server.ws_url)
    await therapist.connect()
    await therapist.login("dr-a", secret)
    a = await therapist.create_session("A")
    b = await therapist.create_session("B")
    await therapist.join(session_id=a.session.session_id)
    await patient.connect()
    await patient.join(invite=a.invites[0].token)
    arena = Arena(
        server,
        therapist,
        patient,
        secret,
        other_secret,
        {i.role: i for i in a.invites},
        {i.role: i for i in b.invites},
        a.session.session_id,
        b.session.session_id,
    )
    for client in (therapist, patient):
        client.error_received.connect(arena.errors.append)
        client.state_changed.connect(arena.states.append)
    therapist.event_received.connect(
        lambda e: arena.checkins.append(e) if e.event.kind == "checkin" else None
    )
    yield arena
    await therapist.close()
    await patient.close()


Setup = Literal["anon", "therapist", "other_therapist", "patient_b"]
Frames = Callable[[Arena], list[Any]]


@dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    frames: Frames
    expect: str
    """An error code, or ``close:<ws close code>`` for frame-level violations."""
    after_others: bool = False
    """Other errors may come first (a flood is answered message by message until it trips)."""


def _tamper_signature(token: str) -> str:
    head, _, sig = token.rpartition(".")
    return f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"


def _tamper_payload(token: str) -> str:
    import base64

    prefix, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "support"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{prefix}.{forged}.{sig}"


def _expired_invite(arena: Arena) -> str:
    record = InviteRecord("expiredinv", arena.session_b, "patient", "EXPIRED2", time.time() - 5)
    asyncio.get_event_loop().create_task(arena.server.store.save_invite(record))
    return arena.server.signer.issue_invite(
        "expiredinv", arena.session_b, "patient", time.time() - 5
    )


def _join(invite: str, **extra: Any) -> dict[str, Any]:
    return {"type": "join", "invite": invite, **extra}


def _music_at(position: str) -> str:
    """A music status whose position is ``position`` as written (JSON has no infinity:
    ``Infinity`` and ``1e999`` both parse as one)."""
    body = _event(
        {
            "kind": "music.status",
            "playing": True,
            "title": "t",
            "position_s": 0,
            "duration_s": 1,
            "volume_db": -6,
        }
    )
    return json.dumps(body).replace('"position_s": 0', f'"position_s": {position}')


def _event(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "event", "event_id": UUID, "event": body, **extra}


CASES: list[Case] = [
    # Frame and shape
    Case("invalid json", "anon", lambda a: ["{bad"], "bad_json"),
    Case("json nested too deep", "anon", lambda a: ["[" * 5000 + "]" * 5000], "bad_json"),
    Case("json array", "anon", lambda a: ["[]"], "invalid_message"),
    Case("json string", "anon", lambda a: ['"hello"'], "invalid_message"),
    Case("no type", "anon", lambda a: [{}], "invalid_message"),
    Case("unknown type", "anon", lambda a: [{"type": "launch_missiles"}], "unknown_type"),
    Case("type not a string", "anon", lambda a: [{"type": 7}], "unknown_type"),
    Case("binary frame", "anon", lambda a: [b"\x00\x01binary"], "binary_not_supported"),
    Case("invalid utf-8", "anon", lambda a: [("text-bytes", b'{"type":"\xff"}')], "bad_utf8"),
    Case("oversize message", "anon", lambda a: ['"' + "x" * 70_000 + '"'], "close:1009"),
    Case("flood", "anon", lambda a: [{"type": "nope"}] * 150, "rate_limited", after_others=True),
    # Accounts
    # An unknown field is dropped (a later version's optional field), never acted on
    Case(
        "extra field",
        "anon",
        lambda a: [{"type": "login", "therapist": "dr-a", "secret": "x", "admin": True}],
        "bad_credentials",
    ),
    Case(
        "older protocol",
        "anon",
        lambda a: [{"type": "login", "therapist": "dr-a", "secret": "x", "protocol": 0}],
        "unsupported_protocol",
    ),
    Case(
        "protocol not a number",
        "anon",
        lambda a: [{"type": "join", "invite": "x", "protocol": "1"}],
        "invalid_message",
    ),
    Case(
        "therapist wrong type",
        "anon",
        lambda a: [{"type": "login", "therapist": 5, "secret": "x"}],
        "invalid_message",
    ),
    Case(
        "secret and token",
        "anon",
        lambda a: [{"type": "login", "therapist": "dr-a", "secret": "x", "access_token": "y"}],
        "invalid_message",
    ),
    Case(
        "wrong secret",
        "anon",
        lambda a: [{"type": "login", "therapist": "dr-a", "secret": "wrong"}],
        "bad_credentials",
    ),
    Case(
        "unknown therapist",
        "anon",
        lambda a: [{"type": "login", "therapist": "nobody", "secret": "x"}],
        "bad_credentials",
    ),
    Case(
        "forged access token",
        "anon",
        lambda a: [
            {
                "type": "login",
                "therapist": "dr-a",
                "access_token": _tamper_signature(
                    a.server.signer.issue_access("x", time.time() + 60)
                ),
            }
        ],
        "token_invalid",
    ),
    Case(
        "expired access token",
        "anon",
        lambda a: [
            {
                "type": "login",
                "therapist": "dr-a",
                "access_token": a.server.signer.issue_access("x", time.time() - 1),
            }
        ],
        "token_expired",
    ),
    Case(
        "invite used as access token",
        "anon",
        lambda a: [
            {"type": "login", "therapist": "dr-a", "access_token": a.invites_b["patient"].token}
        ],
        "token_invalid",
    ),
    Case(
        "create session anonymously",
        "anon",
        lambda a: [{"type": "create_session"}],
        "not_authenticated",
    ),
    Case(
        "invite for another's session",
        "other_therapist",
        lambda a: [{"type": "create_invite", "session_id": a.session_a, "role": "patient"}],
        "forbidden",
    ),
    Case(
        "join another's session",
        "other_therapist",
        lambda a: [{"type": "join", "session_id": a.session_a}],
        "forbidden",
    ),
    Case(
        "invite for therapist role",
        "therapist",
        lambda a: [{"type": "create_invite", "session_id": a.session_b, "role": "therapist"}],
        "invalid_message",
    ),
    Case(
        "revoke unknown invite",
        "therapist",
        lambda a: [{"type": "revoke_invite", "invite_id": "nope"}],
        "invite_unknown",
    ),
    Case(
        "patient revokes",
        "patient_b",
        lambda a: [{"type": "revoke_invite", "invite_id": a.invites_a["support"].invite_id}],
        "not_authenticated",
    ),
    # Joining
    Case("garbage token", "anon", lambda a: [_join("ci1.abc.def")], "token_invalid"),
    Case(
        "forged invite signature",
        "anon",
        lambda a: [_join(_tamper_signature(a.invites_b["patient"].token))],
        "token_invalid",
    ),
    Case(
        "tampered invite payload",
        "anon",
        lambda a: [_join(_tamper_payload(a.invites_b["patient"].token))],
        "token_invalid",
    ),
    Case(
        "access token as invite",
        "anon",
        lambda a: [_join(a.server.signer.issue_access("x", time.time() + 60))],
        "token_invalid",
    ),
    Case("expired invite", "anon", lambda a: [_join(_expired_invite(a))], "token_expired"),
    Case("unknown code", "anon", lambda a: [_join("ZZZZ-ZZZZ")], "code_unknown"),
    Case(
        "wrong role",
        "anon",
        lambda a: [_join(a.invites_b["patient"].token, as_role="support")],
        "wrong_role",
    ),
    Case(
        "replayed join",
        "patient_b",
        lambda a: [_join(a.invites_b["support"].token)],
        "already_joined",
    ),
    Case(
        "invite in use on another device",
        "anon",
        lambda a: [_join(a.invites_a["patient"].token)],
        "device_bound",
    ),
    Case(
        "bogus resume token",
        "anon",
        lambda a: [{"type": "resume", "resume_token": "nope", "last_seq": 0}],
        "resume_invalid",
    ),
    Case(
        "negative last_seq",
        "anon",
        lambda a: [{"type": "resume", "resume_token": "x", "last_seq": -1}],
        "invalid_message",
    ),
    Case(
        "too many wrong codes",
        "anon",
        lambda a: [_join(f"AAAA-AAA{c}") for c in "BCDEF"],
        "too_many_attempts",
        after_others=True,
    ),
    # In session
    Case("event before join", "anon", lambda a: [_event({"kind": "checkin"})], "not_joined"),
    Case(
        "event for another session",
        "patient_b",
        lambda a: [_event({"kind": "checkin"}, session_id=a.session_a)],
        "wrong_session",
    ),
    Case(
        "patient pushes prompt",
        "patient_b",
        lambda a: [_event({"kind": "prompt.push", "prompt_id": "x"})],
        "event_kind_forbidden",
    ),
    Case(
        "client forges member event",
        "patient_b",
        lambda a: [_event({"kind": "member.left", "member_id": "x", "role": "patient"})],
        "event_kind_forbidden",
    ),
    Case(
        "event id not a uuid",
        "patient_b",
        lambda a: [{"type": "event", "event_id": "1", "event": {"kind": "checkin"}}],
        "invalid_message",
    ),
    Case(
        "event field wrong type",
        "patient_b",
        lambda a: [_event({"kind": "help", "held_ms": "1500"})],
        "invalid_message",
    ),
    Case("infinite number", "patient_b", lambda a: [_music_at("Infinity")], "invalid_message"),
    Case("number past float range", "patient_b", lambda a: [_music_at("1e999")], "invalid_message"),
    Case(
        "unknown event kind",
        "patient_b",
        lambda a: [_event({"kind": "self_destruct"})],
        "invalid_message",
    ),
    Case(
        "signal into another session",
        "patient_b",
        lambda a: [
            {"type": "signal", "to": a.patient.member_id, "pc_id": "p", "data": {"kind": "hangup"}}
        ],
        "wrong_session",
    ),
    Case(
        "signal to nobody",
        "patient_b",
        lambda a: [{"type": "signal", "to": "ghost", "pc_id": "p", "data": {"kind": "hangup"}}],
        "wrong_session",
    ),
    Case(
        "oversize sdp",
        "patient_b",
        lambda a: [
            {
                "type": "signal",
                "to": "x",
                "pc_id": "p",
                "data": {"kind": "offer", "sdp": "v" * 50_000},
            }
        ],
        "invalid_message",
    ),
]


async def _prepare(arena: Arena, setup: Setup) -> RawClient:
    raw = await RawClient.open(arena.server.ws_url)
    if setup == "therapist":
        await raw.request(
            {"type": "login", "therapist": "dr-a", "secret": arena.secret}, "login_ok"
        )
    elif setup == "other_therapist":
        await raw.request(
            {"type": "login", "therapist": "dr-b", "secret": arena.other_secret}, "login_ok"
        )
    elif setup == "patient_b":
        await raw.request(_join(arena.invites_b["patient"].token), "joined")
    return raw


async def _send(raw: RawClient, frame: Any) -> None:
    if isinstance(frame, tuple) and frame[0] == "text-bytes":
        await raw.ws.send_frame(frame[1], aiohttp.WSMsgType.TEXT)
    elif isinstance(frame, bytes):
        await raw.ws.send_bytes(frame)
    elif isinstance(frame, str):
        await raw.ws.send_str(frame)
    else:
        await raw.send(frame)


async def _expect(raw: RawClient, expect: str, after_others: bool) -> None:
    async with asyncio.timeout(10):
        while True:
            msg = await raw.ws.receive()
            if expect.startswith("close:"):
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    assert raw.ws.close_code == int(expect.split(":")[1])
                    return
                continue
            assert msg.type is aiohttp.WSMsgType.TEXT, f"connection ended ({msg.type})"
            data = json.loads(msg.data)
            if data["type"] == "error":
                if after_others and data["code"] != expect:
                    continue
                assert data["code"] == expect, data
                assert "Traceback" not in data["message"]
                return


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_refused_and_others_do_not_notice(arena: Arena, case: Case) -> None:
    raw = await _prepare(arena, case.setup)
    try:
        for frame in case.frames(arena):
            await _send(raw, frame)
        await _expect(raw, case.expect, case.after_others)
    finally:
        await raw.close()

    # Session A goes on exactly as before.
    before = len(arena.checkins)
    await arena.patient.send_event(CheckIn(kind="checkin"))
    async with asyncio.timeout(5):
        while len(arena.checkins) == before:
            await asyncio.sleep(0.01)
    assert arena.errors == []
    assert arena.states == []  # no reconnect, no drop
    async with aiohttp.ClientSession() as http, http.get(f"{arena.server.http_url}/healthz") as r:
        assert r.status == 200


def test_the_table_is_broad() -> None:
    assert len(CASES) >= 30
    assert len({c.expect for c in CASES}) >= 20


async def test_foreign_origin_is_refused(server: SignalingServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(server.ws_url, origin="https://evil.example")
        assert info.value.status == 403
        # The server's own origin is fine (a browser client served by it).
        ws = await http.ws_connect(server.ws_url, origin=server.http_url)
        await ws.close()


async def test_client_that_never_reads_is_dropped(server: SignalingServer) -> None:
    """Fan-out to a reader that stalls must not grow server memory: it gets dropped."""
    from companion.server.connection import ClientConnection

    _, secret = server.db.add_therapist("dr-flood")
    therapist = SignalingClient(server.ws_url)
    await therapist.connect()
    await therapist.login("dr-flood", secret)
    created = await therapist.create_session()
    await therapist.join(session_id=created.session.session_id)
    stalled = await RawClient.open(server.ws_url, autoping=False)
    await stalled.request(_join(created.invites[1].token), "joined")
    # Stop reading: pause the transport so the kernel buffers fill up.
    # third-party (aiohttp): its socket, to stall it
    transport = stalled.ws._response.connection.transport  # type: ignore[union-attr]
    assert transport is not None
    transport.pause_reading()
    stalled_conn: ClientConnection = next(
        c for c in server.connections if c.member and c.member.role == "support"
    )
    for _ in range(50):
        await therapist.send_event(TextMessage(kind="message", to_role="support", text="x" * 900))
    async with asyncio.timeout(15):
        while stalled_conn in server.connections:
            await asyncio.sleep(0.05)
    # Dropped for not reading (outbox full) or for not answering pings, whichever came first.
    assert stalled_conn.close_reason in ("slow_consumer", "timeout")
    await stalled.close()
    await therapist.close()
