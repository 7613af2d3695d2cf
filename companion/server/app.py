"""The signaling service as an aiohttp application: ``GET /healthz`` and ``GET /ws``.

Runs standalone (``companion server``) or embedded on 127.0.0.1 with an ephemeral port
(demo, tests): ``async with SignalingServer(config) as server: server.ws_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError
from yarl import URL

from companion import __version__
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import CLIENT_MESSAGE, MAX_MESSAGE_BYTES, Welcome
from companion.server.ackpage import AckPages
from companion.server.clinicdb import ClinicDB
from companion.server.connection import ClientConnection, ConnectionLimits
from companion.server.escalation import EscalationDriver
from companion.server.escalation_store import EscalationStore
from companion.server.guard import (
    Address,
    AddressBook,
    AddressLimits,
    GuardedProtocol,
    Listener,
)
from companion.server.ice import IceConfig
from companion.server.memory_store import MemoryStore
from companion.server.notify_config import NotifyConfig
from companion.server.ratelimit import HttpErrorLog, LoginLimiter, LoginLimits, RateLimitedLog
from companion.server.service import ServiceOptions, SignalingService
from companion.server.store import SessionStore, StoreUnavailable
from companion.server.tokens import TokenSigner, new_id
from companion.server.webboard import add_board_routes

_log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    data_dir: Path
    """Where the clinic database and the signing key live."""
    host: str = "127.0.0.1"
    port: int = 8765
    """0 picks a free port (embedded use)."""
    public_url: str | None = None
    """The ``ws(s)://…/ws`` URL clients reach; defaults to the bound address."""
    cert: Path | None = None
    key: Path | None = None
    allowed_origins: frozenset[str] = frozenset()
    """Browser origins allowed besides the server's own; native clients send no Origin."""
    redis_url: str | None = None
    """Shared state for several nodes (``redis://host:port/db``); None keeps it in memory."""
    clinic_id: str = "companion"
    """Token audience: nodes of one clinic share it (and the signing key)."""
    ice: IceConfig = field(default_factory=IceConfig)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    address_limits: AddressLimits = field(default_factory=AddressLimits)
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    own_process: bool = False
    """The node is its process's whole work (``companion server``): Python's collector is
    tuned for it. Embedded servers (demo, tests) leave the process alone."""
    notify_config: Path | None = None
    """The clinic's escalation to phones and e-mail (notify_config.py); None: apps only."""


FRAME_OVERHEAD = 6
"""Bytes a WebSocket frame costs beyond its payload (header and mask), for the budgets:
a flood of empty pings is not free."""
CLOSE_WAIT_S = 1.0
_COUNTED = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG)
TLS_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
"""TLS 1.2 suites offered: forward secret and AEAD only (TLS 1.3's are all AEAD)."""


GC_THRESHOLDS = (10_000, 10, 100)
"""Python's collector for a node holding thousands of connections. With the defaults
(700, 10, 10) a full collection ran every few seconds under load, found almost no garbage
and stopped the node for 170-200 ms each time (the cluster benchmark's relay p99 after a
failover: 136 ms); with these, full collections are rare and short (p99 22 ms). A ping
flood alone (every frame a new message object, refused or not) made an untuned in-memory
node collect 10 times a second, with a full collection of 300 ms in 20 s."""


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def load_or_create_key(data_dir: Path) -> bytes:
    path = data_dir / "signing.key"
    if path.exists():
        return path.read_bytes()
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def open_clinic_db(data_dir: Path) -> ClinicDB:
    data_dir.mkdir(parents=True, exist_ok=True)
    return ClinicDB(data_dir / "clinic.sqlite3")


