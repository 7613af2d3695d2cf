"""The server under an attacker's load, from one address (issue 18): each finding's test.

Attackers connect from 127.0.0.2 and up (all of 127.0.0.0/8 is this machine), legitimate
clients from 127.0.0.1, so the per-address limits tell them apart as they would on the
internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from companion.cli import build_parser
from companion.server.app import ServerConfig, SignalingServer
from companion.server.connection import ClientConnection, ConnectionLimits
from companion.server.guard import AddressLimits
from tests.server.raw import RawClient
from tests.server.test_tls import _self_signed

ATTACKER = "127.0.0.2"


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[SignalingServer]:
    """A server with small per-address limits, so a test reaches them quickly."""
    config = ServerConfig(
        data_dir=tmp_path / "server",
        port=0,
        address_limits=AddressLimits(max_connections=20, handshake_timeout_s=1.0),
    )
    async with SignalingServer(config) as server:
        yield server


async def _ended(reader: asyncio.StreamReader, within_s: float) -> bool:
    """Whether the server closed this connection within ``within_s`` (an upper bound)."""
    try:
        async with asyncio.timeout(within_s):
            while await reader.read(4096):
                pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_slowloris_is_refused_past_its_share_and_cut_at_the_deadline(
    guarded: SignalingServer,
) -> None:
    """Finding 1: partial requests from one address hold at most its share of the file
    descriptors, and none of them past the upgrade deadline."""
    host, port = "127.0.0.1", guarded.port
    partial = []
    for _ in range(30):
        reader, writer = await asyncio.open_connection(host, port, local_addr=(ATTACKER, 0))
        writer.write(b"GET /ws HTTP/1.1\r\nHost: clinic\r\nUpgrade: websocket\r\n")  # never ends
        partial.append((reader, writer))
    await asyncio.sleep(0.2)
    assert guarded.addresses.get(ATTACKER).connections == 20  # the other ten: refused at once
    # Meanwhile the clinic goes on: a client connects and the health check answers.
    legit = await RawClient.open(guarded.ws_url)
    async with aiohttp.ClientSession() as http, http.get(f"{guarded.http_url}/healthz") as r:
        assert r.status == 200
    ended = await asyncio.gather(*(_ended(reader, 10.0) for reader, _ in partial))
    assert all(ended)
    assert guarded.addresses.get(ATTACKER).connections == 0
    # The WebSocket was upgraded in time: the deadline is not for it.
    await legit.send({"type": "nope"})
    assert (await legit.recv_type("error"))["code"] == "unknown_type"
    await legit.close()
    for _, writer in partial:
        writer.close()


async def test_ping_flood_is_cut_off_with_1008(server: SignalingServer) -> None:
    """Finding 2 (and 9): pings count against the connection's budget; a flood gets no
    more pongs than the budget and the connection is closed as a policy violation."""
    raw = await RawClient.open(server.ws_url, source=ATTACKER, autoping=False)
    for _ in range(2_000):
        await raw.ws.ping(b"flood")
    pongs = 0
    async with asyncio.timeout(10):
        while True:
            msg = await raw.ws.receive()
            if msg.type is aiohttp.WSMsgType.PONG:
                pongs += 1
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
    assert raw.ws.close_code == 1008
    assert pongs < 300  # a burst of 60 and 30 a second, never the 2,000 asked for
    await raw.close()


async def test_text_flood_closes_with_1008(server: SignalingServer) -> None:
    """Finding 9: the rate limit closes with 1008, as protocol.md says."""
    raw = await RawClient.open(server.ws_url, source=ATTACKER)
    for _ in range(400):
        await raw.send({"type": "nope"})
    async with asyncio.timeout(10):
        while (await raw.ws.receive()).type not in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        ):
            pass
    assert raw.ws.close_code == 1008
    await raw.close()


async def test_bytes_count_as_well_as_messages(server: SignalingServer) -> None:
    """Big messages run out the byte budget long before the message budget."""
    raw = await RawClient.open(server.ws_url, source=ATTACKER)
    pad = "x" * 60_000
    for _ in range(14):  # 14 messages (of 60 allowed), 840 kB (of 512 KiB)
        await raw.ws.send_str(json.dumps({"type": "nope", "pad": pad}))
    codes: list[str] = []
    while "rate_limited" not in codes and len(codes) < 14:  # refusals are told once a second
        codes.append((await raw.recv_type("error"))["code"])
    assert codes[-1] == "rate_limited"
    await raw.close()


async def test_an_unread_outbox_is_capped_in_bytes(tmp_path: Path) -> None:
    """Finding 3: a member that never reads is dropped once its queue holds too many
    bytes, however few messages that is (large answers, here)."""
    limits = ConnectionLimits(max_outbox_bytes=64 * 1024, dead_after_s=60.0)
    config = ServerConfig(data_dir=tmp_path / "server", port=0, limits=limits)
    async with SignalingServer(config) as server:
        _, secret = server.db.add_therapist("dr-out")
        therapist = await RawClient.open(server.ws_url)
        await therapist.request(
            {"type": "login", "therapist": "dr-out", "secret": secret}, "login_ok"
        )
        created = await therapist.request({"type": "create_session"}, "session_created")
        session_id = created["session"]["session_id"]
        await therapist.request({"type": "join", "session_id": session_id}, "joined")
        invite = created["invites"][0]["token"]
        reader = await RawClient.open(server.ws_url, source=ATTACKER, autoping=False)
        joined = await reader.request({"type": "join", "invite": invite}, "joined")
        # Stop reading, with small socket buffers on both sides so bytes pile up here.
        # third-party (aiohttp): its socket made small, then stalled
        client_transport = reader.ws._response.connection.transport  # type: ignore[union-attr]
        assert client_transport is not None
        client_transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
        )
        client_transport.pause_reading()
        stalled: ClientConnection = next(
            c for c in server.connections if c.member and c.member.role == "patient"
        )
        # fault injection: the server's socket made small
        assert stalled._transport is not None
        stalled._transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        # The therapist answers on the call's path (the only signal it may send the patient).
        answer = {"kind": "answer", "sdp": "v" * 40_000}
        for n in range(10):  # 400 kB in ten messages: far under the 512-message cap
            await therapist.send(
                {"type": "signal", "to": joined["member_id"], "pc_id": f"call-{n}", "data": answer}
            )
        async with asyncio.timeout(10):
            while stalled in server.connections:
                await asyncio.sleep(0.05)
        assert stalled.close_reason == "slow_consumer"
        await therapist.close()
        await reader.close()


async def test_malformed_http_is_logged_once_without_a_traceback(
    server: SignalingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 4: 300 malformed requests leave a line or two in the log, no traceback."""
    caplog.set_level(logging.DEBUG)
    bad = b"GET /healthz HTTP/1.1\r\nHost: clinic\r\nContent-Length: nope\r\n\r\n"
    for _ in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(bad)
        status = await reader.readline()
        assert status.split()[1] == b"400"
        writer.close()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(loud) <= 3, [r.getMessage() for r in loud]
    assert all(
        r.exc_info is None for r in caplog.records if r.name.startswith(("aiohttp", "companion"))
    )
    assert all("Traceback" not in r.getMessage() for r in loud)


