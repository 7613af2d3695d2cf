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

from companion.listening import heard_after_stall, sleep_listening
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import Error
from companion.server.clinicdb import Therapist
from companion.server.guard import Address
from companion.server.ratelimit import TokenBucket
from companion.server.store import MemberRecord, Unsubscribe

_log = logging.getLogger(__name__)

# Close codes in the application range (4000-4999) so clients can tell them apart.
CLOSE_FATAL_ERROR = 4000
CLOSE_REPLACED = 4001
POLICY_CLOSE_WAIT_S = 0.1
"""Time for a policy close frame to go out to a flooder before its socket is cut."""


@dataclass(frozen=True)
class ConnectionLimits:
    heartbeat_s: float = 1.0
    """A WebSocket ping goes out this often."""
    dead_after_s: float = 2.5
    """No frame at all (pong included) for this long means the connection is dead."""
    messages_per_s: float = 30.0
    burst: float = 60.0
    """Frames of every kind a connection may send (pings too; pongs answering the server's
    own pings are free)."""
    bytes_per_s: float = 128 * 1024
    bytes_burst: float = 512 * 1024
    max_rate_violations: int = 100
    """Past this many refused messages the connection is closed (1008)."""
    max_outbox: int = 512
    """Messages queued for a client that is not reading; beyond it the client is dropped."""
    max_outbox_bytes: int = 1024 * 1024
    """The same in bytes: a few large messages must not grow the server either."""
    max_failed_auth: int = 5
    """Wrong codes, tokens or secrets per connection before it is closed."""


class ClientConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        conn_id: str,
        limits: ConnectionLimits,
        address: Address | None = None,
    ) -> None:
        self.ws = ws
        self.address = address
        """The client's address (its shared allowances); None for a test's bare connection."""
        self._transport = transport
        self._close_code = int(WSCloseCode.OK)
        self.conn_id = conn_id
        self.limits = limits
        self.bucket = TokenBucket(limits.messages_per_s, limits.burst)
        self.byte_bucket = TokenBucket(limits.bytes_per_s, limits.bytes_burst)
        self.pings_unanswered = 0
        self.rate_violations = 0
        self.failed_auth = 0
        self.last_rx = time.monotonic()
        self.handling = False
        """A request of this connection is being handled: its frames wait unread meanwhile."""
        self.therapist: Therapist | None = None
        self.member: MemberRecord | None = None
        self.subscriptions: list[Unsubscribe] = []
        self.closed = asyncio.Event()
        self.closing = False
        """``finish`` was called: nothing more is read or queued; the writer closes."""
        self.close_reason = ""
        # While missed events are replayed, live events wait here to keep the order.
        self._held: list[str] | None = None
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(limits.max_outbox)
        self._outbox_bytes = 0
        self._last_rate_error = 0.0
        self._seated = False

    @property
    def remote(self) -> str:
        """The client's address as the limits key it (``local`` for a bare test one)."""
        return self.address.key if self.address is not None else "local"

    # -- sending

    def send(self, payload: str) -> None:
        """Queue one serialized message; never blocks."""
        if self.closed.is_set() or self.closing:
            return
        size = len(payload)
        address = self.address
        if (
            self._outbox_bytes + size > self.limits.max_outbox_bytes
            or (address and address.outbox_bytes + size > address.limits.max_outbox_bytes)
            or self._outbox.full()
        ):
            self.abort(ErrorCode.SLOW_CONSUMER)
            return
        self._outbox.put_nowait(payload)
        self._account_outbox(size)

    def _account_outbox(self, size: int) -> None:
        self._outbox_bytes += size
        if self.address is not None:
            self.address.outbox_bytes += size

    def set_seated(self, seated: bool) -> None:
        """Seated members earn their address a larger allowance (see ``guard``)."""
        if seated != self._seated and self.address is not None:
            self.address.seat(1 if seated else -1)
        self._seated = seated

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
        if error.code is ErrorCode.RATE_LIMITED and not error.fatal:
            # One notice a second is enough; the rest would only feed the flood.
            now = time.monotonic()
            if now - self._last_rate_error < 1.0:
                return
            self._last_rate_error = now
        message = Error(rid=rid, code=error.code, message=error.message, fatal=error.fatal)
        self.send(message.model_dump_json())
        if error.fatal:
            # A flood is a policy violation (protocol.md); other fatal errors have their own.
            policy = error.code is ErrorCode.RATE_LIMITED
            self.finish(
                int(WSCloseCode.POLICY_VIOLATION) if policy else CLOSE_FATAL_ERROR, error.code
            )

    def finish(self, code: int, reason: str) -> None:
        """Close after what is already queued has been written."""
        if self.closing:
            return
        self.closing = True
        self.close_reason = self.close_reason or reason
        self._close_code = code
        try:
            self._outbox.put_nowait(None)
        except asyncio.QueueFull:
            self._drop()  # not reading anyway: no close frame would get through

    def abort(self, code: ErrorCode) -> None:
        """Close now, dropping whatever is queued (the client is not reading it anyway)."""
        if self.closed.is_set():
            return
        self.close_reason = self.close_reason or code
        _log.debug("connection %s dropped: %s", self.conn_id, code)
        self._drop()

    def _drop(self) -> None:
        # No closing handshake: the peer is gone or not reading, and would never answer it.
        self.closed.set()
        if self._transport is not None:
            self._transport.abort()

    def release(self) -> None:
        """The connection is over: give back what it held of its address's allowances."""
        self.set_seated(False)
        if self.address is not None:
            self.address.outbox_bytes -= self._outbox_bytes
        self._outbox_bytes = 0

    # -- tasks

    async def run_writer(self) -> None:
        while True:
            payload = await self._outbox.get()
            if payload is None or self.closed.is_set():
                break
            self._account_outbox(-len(payload))
            try:
                await self.ws.send_str(payload)
            except (ConnectionError, RuntimeError):
                break
        if not self.closed.is_set():
            self.closed.set()
            # A flooder is not waited for (reading on for its answer would parse its
            # flood): its close frame goes out, then the socket is cut.
            policy = self._close_code == WSCloseCode.POLICY_VIOLATION
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                await asyncio.wait_for(
                    self.ws.close(code=self._close_code, message=self.close_reason.encode()),
                    POLICY_CLOSE_WAIT_S if policy else None,
                )
            if policy and self._transport is not None:
                self._transport.abort()

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
                    self.pings_unanswered = min(self.pings_unanswered + 1, 3)
            # Wake only for the next ping or the moment silence would count as death: one
            # wake-up a second per connection, not ten (thousands of connections per node).
            wake_at = min(next_ping, self.last_rx + self.limits.dead_after_s + 0.01)
            if self.handling:
                wake_at = next_ping  # deaf for now: judge silence once the request is done
            await self._sleep_listening(max(0.02, wake_at - time.monotonic()))

    async def _sleep_listening(self, delay: float) -> None:
        """Sleep ``delay``. A wake-up much later than asked means this node was not
        listening (its loop held up, or no CPU for it): the client's frames may be waiting
        unread, and it was not pinged meanwhile. That time is not the client's silence."""
        if held_up := await sleep_listening(delay):
            self.last_rx = heard_after_stall(self.last_rx, held_up, time.monotonic())
