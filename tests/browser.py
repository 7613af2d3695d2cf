"""Headless Chromium driven over the DevTools protocol (aiohttp's WebSocket client alone):
pages opened, read and pressed as a person's browser would (tests/server/test_escalation.py,
benchmarks/escalation.py). Needs Debian ``chromium`` (script/bootstrap)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp


class DevToolsPage:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = iter(range(1, 10_000))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        async with asyncio.timeout(15):
            while True:
                reply = json.loads((await self.ws.receive()).data)
                if reply.get("id") == call_id:
                    assert "error" not in reply, reply
                    result: dict[str, Any] = reply["result"]
                    return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def text(self, selector: str) -> str | None:
        value = await self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || null"
        )
        return value if isinstance(value, str) else None

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        async with asyncio.timeout(10):
            while await self.evaluate("document.readyState") != "complete":
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[DevToolsPage]:
    proc = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={tmp_path / 'chromium'}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        endpoint = None
        while endpoint is None and time.monotonic() < deadline:
            line = await asyncio.to_thread(proc.stderr.readline)
            if "DevTools listening on" in line:
                endpoint = line.split("on ", 1)[1].strip()
        assert endpoint is not None, "chromium did not start"
        port = endpoint.split(":")[2].split("/")[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as listing:
                pages = [p for p in await listing.json() if p["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"]) as ws:
                page = DevToolsPage(ws)
                await page.call("Page.enable")
                yield page
    finally:
        proc.kill()
        proc.wait(timeout=10)
