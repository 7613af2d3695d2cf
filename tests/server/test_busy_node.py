"""A node busy with one client's request (a slow store, e.g. every client of a dead node
resuming at once), or not running at all for a while, does not call its clients dead: it
is not reading their frames meanwhile."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from companion.server.app import GC_THRESHOLDS, ServerConfig, SignalingServer
from companion.server.clinicdb import SessionRecord
from companion.signaling.client import SignalingClient
from tests.server.raw import RawClient


async def test_a_slow_request_does_not_make_its_client_dead(tmp_path: Path) -> None:
    async with SignalingServer(ServerConfig(data_dir=tmp_path, port=0)) as server:
        _, secret = server.db.add_therapist("dr-busy")
        quick = server.store.sessions_of

        async def slow(therapist_id: str) -> list[SessionRecord]:
            await asyncio.sleep(server.config.limits.dead_after_s + 1.0)
            return await quick(therapist_id)

        server.store.sessions_of = slow  # type: ignore[method-assign]
        therapist = SignalingClient(server.ws_url)
        try:
            await therapist.connect()
            await therapist.login("dr-busy", secret)
            # A dropped connection would fail the request in flight (ConnectionError).
            assert await therapist.list_sessions() == []
            assert len(server.connections) == 1
        finally:
            await therapist.close()


async def test_a_stalled_node_does_not_call_its_clients_dead(tmp_path: Path) -> None:
    """The node's own loop held up longer than ``dead_after_s`` (a machine with no CPU to
    spare, a long collection): its clients were not silent, it was not listening. Before,
    every connection was dropped as dead the moment the loop ran again."""
    async with SignalingServer(ServerConfig(data_dir=tmp_path, port=0)) as server:
        client = await RawClient.open(server.ws_url)
        reader = asyncio.create_task(client.recv(timeout=30.0))  # reading: pongs answered
        try:
            await asyncio.sleep(0.2)
            assert len(server.connections) == 1
            time.sleep(server.config.limits.dead_after_s + 1.0)  # the whole loop held up
            await asyncio.sleep(server.config.limits.heartbeat_s + 0.5)
            assert len(server.connections) == 1
            assert not reader.done()
            assert [c.close_reason for c in server.connections] == [""]
        finally:
            reader.cancel()
            await client.close()


async def test_a_node_of_its_own_process_tunes_the_collector(tmp_path: Path) -> None:
    """``companion server`` in memory, not only with Redis: a ping flood made the untuned
    node collect ten times a second, with full collections of 300 ms (issue 18)."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's defaults
        config = ServerConfig(data_dir=tmp_path / "embedded", port=0)
        async with SignalingServer(config):
            assert gc.get_threshold() == (700, 10, 10)  # an embedded server leaves it be
        config = ServerConfig(data_dir=tmp_path / "own", port=0, own_process=True)
        async with SignalingServer(config):
            assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)
