"""The signaling client's own watch on its connection: silence counts only while the
client is listening. Its loop held up (a long paint, a blocking call, a machine with no
CPU to spare) is not the server's silence; a server that really stops answering is
still noticed."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest

from companion.server.app import ServerConfig, SignalingServer
from companion.server.connection import ConnectionLimits
from companion.signaling.client import ClientOptions, LinkState, SignalingClient
from tests.conftest import Clinic
from tests.waiting import until


async def test_a_stalled_loop_does_not_drop_the_connection(clinic: Clinic) -> None:
    """The apps' own loop held up longer than ``dead_after_s``, with the server on the
    same loop (the screenshot tools, the UI tests, the demo) or merely starved of CPU with
    it. Before, the client called its connection dead the moment the loop ran again:
    it reconnected and every request in flight failed with ``ConnectionError`` (the
    Spanish screens' tool, the console's "end session" under load)."""
    client = SignalingClient(clinic.url)
    states: list[LinkState] = []
    client.state_changed.connect(states.append)
    dead_after = client.options.dead_after_s
    try:
        await client.connect()
        await client.login(clinic.therapist, clinic.secret)
        # Held up past the deadline, and held up across it from halfway (the server's
        # last ping already older than the part of the stall after the deadline).
        for before_s, stall_s in ((0.0, dead_after + 1.0), (0.6, dead_after - 0.3)):
            await asyncio.sleep(before_s)
            request = asyncio.create_task(client.list_sessions())
            await asyncio.sleep(0)  # the request is on the wire
            time.sleep(stall_s)  # the whole loop held up: nobody reads, nobody pings
            assert await request == []
            await asyncio.sleep(clinic.server.config.limits.heartbeat_s + 0.5)
            assert states == ["connecting", "online"], (before_s, stall_s)
        assert len(clinic.server.connections) == 1
    finally:
        await client.close()


async def test_a_server_that_stops_answering_is_still_noticed(tmp_path: Path) -> None:
    """A server that greets and then sends nothing (no pings, as if the path to it were
    cut): the client calls the connection dead and reconnects on its own."""
    quiet = ConnectionLimits(heartbeat_s=600.0, dead_after_s=600.0)
    config = ServerConfig(data_dir=tmp_path, port=0, limits=quiet)
    async with SignalingServer(config) as server:
        client = SignalingClient(server.ws_url)
        states: list[LinkState] = []
        client.state_changed.connect(states.append)
        try:
            await client.connect()
            await until(lambda: "reconnecting" in states, 10, "the silence noticed")
            await until(lambda: client.state == "online", 10, "a new connection")
        finally:
            await client.close()


async def test_a_request_refused_while_reconnecting_leaves_no_error_unread(clinic: Clinic) -> None:
    """A request made while the client is between connections fails at once; before, its
    reply slot stayed behind and the next lost connection failed it with nobody to read it
    ("Future exception was never retrieved" in the tools' logs)."""
    loop = asyncio.get_running_loop()
    unread: list[str] = []
    loop.set_exception_handler(lambda _loop, context: unread.append(context["message"]))
    client = SignalingClient(clinic.url, ClientOptions(backoff_s=(2.0,)))
    try:
        await client.connect()
        await client.login(clinic.therapist, clinic.secret)
        await client.drop_connection()
        await until(lambda: client.state == "reconnecting", 5, "the drop noticed")
        with pytest.raises(ConnectionError):
            await client.list_sessions()
        await until(lambda: client.state == "online", 10, "a new connection")
        await client.drop_connection()
        await until(lambda: client.state == "online", 10, "another new connection")
        gc.collect()
        assert unread == []
    finally:
        loop.set_exception_handler(None)
        await client.close()
