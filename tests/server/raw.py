"""A bare WebSocket client for poking the server with exactly the bytes a test wants."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


class RawClient:
    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws

    @classmethod
    async def open(cls, url: str, source: str | None = None, **kwargs: Any) -> RawClient:
        """``source``: the local address to connect from (any of 127.0.0.0/8), so a test
        can play several client addresses."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0)) if source else None
        http = aiohttp.ClientSession(connector=connector)
        try:
            ws = await http.ws_connect(
                url,
                **{"autoping": True, "timeout": aiohttp.ClientWSTimeout(ws_close=1.0), **kwargs},
            )
        except BaseException:
            await http.close()
            raise
        client = cls(http, ws)
        welcome = await client.recv()
        assert welcome["type"] == "welcome"
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        while msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            msg = await self.ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type}"
        data: dict[str, Any] = json.loads(msg.data)
        return data

    async def recv_type(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """Skip presence and timeline traffic until a message of ``kind`` arrives."""
        while True:
            message = await self.recv(timeout)
            if message["type"] == kind:
                return message
            if message["type"] == "error" and kind != "error":
                raise AssertionError(f"unexpected error {message}")

    async def request(self, message: dict[str, Any], reply: str) -> dict[str, Any]:
        await self.send(message)
        return await self.recv_type(reply)

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()