def _count_secret_checks(server: SignalingServer) -> tuple[list[str], dict[str, int]]:
    """Instrument the real scrypt check: which names were hashed, and how many attacker
    checks were running when the legitimate one started."""
    names: list[str] = []
    state = {"attacker_running": 0, "running_when_legit_started": -1}
    lock = threading.Lock()
    real = server.db.check_therapist

    def check(name: str, secret: str) -> Any:
        attacker = name != "dr-legit"
        with lock:
            names.append(name)
            if attacker:
                state["attacker_running"] += 1
            else:
                state["running_when_legit_started"] = state["attacker_running"]
        try:
            return real(name, secret)
        finally:
            if attacker:
                with lock:
                    state["attacker_running"] -= 1

    server.db.check_therapist = check  # type: ignore[method-assign]
    return names, state


async def test_a_login_flood_never_queues_anyone_else(server: SignalingServer) -> None:
    """Finding 6: 16 connections from one address sending wrong secrets get a few scrypt
    checks in all, one at a time; a therapist elsewhere signs in beside them."""
    server.db.add_therapist("dr-victim")
    _, secret = server.db.add_therapist("dr-legit")
    names, state = _count_secret_checks(server)
    attackers = [await RawClient.open(server.ws_url, source=ATTACKER) for _ in range(16)]
    for raw in attackers:
        for _ in range(5):
            await raw.send({"type": "login", "therapist": "dr-victim", "secret": "wrong"})
    legit = await RawClient.open(server.ws_url)
    ok = await legit.request(
        {"type": "login", "therapist": "dr-legit", "secret": secret}, "login_ok"
    )
    assert ok["therapist_id"]
    assert state["running_when_legit_started"] <= 1  # a hashing thread was free for it
    codes = [(await raw.recv_type("error"))["code"] for raw in attackers for _ in range(5)]
    assert set(codes) == {"bad_credentials", "too_many_attempts"}  # every attempt answered
    assert names.count("dr-victim") <= 10  # of 80 attempts: the rest never reached scrypt
    for raw in [*attackers, legit]:
        await raw.close()


