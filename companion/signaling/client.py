"""The signaling client: one place in one session, kept across dropped connections.

It connects, signs in or joins, and from then on heals by itself: when the socket dies
(noticed within ``dead_after_s`` because the server pings every second; time its own loop
was held up does not count as the server's silence) it reconnects with
backoff (first try at once), resumes its place with the resume token, receives the events
it missed in order, and re-sends the events it had not seen acknowledged — the server
deduplicates them by id, so each lands exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import ssl
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from pydantic import ValidationError

from companion.events import Signal
from companion.listening import heard_after_stall, sleep_listening
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.identity import MemberKey
from companion.protocol.messages import (
    SERVER_MESSAGE,
    CreateInvite,
    CreateSession,
    Error,
    EventAck,
    EventBody,
    InviteCreated,
    InvitedRole,
    InviteInfo,
    Join,
    Joined,
    Leave,
    ListSessions,
    Login,
    LoginOk,
    MemberInfo,
    PeerSignal,
    Presence,
    RelayedSignal,
    Resume,
    RevokeInvite,
    SendEvent,
    SessionCreated,
    SessionEvent,
    SessionInfo,
    Sessions,
    SetContacts,
    SetLanguage,
    SignalData,
    Welcome,
)
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)

OUTBOX_BURST = 20
OUTBOX_RATE_PER_S = 20.0
LISTEN_TICK_S = 0.25
"""The silence is looked at this often, so a loop held up over any part of it is seen
(one connection here, unlike a server's thousands)."""

LinkState = Literal["connecting", "online", "reconnecting", "closed"]


@dataclass(frozen=True)
class ClientOptions:
    dead_after_s: float = 2.5
    """Silence (the server pings every second) after which the connection counts as dead."""
    request_timeout_s: float = 10.0
    backoff_s: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
    """Waits between reconnection attempts; the last one repeats."""
    connect_timeout_s: float = 3.0
    resend_refused_s: tuple[float, ...] = (1.0, 2.0, 4.0)
    """Waits before sending events again that the server refused as ``unavailable`` (its
    shared state is down for a moment); the last one repeats until one is accepted."""
    ssl_context: ssl.SSLContext | None = None
    """For wss:// with a private CA (tests, a clinic's own certificates); None = system trust."""


@dataclass
class _Heard:
    at: float
    """When the reader last heard a frame (or finished handling one)."""


class SignalingClient:
    def __init__(self, urls: str | Sequence[str], options: ClientOptions | None = None) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.options = options or ClientOptions()
        self.state: LinkState = "closed"
        self.joined: Joined | None = None
        self.welcome: Welcome | None = None
        """The server's latest greeting (what it can do: ``reaches``)."""
        self.identity: MemberKey | None = None
        """This member's session key, made on joining (its public half goes in ``join``)."""
        self.last_seq = 0
        self.presence: Presence | None = None
        # Observers (the UI, the monitor, the call engine)
        self.state_changed: Signal[[LinkState]] = Signal()
        self.event_received: Signal[[SessionEvent]] = Signal()
        self.presence_changed: Signal[[Presence]] = Signal()
        self.signal_received: Signal[[RelayedSignal]] = Signal()
        self.error_received: Signal[[Error]] = Signal()

        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._healer: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}  # request id -> reply
        self._ack_waiters: dict[str, asyncio.Future[EventAck]] = {}  # event id -> receipt
        self._rids = itertools.count(1)
        self._outbox: dict[str, str] = {}  # event id -> serialized SendEvent, in send order
        self._url_index = 0
        self._login: Login | None = None
        self._join: Join | None = None
        self._closing = False
        self._background = TaskSet()
        self._resend: asyncio.Task[None] | None = None
        self._refusals = 0  # ``unavailable`` refusals since the last accepted event
        self._flushing = asyncio.Lock()  # one flush at a time keeps the outbox's order

    # -- state

    def _set_state(self, state: LinkState) -> None:
        if state != self.state:
            _log.info("signaling %s -> %s", self.state, state)
            self.state = state
            self.state_changed.emit(state)

    @property
    def member_id(self) -> str | None:
        return self.joined.member_id if self.joined else None

    @property
    def members(self) -> list[MemberInfo]:
        """The session's members as the server last vouched for them (role, key)."""
        if self.presence is not None:
            return self.presence.members
        return self.joined.members if self.joined else []

    # -- connecting

    async def connect(self) -> Welcome:
        """Open the first connection (raises if no server answers)."""
        self._closing = False
        self._set_state("connecting")
        welcome = await self._open()
        self._set_state("online")
        return welcome

    async def _open(self) -> Welcome:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = self.urls[self._url_index % len(self.urls)]
        ws = await self._http.ws_connect(
            url,
            autoping=False,  # pings and pongs come to the reader: each is a frame heard
            compress=0,
            max_msg_size=1024 * 1024,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0),
            ssl=self.options.ssl_context if self.options.ssl_context is not None else True,
        )
        try:
            first = await ws.receive(timeout=self.options.connect_timeout_s)
            welcome = SERVER_MESSAGE.validate_json(first.data)
            if not isinstance(welcome, Welcome):
                raise ConnectionError("server did not greet")
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        self.welcome = welcome
        self._reader = asyncio.create_task(self._read(ws), name="signaling-reader")
        return welcome

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        heard = _Heard(time.monotonic())
        watch = self._spawn(self._watch_silence(ws, heard))
        try:
            while True:
                try:
                    msg = await ws.receive()
                    if msg.type is aiohttp.WSMsgType.PING:
                        await ws.pong(msg.data)
                except (ConnectionError, aiohttp.ClientError) as exc:
                    # e.g. answering a ping on a socket that is closing: a lost connection
                    # like any other, not a reader that dies with an unretrieved error.
                    _log.info("signaling connection lost: %s", type(exc).__name__)
                    break
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(msg.data)
                elif msg.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    break
                # After handling it: the time its observers took was not spent listening.
                heard.at = time.monotonic()
        finally:
            watch.cancel()
            self._connection_lost(ws)

    async def _watch_silence(self, ws: aiohttp.ClientWebSocketResponse, heard: _Heard) -> None:
        """Close ``ws`` once nothing has come for ``dead_after_s``, counting only the time
        this loop was running: held up (a long paint, a blocking call, no CPU), it was
        not listening, and the server's pings may be waiting unread."""
        dead_after = self.options.dead_after_s
        while (wait := min(LISTEN_TICK_S, heard.at + dead_after - time.monotonic())) > 0:
            if held_up := await sleep_listening(wait):
                heard.at = heard_after_stall(heard.at, held_up, time.monotonic())
        _log.info("signaling silent for %.1f s: connection dead", dead_after)
        # Its reader stops at once (then heals); the close itself may wait for a dead peer.
        self._spawn(ws.close())

    def _dispatch(self, data: str) -> None:
        try:
            message = SERVER_MESSAGE.validate_json(data)
        except ValidationError:
            _log.warning("ignored a server message that does not fit the protocol")
            return
        rid = getattr(message, "rid", None)
        if isinstance(message, SessionEvent):
            if message.seq > self.last_seq:
                self.last_seq = message.seq
                self.event_received.emit(message)
        elif isinstance(message, EventAck):
            self._outbox.pop(message.event_id, None)
            self._refusals = 0
            waiter = self._ack_waiters.pop(message.event_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        elif isinstance(message, Presence):
            self.presence = message
            self.presence_changed.emit(message)
        elif isinstance(message, RelayedSignal):
            self.signal_received.emit(message)
        elif isinstance(message, Error):
            if rid is not None and rid in self._pending:
                self._pending.pop(rid).set_exception(
                    ProtocolError(ErrorCode(message.code), message.message, fatal=message.fatal)
                )
            else:
                if message.code == ErrorCode.UNAVAILABLE and self._outbox:
                    self._resend_outbox_later()
                self.error_received.emit(message)
        elif rid is not None:
            self._resolve(rid, message)

    def _resolve(self, key: str, value: object) -> None:
        future = self._pending.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)

    def _connection_lost(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if ws is not self._ws:
            return
        self._ws = None
        self._spawn(ws.close())
        # Requests in flight fail; events stay in the outbox and are sent again.
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionError("signaling connection lost"))
        if self._closing:
            self._set_state("closed")
            return
        self._set_state("reconnecting")
        if self._healer is None or self._healer.done():
            self._healer = asyncio.create_task(self._heal(), name="signaling-heal")

    async def _heal(self) -> None:
        for attempt in itertools.count():
            if self._closing:
                return
            backoff = self.options.backoff_s
            await asyncio.sleep(backoff[min(attempt, len(backoff) - 1)])
            self._url_index += attempt > 0  # try the next node after a failure
            try:
                await asyncio.wait_for(self._open(), self.options.connect_timeout_s)
                await self._restore()
                self._set_state("online")
                return
            except ProtocolError as exc:
                _log.warning("could not take our place back: %s", exc.code)
                if exc.fatal or exc.code in (ErrorCode.SESSION_ENDED, ErrorCode.TOKEN_REVOKED):
                    await self.close()
                    return
            except (OSError, TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                _log.info("reconnect attempt %d failed: %s", attempt + 1, type(exc).__name__)
            if self._ws is not None:  # connected but not seated: start over on a fresh socket
                ws, self._ws = self._ws, None
                await ws.close()

    async def _restore(self) -> None:
        """After reconnecting: sign in again, take our place back, flush the outbox."""
        if self._login is not None and self._login.access_token is not None:
            await self._request(self._login)
        if self.joined is not None:
            try:
                joined = await self._request(
                    Resume(
                        type="resume", resume_token=self.joined.resume_token, last_seq=self.last_seq
                    )
                )
            except ProtocolError as exc:
                if exc.code is not ErrorCode.RESUME_INVALID or self._join is None:
                    raise
                # Our token is no longer live (the server restarted, or the reply with
                # the newest one was lost): join again with the original invite. Our own
                # place back replays what we missed; a new one starts the timeline afresh.
                joined = await self._request(
                    self._join.model_copy(update={"last_seq": self.last_seq})
                )
                if not joined.resumed:
                    self.last_seq = joined.last_seq
            self.joined = joined
            await self._flush_outbox()

    async def _flush_outbox(self) -> None:
        """Send every event the server has not acknowledged, oldest first, including those
        queued while this runs (``send_event`` leaves them to it)."""
        async with self._flushing:
            sent: set[str] = set()
            while (event_id := next((e for e in self._outbox if e not in sent), None)) is not None:
                if len(sent) >= OUTBOX_BURST:
                    # Stay well under the server's per-connection rate limit.
                    await asyncio.sleep(1.0 / OUTBOX_RATE_PER_S)
                    if event_id not in self._outbox:  # acknowledged meanwhile
                        continue
                sent.add(event_id)
                await self._send_raw(self._outbox[event_id])

    @property
    def _resending(self) -> bool:
        return self._resend is not None and not self._resend.done()

    def _resend_outbox_later(self) -> None:
        """The server refused an event because its shared state (Redis) is down for a
        moment, while our socket is fine: without this, a check-in made then would wait
        for the next reconnect. The server keeps the first copy of an event id, so an
        event sent twice is still delivered once."""
        if self._resending or self._closing:
            return
        waits = self.options.resend_refused_s
        wait = waits[min(self._refusals, len(waits) - 1)]
        self._refusals += 1
        _log.info("events refused (server unavailable): sending again in %.0f s", wait)
        self._resend = self._spawn(self._resend_after(wait))

    async def _resend_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        if self.state == "online":  # else the reconnect flushes the outbox
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await self._flush_outbox()

    # -- requests

    async def _send_raw(self, payload: str) -> None:
        if self._ws is None:
            raise ConnectionError("not connected")
        await self._ws.send_str(payload)

    async def _request(self, message: Any) -> Any:
        rid = f"r{next(self._rids)}"
        message = message.model_copy(update={"rid": rid})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self._send_raw(message.model_dump_json(exclude_none=True))
            return await asyncio.wait_for(future, self.options.request_timeout_s)
        finally:
            # Not sent, timed out or cancelled: a reply or a lost connection later must
            # not set a result nobody will read ("exception was never retrieved").
            self._pending.pop(rid, None)

    async def login(
        self, therapist: str, secret: str | None = None, access_token: str | None = None
    ) -> LoginOk:
        ok: LoginOk = await self._request(
            Login(type="login", therapist=therapist, secret=secret, access_token=access_token)
        )
        # Reconnects sign in with the token, so the secret is not kept in memory.
        self._login = Login(type="login", therapist=therapist, access_token=ok.access_token)
        return ok

    async def create_session(self, label: str = "", relay_only: bool = False) -> SessionCreated:
        created: SessionCreated = await self._request(
            CreateSession(type="create_session", label=label, relay_only=relay_only)
        )
        return created

    async def list_sessions(self) -> list[SessionInfo]:
        sessions: Sessions = await self._request(ListSessions(type="list_sessions"))
        return sessions.sessions

    async def create_invite(self, session_id: str, role: InvitedRole) -> InviteInfo:
        created: InviteCreated = await self._request(
            CreateInvite(type="create_invite", session_id=session_id, role=role)
        )
        return created.invite

    async def revoke_invite(self, invite_id: str) -> None:
        await self._request(RevokeInvite(type="revoke_invite", invite_id=invite_id))

    async def join(
        self,
        invite: str | None = None,
        session_id: str | None = None,
        as_role: InvitedRole | None = None,
        device: str | None = None,
        language: str | None = None,
    ) -> Joined:
        """``device``: this install's secret (see ``companion.app.device``); the place an
        invite gives binds to it, and a re-join after a lost resume token sends it again.
        Without one, this client makes its own (good for as long as it lives).
        ``language``: the person's, for what the server writes to them (outer ladder)."""
        if invite is not None and device is None:
            device = secrets.token_urlsafe(24)
        identity = MemberKey.generate()
        request = Join(
            type="join",
            invite=invite,
            session_id=session_id,
            as_role=as_role,
            device=device,
            public_key=identity.public_key,
            box_key=identity.box_key,
            language=language,
        )
        joined: Joined = await self._request(request)
        self.identity = identity
        self._join, self.joined = request, joined
        self.last_seq = joined.last_seq
        return joined

    @property
    def device(self) -> str | None:
        """The device secret this client joined with (an install keeps its own)."""
        return self._join.device if self._join is not None else None

    async def send_event(self, event: EventBody, event_id: str | None = None) -> str:
        """Queue an event for the session; it is delivered once, even across reconnects.

        Returns at once with the event id; ``wait_acked`` waits for the server's receipt.
        """
        event_id = event_id or str(uuid.uuid4())
        payload = SendEvent(type="event", event_id=event_id, event=event).model_dump_json(
            exclude_none=True
        )
        self._outbox[event_id] = payload
        # Else the reconnect, or the resend of refused events, sends it after older ones.
        if self._ws is not None and self.state == "online" and not self._resending:
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await self._send_raw(payload)
        return event_id

    async def wait_acked(self, event_id: str) -> EventAck | None:
        """Wait for the server's receipt (None if it came already); wrap in a timeout."""
        if event_id not in self._outbox:
            return None
        loop = asyncio.get_running_loop()
        waiter = self._ack_waiters.setdefault(event_id, loop.create_future())
        return await asyncio.shield(waiter)

    @property
    def unacknowledged(self) -> int:
        return len(self._outbox)

    async def signal(self, to: str, pc_id: str, data: SignalData) -> None:
        message = PeerSignal(type="signal", to=to, pc_id=pc_id, data=data)
        await self._send_raw(message.model_dump_json(exclude_none=True))

    async def set_contacts(
        self, session_id: str, email: str | None = None, sms: str | None = None
    ) -> None:
        """The support person's phone and e-mail for the server's outer ladder, given with
        their consent (the support person's own, or the therapist's for the session)."""
        await self._request(
            SetContacts(
                type="set_contacts", session_id=session_id, email=email, sms=sms, consent=True
            )
        )

    async def set_language(self, language: str) -> None:
        """The person's language changed after joining: the server writes to them in it."""
        await self._request(SetLanguage(type="set_language", language=language))

    async def leave(self) -> None:
        await self._request(Leave(type="leave"))
        self.joined = None

    # -- closing

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._background.spawn(coro)

    async def drop_connection(self) -> None:
        """Cut the current socket without a goodbye (tests and fault drills)."""
        if self._ws is not None:
            await self._ws.close(code=1006)

    async def close(self) -> None:
        """Close for good; safe to call twice."""
        self._closing = True
        if self._healer is not None and self._healer is not asyncio.current_task():
            self._healer.cancel()
        if self._resend is not None:
            self._resend.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        for future in [*self._pending.values(), *self._ack_waiters.values()]:
            future.cancel()
        self._pending.clear()
        self._ack_waiters.clear()
        self._set_state("closed")
