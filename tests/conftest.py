"""Fixtures shared across the suite: a real signaling server on 127.0.0.1, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from companion.server.app import ServerConfig, SignalingServer
from companion.server.connection import ConnectionLimits


@dataclass
class Clinic:
    server: SignalingServer
    therapist: str
    secret: str

    @property
    def url(self) -> str:
        return self.server.ws_url


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0)


@pytest.fixture
async def server(server_config: ServerConfig) -> AsyncIterator[SignalingServer]:
    async with SignalingServer(server_config) as running:
        yield running


@pytest.fixture
async def clinic(server: SignalingServer) -> Clinic:
    therapist, secret = server.db.add_therapist("dr-test")
    return Clinic(server, therapist.name, secret)


@pytest.fixture
def fast_limits() -> ConnectionLimits:
    return ConnectionLimits()