def open_escalation(server: SignalingServer) -> EscalationDriver:
    """The outer ladder, its acknowledge pages and its hooks into the service."""
    assert server.config.notify_config is not None
    notify = NotifyConfig.load(server.config.notify_config)
    key = load_or_create_key(server.config.data_dir)
    store = EscalationStore(server.config.data_dir / "escalation.sqlite3", key)
    driver = EscalationDriver(
        notify,
        store,
        server.signer,
        server.service.append_server_event,
        lambda: notify.link_base or server.own_origin,
        server.store.members,
    )
    server.service.options.on_event = driver.observe
    server.service.options.set_contacts = driver.set_contacts
    server.service.options.language_said = driver.language_said
    AckPages(driver).register(server.app)
    return driver


class SignalingServer:
    def __init__(self, config: ServerConfig, store: SessionStore | None = None) -> None:
        self.config = config
        self.db = open_clinic_db(config.data_dir)
        if store is None and config.redis_url:
            from companion.server.redis_store import RedisStore

            store = RedisStore(config.redis_url)
        self.store: SessionStore = store or MemoryStore(self.db)
        self.signer = TokenSigner(load_or_create_key(config.data_dir), config.clinic_id)
        self.service = SignalingService(
            self.store,
            self.db,
            self.signer,
            ServiceOptions(public_url="", ice=config.ice, logins=LoginLimiter(config.login_limits)),
        )
        self.store.on_wiped(self._store_wiped)
        self.connections: set[ClientConnection] = set()
        self._trouble = RateLimitedLog(_log)
        """Anything a client can cause, however often: one line per kind every 10 s."""
        self.addresses = AddressBook(config.address_limits, self._trouble)
        self._guarded: dict[asyncio.BaseTransport, GuardedProtocol] = {}
        self._listener: Listener | None = None
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/ws", self._ws)
        self.escalation = open_escalation(self) if config.notify_config else None
        add_board_routes(self.app)  # the support person's board in a browser
        self._runner: web.AppRunner | None = None
        self.port = config.port
        self._started = time.monotonic()

    # -- lifecycle

    @property
    def scheme(self) -> str:
        return "https" if self.config.cert else "http"

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.config.public_url or f"{self.http_url.replace('http', 'ws', 1)}/ws"

    async def start(self) -> None:
        if self.config.redis_url or self.config.own_process:
            tune_gc()  # a clinic-scale node (issues 9, 18); embedded ones leave the process be
        ssl_context = None
        if self.config.cert:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            ssl_context.set_ciphers(TLS_CIPHERS)
            ssl_context.load_cert_chain(self.config.cert, self.config.key)
        http_log = HttpErrorLog(RateLimitedLog(_log), _log)
        # shutdown_timeout: a stopping node has told every connection to finish already;
        # aiohttp's default would hold the stop (and a restart) a minute for stragglers.
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            logger=http_log,
            keepalive_timeout=self.config.address_limits.handshake_timeout_s,
            shutdown_timeout=2.0,
        )
        await self._runner.setup()
        handler = self._runner.server
        assert handler is not None
        # Our own listener instead of aiohttp's TCPSite: every connection passes the
        # address book and the handshake deadline before aiohttp parses a byte of it.
        self._listener = Listener.bind(
            self.config.host,
            self.config.port,
            self.addresses,
            lambda address: GuardedProtocol(handler, self.addresses, self._guarded, address),
            ssl_context,
        )
        self.port = self._listener.port
        self.service.options.public_url = self.ws_url
        if self.escalation is not None:
            await self.escalation.start()
        _log.info("signaling server listening on %s", self.ws_url)

    async def stop(self) -> None:
        for conn in list(self.connections):
            conn.finish(1001, "server shutting down")
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.escalation is not None:
            await self.escalation.close()
            self.escalation.store.close()
        await self.service.close()
        await self.store.close()
        self.db.close()

    async def __aenter__(self) -> SignalingServer:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- HTTP

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy = await self.store.healthy()
        body = {
            "status": "ok" if healthy else "unhealthy",
            "version": __version__,
            "connections": len(self.connections),
            "uptime_s": round(time.monotonic() - self._started, 1),
        }
        return web.json_response(body, status=200 if healthy else 503)

    @property
    def own_origin(self) -> str:
        """The origin of the public URL (``wss://h/ws`` -> ``https://h``): never taken from
        the request's Host header, which the client chooses."""
        url = URL(self.ws_url)
        scheme = {"wss": "https", "ws": "http"}.get(url.scheme, url.scheme)
        return str(url.with_scheme(scheme).origin())

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # native clients
        return origin == self.own_origin or origin in self.config.allowed_origins

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            return web.json_response(
                {
                    "type": "error",
                    "code": "origin_forbidden",
                    "message": "This web page may not connect to the server.",
                },
                status=403,
            )
        # No compression (a deflate bomb cannot inflate past the limit) and our own pings.
        # A close waits at most CLOSE_WAIT_S for the client's answer, parsing whatever it
        # sends meanwhile (aiohttp's default: 10 s of a flooder's pings).
        ws = web.WebSocketResponse(
            max_msg_size=MAX_MESSAGE_BYTES,
            compress=False,
            autoping=False,
            decode_text=False,
            timeout=CLOSE_WAIT_S,
        )
        guard = self._guarded.get(request.transport) if request.transport else None
        address = guard.address if guard is not None else None
        forwarded = None
        if address is not None:
            # Every X-Forwarded-For line in order: the trusted proxy appends its own line last.
            header = ",".join(request.headers.getall("X-Forwarded-For", []))
            client = self.addresses.forwarded_for(address, header)
            if client is not None:  # behind a trusted proxy: the client's own address counts
                forwarded = address = self.addresses.open(client)
                if address is None:
                    return web.Response(status=429, text="Too many connections from here.\n")
        try:
            return await self._serve_ws(request, ws, guard, address)
        finally:
            if forwarded is not None:
                self.addresses.close(forwarded)

    async def _serve_ws(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        guard: GuardedProtocol | None,
        address: Address | None,
    ) -> web.StreamResponse:
        await ws.prepare(request)
        if guard is not None:
            guard.upgraded()
        conn = ClientConnection(ws, request.transport, new_id(6), self.config.limits, address)
        self.connections.add(conn)
        writer = asyncio.create_task(conn.run_writer(), name=f"writer-{conn.conn_id}")
        tasks = {writer, asyncio.create_task(conn.run_liveness(), name=f"liveness-{conn.conn_id}")}
        conn.send(
            Welcome(
                server=__version__,
                heartbeat_s=self.config.limits.heartbeat_s,
                reaches=self.escalation.reaches if self.escalation is not None else [],
            ).model_dump_json()
        )
        try:
            await self._read_loop(conn)
        finally:
            self.connections.discard(conn)
            if conn.closing and not writer.done():
                # Its close frame (e.g. 1008) is on the way: let it finish, briefly.
                await asyncio.wait({writer}, timeout=1.0)
            conn.closed.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close()
            conn.release()
            if conn.close_reason == ErrorCode.RATE_LIMITED and conn.address is not None:
                conn.address.penalize()
            if conn.close_reason in ("rate_limited", "slow_consumer"):
                self._trouble.warning(
                    conn.close_reason, "connections closed: %s", conn.close_reason
                )
            await self.service.connection_closed(conn)
        return ws

    async def _read_loop(self, conn: ClientConnection) -> None:
        ws = conn.ws
        while not (conn.closed.is_set() or conn.closing):
            msg = await ws.receive()
            conn.last_rx = time.monotonic()
            if msg.type in _COUNTED and not await self._within_limits(
                conn, msg.type, len(msg.data)
            ):
                continue
            if msg.type is WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                pass
            elif msg.type is WSMsgType.TEXT:
                # Silence counts only while this node listens: during a slow request (a busy
                # store, e.g. every client of a dead node resuming here) frames wait unread.
                conn.handling = True
                try:
                    await self._handle_text(conn, msg.data)
                finally:
                    conn.handling = False
                    conn.last_rx = max(conn.last_rx, time.monotonic())
                    conn.set_seated(conn.member is not None or conn.therapist is not None)
            elif msg.type is WSMsgType.BINARY:
                conn.send_error(ProtocolError(ErrorCode.BINARY_NOT_SUPPORTED))
            else:  # CLOSE, CLOSING, CLOSED, ERROR (too big: 1009, protocol errors: 1002)
                if msg.type is WSMsgType.ERROR:
                    conn.close_reason = conn.close_reason or f"ws error {ws.close_code}"
                return

    async def _within_limits(self, conn: ClientConnection, kind: WSMsgType, size: int) -> bool:
        """Charge one frame to its connection and its address. Over the connection's own
        budget the frame is refused (a text frame is told so; past the limit, 1008); over
        the address's shared one, reading slows down instead."""
        if kind is WSMsgType.PONG and conn.pings_unanswered > 0:
            conn.pings_unanswered -= 1  # the answer to our own ping costs the client nothing
            return True
        cost = size + FRAME_OVERHEAD
        if not (conn.bucket.take() and conn.byte_bucket.take(cost)):
            conn.rate_violations += 1
            fatal = conn.rate_violations > conn.limits.max_rate_violations
            if kind is WSMsgType.TEXT or fatal:
                conn.send_error(ProtocolError(ErrorCode.RATE_LIMITED, fatal=fatal))
            return False
        if conn.address is not None and (wait := conn.address.charge(cost)) > 0:
            conn.handling = True  # not silent: we are not reading it
            try:
                await asyncio.sleep(min(wait, 1.0))
            finally:
                conn.handling = False
                conn.last_rx = max(conn.last_rx, time.monotonic())
        return True

    async def _store_wiped(self) -> None:
        """The shared store lost its data (a Redis restarted empty): every seated member
        must take its place again, or its events would be numbered afresh and dropped."""
        seated = [c for c in self.connections if c.member is not None or c.therapist is not None]
        _log.warning("shared state was wiped: %d connections asked to join again", len(seated))
        for conn in seated:
            conn.finish(int(WSCloseCode.SERVICE_RESTART), "state lost")

    async def _handle_text(self, conn: ClientConnection, data: bytes | str) -> None:
        rid: str | None = None
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError:
            conn.send_error(ProtocolError(ErrorCode.BAD_UTF8))
            return
        try:
            message = CLIENT_MESSAGE.validate_json(text)
        except ValidationError as exc:
            conn.send_error(_validation_error(exc))
            return
        rid = getattr(message, "rid", None)
        try:
            await self.service.handle(conn, message)
        except ProtocolError as exc:
            conn.send_error(exc, rid)
        except StoreUnavailable as exc:
            _log.warning("%s refused: shared state unavailable (%s)", type(message).__name__, exc)
            conn.send_error(ProtocolError(ErrorCode.UNAVAILABLE), rid)
        except Exception:
            # Log the message type only: payloads may carry personal information.
            _log.exception("handler for %s failed on %s", type(message).__name__, conn.conn_id)
            conn.send_error(ProtocolError(ErrorCode.INTERNAL_ERROR), rid)


def _validation_error(exc: ValidationError) -> ProtocolError:
    first = exc.errors(include_url=False, include_input=False)[0]
    kind, loc = first["type"], first["loc"]
    if kind in ("json_invalid", "json_type"):
        return ProtocolError(ErrorCode.BAD_JSON)
    if kind == "union_tag_invalid" and len(loc) == 0:
        return ProtocolError(ErrorCode.UNKNOWN_TYPE)
    if kind == "union_tag_not_found" and len(loc) == 0:
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "Every message needs a 'type' field.")
    where = ".".join(str(part) for part in loc) or "message"
    # pydantic's sentence names the rule, never the value sent.
    return ProtocolError(ErrorCode.INVALID_MESSAGE, f"{where}: {first['msg']}")
