"""A tiny driver for the system's headless Chromium over the DevTools protocol, shared by
the tests and the benchmarks (the board in tests/board, the acknowledge page in
tests/server/test_escalation.py and benchmarks/escalation.py).

No browser download: Debian's ``chromium`` (script/bootstrap) is started with a debugging
port of its own choosing, and each page is driven through its own DevTools WebSocket
(aiohttp).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 375, "height": 667, "deviceScaleFactor": 2, "mobile": True}


class DevToolsError(RuntimeError):
    pass


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, http: aiohttp.ClientSession) -> None:
        self.ws = ws
        self._http = http
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(DevToolsError("the page's DevTools connection closed"))

    async def send(self, method: str, timeout: float = 20.0, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"{expression[:80]!r} threw: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    value = await self.evaluate(expression)
                except DevToolsError as exc:
                    # A page navigating (a reload) has no document to ask for a moment.
                    if "navigated" not in str(exc) and "context" not in str(exc):
                        raise
                    value = None
                if value:
                    return value
                await asyncio.sleep(0.1)

    async def text(self, element_id: str) -> str:
        value = await self.evaluate(f"document.getElementById({element_id!r}).textContent")
        return str(value)

    async def visible(self, element_id: str) -> bool:
        script = (
            f"(() => {{ const e = document.getElementById({element_id!r});"
            " const r = e.getBoundingClientRect();"
            " return !e.closest('[hidden]') && r.width > 0 && r.height > 0; })()"
        )
        return bool(await self.evaluate(script))

    async def tap(self, element_id: str) -> None:
        """A real press in the middle of the element, as a finger or a mouse makes it."""
        box = await self.evaluate(
            f"(() => {{ const e = document.getElementById({element_id!r});"
            " e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; })()"
        )
        x, y = box[0], box[1]
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def type_text(self, text: str) -> None:
        await self.send("Input.insertText", text=text)

    async def phone(self) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", **PHONE)
        await self.send("Emulation.setTouchEmulationEnabled", enabled=True)

    async def screenshot(self, path: Path) -> Path:
        data = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    def console(self) -> list[str]:
        """What the page wrote to its console, and what it threw."""
        lines = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                words = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params["args"]
                )
                lines.append(f"{params['type']}: {words}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                lines.append(
                    f"exception: {details.get('exception', {}).get('description') or details.get('text')}"
                )
        return lines

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class Browser:
    """One headless Chromium with a profile of its own; ``close`` kills it (safe twice)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, profile: Path) -> None:
        self.process = process
        self.port = port
        self.profile = profile
        self.http = aiohttp.ClientSession()
        self.pages: list[Page] = []

    @classmethod
    async def start(cls, profile: Path, extra: Sequence[str] = ()) -> Browser:
        profile.mkdir(parents=True, exist_ok=True)
        args = [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--metrics-recording-only",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=375,667",
            *extra,
            "about:blank",
        ]
        process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=(profile / "chromium.log").open("wb"),
            start_new_session=True,  # its helpers in one process group, killed together
        )
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(30):
            while not port_file.exists() or not port_file.read_text().strip():
                if process.poll() is not None:
                    raise DevToolsError(f"chromium exited with {process.returncode}")
                await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        return cls(process, port, profile)

    async def open(self, url: str) -> Page:
        async with self.http.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as reply:
            target = await reply.json(content_type=None)
        ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        page = Page(ws, self.http)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        self.pages.append(page)
        if url != "about:blank":
            await page.goto(url)
        return page

    async def close(self) -> None:
        for page in self.pages:
            with contextlib.suppress(Exception):
                await page.close()
        self.pages.clear()
        await self.http.close()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)


@contextlib.asynccontextmanager
async def chromium(profile: Path, url: str = "about:blank") -> AsyncIterator[Page]:
    """One page of a browser of its own, closed (and the browser killed) on the way out."""
    browser = await Browser.start(profile)
    try:
        yield await browser.open(url)
    finally:
        await browser.close()
