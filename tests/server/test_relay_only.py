"""The "relay only" session option: stored with the session, handed to every member in
``joined``, and turned into aiortc's relay transport policy by the call (not the home link).

The real call through coturn with it is in tests/call/test_turn.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiortc import RTCIceTransportPolicy

from companion.call.homelink import HomeLink
from companion.call.peer import PeerLink
from companion.protocol.errors import ProtocolError
from companion.server.app import ServerConfig, SignalingServer
from companion.server.clinicdb import SessionRecord
from companion.server.ice import IceConfig
from companion.signaling.client import SignalingClient
from tests.server.conftest import RedisProcess

TURN = IceConfig(turn_urls=["turn:127.0.0.1:3478?transport=udp"], turn_secret="s3cret")


async def test_relay_only_needs_a_turn_server(tmp_path: Path) -> None:
    async with SignalingServer(ServerConfig(data_dir=tmp_path, port=0)) as server:
        _, secret = server.db.add_therapist("dr-relay")
        therapist = SignalingClient(server.ws_url)
        try:
            await therapist.connect()
            await therapist.login("dr-relay", secret)
            with pytest.raises(ProtocolError) as info:
                await therapist.create_session(relay_only=True)
            assert info.value.code == "invalid_message"
        finally:
            await therapist.close()


async def test_members_of_a_relay_only_session_are_told_to_relay(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path, port=0, ice=TURN)
    async with SignalingServer(config) as server:
        _, secret = server.db.add_therapist("dr-relay")
        therapist, patient = SignalingClient(server.ws_url), SignalingClient(server.ws_url)
        try:
            await therapist.connect()
            await therapist.login("dr-relay", secret)
            hidden = await therapist.create_session(relay_only=True)
            plain = await therapist.create_session()
            assert hidden.session.relay_only and not plain.session.relay_only
            await therapist.join(session_id=hidden.session.session_id)
            await patient.connect()
            await patient.join(invite=hidden.invites[0].token)
            for side in (therapist, patient):
                assert side.joined is not None and side.joined.ice_transport_policy == "relay"
            call = PeerLink(patient, "patient", "therapist", offerer=True)
            assert call.ice_configuration().iceTransportPolicy is RTCIceTransportPolicy.RELAY
            # The home link stays on the home network (host candidates), relay only or not.
            home = HomeLink(patient, "patient")
            assert home.ice_configuration().iceTransportPolicy is RTCIceTransportPolicy.ALL
            assert home.ice_configuration().iceServers == []
        finally:
            await therapist.close()
            await patient.close()
    # The option outlives a restart (SQLite).
    async with SignalingServer(config) as server:
        stored = {s.session_id: s.relay_only for s in server.db.load_sessions()}
        assert stored == {hidden.session.session_id: True, plain.session.session_id: False}
        assert (await server.store.get_session(hidden.session.session_id)).relay_only  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_redis_keeps_the_option(tmp_path: Path) -> None:
    from companion.server.redis_store import RedisStore

    redis = RedisProcess(tmp_path)
    redis.start()
    store = RedisStore(redis.url)
    try:
        await store.create_session(SessionRecord("s1", "t1", "", 1.0, relay_only=True))
        await store.create_session(SessionRecord("s2", "t1", "", 2.0))
        assert [s.relay_only for s in await store.sessions_of("t1")] == [True, False]
    finally:
        await store.close()
        redis.stop()