async def test_one_account_is_limited_across_addresses(server: SignalingServer) -> None:
    """The per-account limit: wrong secrets for one name from many addresses."""
    server.db.add_therapist("dr-victim")
    names, _ = _count_secret_checks(server)
    clients = [await RawClient.open(server.ws_url, source=f"127.0.0.{3 + i}") for i in range(5)]
    for raw in clients:
        for _ in range(4):
            await raw.send({"type": "login", "therapist": "dr-victim", "secret": "wrong"})
    for raw in clients:
        for _ in range(4):
            await raw.recv_type("error", timeout=10)
        await raw.close()
    assert names.count("dr-victim") <= 10  # 20 attempts, each address within its own limit


async def test_origin_is_checked_against_the_public_url_not_the_host_header(
    server: SignalingServer,
) -> None:
    """Finding 8: a page on a foreign host, sending its own Host and Origin, is refused."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(
                server.ws_url, origin="http://evil.example", headers={"Host": "evil.example"}
            )
        assert info.value.status == 403
        ws = await http.ws_connect(server.ws_url, origin=server.own_origin)
        await ws.close()


async def test_origin_of_a_public_url_behind_a_proxy(tmp_path: Path) -> None:
    config = ServerConfig(
        data_dir=tmp_path / "server", port=0, public_url="wss://companion.clinic.example/ws"
    )
    async with SignalingServer(config) as server, aiohttp.ClientSession() as http:
        assert server.own_origin == "https://companion.clinic.example"
        url = f"ws://127.0.0.1:{server.port}/ws"
        ws = await http.ws_connect(url, origin="https://companion.clinic.example")
        await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(url, origin=f"http://127.0.0.1:{server.port}")


def test_server_accepts_debug_after_the_subcommand() -> None:
    """Finding 9: deploy.md's ``companion server --debug`` parses."""
    parser = build_parser()
    assert parser.parse_args(["server", "--debug", "--port", "0"]).debug is True
    assert parser.parse_args(["--debug", "server"]).debug is True
    assert parser.parse_args(["server"]).debug is False


async def test_tls_offers_aead_suites_only(tmp_path: Path) -> None:
    """Finding 9: a TLS 1.2 client offering only CBC suites is refused; AEAD works."""
    cert, key = _self_signed(tmp_path)
    config = ServerConfig(data_dir=tmp_path / "data", port=0, cert=cert, key=key)
    async with SignalingServer(config) as server:

        def client(ciphers: str) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=str(cert))
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(ciphers)
            return context

        cbc = client("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA")
        with pytest.raises((ssl.SSLError, ConnectionError)):  # no shared cipher
            await asyncio.open_connection("127.0.0.1", server.port, ssl=cbc)
        aead = client("ECDHE-ECDSA-AES128-GCM-SHA256")
        _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=aead)
        assert "GCM" in writer.get_extra_info("cipher")[0]
        writer.close()


async def test_an_address_shares_one_budget_across_its_connections(tmp_path: Path) -> None:
    """Per address: five connections within their own budgets still draw on one shared
    allowance, and past it the server reads them more slowly (nothing is refused)."""
    limits = AddressLimits(messages_per_s=20.0, messages_burst=20.0)
    config = ServerConfig(data_dir=tmp_path / "server", port=0, address_limits=limits)
    async with SignalingServer(config) as server:
        clients = [
            await RawClient.open(server.ws_url, source=ATTACKER, autoping=False) for _ in range(5)
        ]
        for raw in clients:
            for _ in range(20):  # within the connection's own burst of 60
                await raw.ws.ping(b"p")

        async def pongs(raw: RawClient) -> int:
            count = 0
            async with asyncio.timeout(15):
                while count < 20:
                    if (await raw.ws.receive()).type is aiohttp.WSMsgType.PONG:
                        count += 1
            return count

        assert await asyncio.gather(*(pongs(raw) for raw in clients)) == [20] * 5
        address = server.addresses.get(ATTACKER)
        assert address.throttled >= 50  # 100 frames against a burst of 20: reading waited
        assert server.addresses.get("127.0.0.1").throttled == 0
        for raw in clients:
            await raw.close()


async def test_a_flooder_that_ignores_the_close_is_cut_off(server: SignalingServer) -> None:
    """Finding 2: after its 1008 the server does not wait for the flooder's close (it
    would parse the flood meanwhile: 10 s with aiohttp's default), it cuts the socket."""
    raw = await RawClient.open(server.ws_url, source=ATTACKER, autoping=False)
    cut = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):  # the bound; the cut comes within a fraction of it
            while True:
                try:
                    for _ in range(100):
                        await raw.ws.ping(b"flood")  # never reading the close frame
                except (ConnectionError, aiohttp.ClientError):
                    cut = True
                    break
                await asyncio.sleep(0)
    assert cut
    await raw.close()
