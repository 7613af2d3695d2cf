"""One client's WebSocket, seen by the handlers only as "send this" and "who is this".

Outbound messages go through a bounded queue drained by a writer task, so fan-out never
waits on a slow client: a client that stops reading is dropped before memory grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import Error
from companion.server.clinicdb import Therapist
from companion.server.ratelimit import TokenBucket
from companion.server.store import MemberRecord, Unsubscribe

_log = logging.getLogger(__name__)

# Close codes in the application range (4000-4999) so clients can tell them apart.
CLOSE_FATAL_ERROR = 4000
CLOSE_REPLACED = 4001


@dataclass(frozen=True)
class ConnectionLimits:
    heartbeat_s: float = 1.0
    """A WebSocket ping goes out this often."""
    dead_after_s: float = 2.5
    """No frame at all (pong included) for this long means the connection is dead."""
    messages_per_s: float = 30.0
    burst: float = 60.0
    max_rate_violations: int = 100
    """Past this many refused messages the connection is closed."""
    max_outbox: int = 512
    """Messages queued for a client that is not reading; beyond it the client is dropped."""
    max_failed_auth: int = 5
    """Wrong codes, tokens or secrets per connection before it is closed."""


class ClientConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        conn_id: str,
        limits: ConnectionLimits,
    ) -> None:
        self.ws = ws
        self._transport = transport
        self._close_code = int(WSCloseCode.OK)
        self.conn_id = conn_id
        self.limits = limits
        self.address = ""
        """The client's address, for limits that span connections (wrong short codes)."""
        self.bucket = TokenBucket(limits.messages_per_s, limits.burst)
        self.rate_violations = 0
        self.failed_auth = 0
        self.last_rx = time.monotonic()
        self.handling = False
        """A request of this connection is being handled: its frames wait unread meanwhile."""
        self.therapist: Therapist | None = None
        self.member: MemberRecord | None = None
        self.subscriptions: list[Unsubscribe] = []
        self.closed = asyncio.Event()
        self.close_reason = ""
        # While missed events are replayed, live events wait here to keep the order.
        self._held: list[str] | None = None
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(limits.max_outbox)
        self._last_rate_error = 0.0

    # -- sending

    def send(self, payload: str) -> None:
        """Queue one serialized message; never blocks."""
        if self.closed.is_set():
            return
        try:
            self._outbox.put_nowait(payload)
        except asyncio.QueueFull:
            self.abort(ErrorCode.SLOW_CONSUMER)

    def deliver_live(self, payload: str) -> None:
        """Fan-out entry point: held back while a replay is in progress."""
        if self._held is not None:
            self._held.append(payload)
        else:
            self.send(payload)

    def hold_live(self) -> None:
        self._held = []

    def drop_held(self) -> None:
        """Not seated after all: what was held for it is not this connection's to hear."""
        self._held = None

    def release_live(self, replayed_up_to: int) -> None:
        held, self._held = self._held or [], None
        for payload in held:
            seq = json.loads(payload).get("seq") if payload.startswith('{"type":"event"') else None
            if seq is None or seq > replayed_up_to:
                self.send(payload)

    def send_error(self, error: ProtocolError, rid: str | None = None) -> None:
        if error.code is ErrorCode.RATE_LIMITED:
            # One notice a second is enough; the rest would only feed the flood.
            now = time.monotonic()
            if now - self._last_rate_error < 1.0:
                return
            self._last_rate_error = now
        message = Error(rid=rid, code=error.code, message=error.message, fatal=error.fatal)
        self.send(message.model_dump_json())
        if error.fatal:
            self.finish(CLOSE_FATAL_ERROR, error.code)

    def finish(self, code: int, reason: str) -> None:
        """Close after what is already queued has been written."""
        self.close_reason = self.close_reason or reason
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        self._close_code = code

    def abort(self, code: ErrorCode) -> None:
        """Close now, dropping whatever is queued (the client is not reading it anyway)."""
        if self.closed.is_set():
            return
        self.close_reason = self.close_reason or code
        _log.info("connection %s dropped: %s", self.conn_id, code)
        self._drop()

    def _drop(self) -> None:
        # No closing handshake: the peer is gone or not reading, and would never answer it.
        self.closed.set()
        if self._transport is not None:
            self._transport.abort()

    # -- tasks

    async def run_writer(self) -> None:
        while True:
            payload = await self._outbox.get()
            if payload is None or self.closed.is_set():
                break
            try:
                await self.ws.send_str(payload)
            except (ConnectionError, RuntimeError):
                break
        if not self.closed.is_set():
            self.closed.set()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=self._close_code, message=self.close_reason.encode())

    async def run_liveness(self) -> None:
        """Ping every heartbeat; declare the connection dead when nothing arrives."""
        next_ping = time.monotonic()
        while not self.closed.is_set():
            now = time.monotonic()
            if now - self.last_rx > self.limits.dead_after_s and not self.handling:
                self.close_reason = self.close_reason or "timeout"
                _log.info(
                    "connection %s dead: no frame for %.1f s", self.conn_id, now - self.last_rx
                )
                self._drop()
                return
            if now >= next_ping:
                next_ping = now + self.limits.heartbeat_s
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.ping()
            # Wake only for the next ping or the moment silence would count as death: one
            # wake-up a second per connection, not ten (thousands of connections per node).
            wake_at = min(next_ping, self.last_rx + self.limits.dead_after_s + 0.01)
            if self.handling:
                wake_at = next_ping  # deaf for now: judge silence once the request is done
            await asyncio.sleep(max(0.02, wake_at - time.monotonic()))
