"""A node busy with one client's request (a slow store, e.g. every client of a dead node
resuming at once) does not call that client dead: it is not reading its frames meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from companion.server.app import ServerConfig, SignalingServer
from companion.server.clinicdb import SessionRecord
from companion.signaling.client import SignalingClient


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
