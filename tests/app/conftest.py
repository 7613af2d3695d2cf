"""Role cores against a real embedded signaling server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from companion.app import CoreOptions, RoleCore
from companion.server.app import ServerConfig, SignalingServer


@dataclass
class CoreClinic:
    server: SignalingServer
    secret: str
    folder: Path

    def core(self, role: str, *, audio: bool = False) -> RoleCore:
        options = CoreOptions(
            data_dir=self.folder / role, fake_media=True, audio=audio, video=(160, 120, 10)
        )
        return RoleCore(role, self.server.ws_url, options)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def core_clinic(tmp_path: Path) -> AsyncIterator[CoreClinic]:
    async with SignalingServer(ServerConfig(data_dir=tmp_path / "server", port=0)) as server:
        _, secret = server.db.add_therapist("dr-test")
        yield CoreClinic(server, secret, tmp_path)
