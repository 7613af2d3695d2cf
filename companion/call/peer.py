"""``PeerLink``: one peer connection to one other member, negotiated through signaling.

The offering side makes every connection; the answering side answers, or asks for a fresh
one with ``restart``. Every (re)connection is a *fresh* ``RTCPeerConnection`` with its own
``pc_id`` (aiortc has no ICE restart); signals for another link or an older ``pc_id`` are
ignored. Negotiation steps run one at a time on a worker so an offer, an answer and a
restart never interleave. Two data channels ride along: ``control`` (reliable, ordered)
and ``heartbeat`` (unordered, never retransmitted).

A link is only ever with the member the session expects (the authority table's peer
paths): signals from any other member, or of a kind that member's side may not send, are
dropped, and events on the control channel count only when signed by the key the server
vouched for that member (``ControlEvent``). What a proven member may send is then the
table's call (the ``Guardian`` decides, for every path alike).

Subclasses add what travels besides data: ``CallEngine`` adds audio and video.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from pydantic import ValidationError

from companion.call.control import (
    CONTROL_CHANNEL_LABEL,
    CONTROL_MESSAGE,
    EVENT_BODY,
    HEARTBEAT_CHANNEL_LABEL,
    ControlEvent,
    Heartbeat,
    HeartbeatEcho,
)
from companion.call.mdns import resolve_local_names
from companion.events import Signal
from companion.protocol import authority
from companion.protocol.identity import peer_event_input, verify
from companion.protocol.messages import (
    EventBody,
    Hangup,
    MemberInfo,
    Presence,
    RelayedSignal,
    Restart,
    Role,
    SessionDescription,
)
from companion.signaling.client import SignalingClient
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)

OFFER_GRACE_S = 1.0
"""How long an answering side waits for an offer before asking for one."""

LinkPhase = Literal["waiting", "connecting", "connected", "interrupted", "closed"]


class PeerLink:
    link_name = "link"
    """Prefix of this link's ``pc_id``s, so several links share one signaling session."""

    def __init__(
        self,
        signaling: SignalingClient,
        role: Role,
        peer_role: Role,
        offerer: bool,
        use_ice_servers: bool = True,
    ) -> None:
        self.signaling = signaling
        self.role = role
        self.peer_role = peer_role
        self.is_offerer = offerer
        self.use_ice_servers = use_ice_servers
        """False keeps a link on the local network: host candidates only."""
        self.state: LinkPhase = "waiting"
        self.state_changed: Signal[[LinkPhase]] = Signal()
        self.event_received: Signal[[str, EventBody, Role]] = Signal()
        """A session event (id, body, sender's role) whose signature proved it came from
        the member at the other end."""
        self.heartbeat_received: Signal[[Heartbeat | HeartbeatEcho]] = Signal()
        self.control_opened: Signal[[]] = Signal()
        """The control channel (re)opened: a moment to send what could not go before."""
        self.media_received: Signal[[]] = Signal()
        """A remote audio frame arrived (50 a second while a call's link lives)."""
        self.media_reached: Signal[[float]] = Signal()
        """The other side's receiver report says our media reached it: the argument is how
        many seconds ago we sent the newest packet it has (RTCP rides with the media, so
        this goes on while the data channels are held up)."""

        self._pc: RTCPeerConnection | None = None
        self._pc_id: str | None = None
        self._peer_member: str | None = None
        self._channel: RTCDataChannel | None = None
        self._heartbeat_channel: RTCDataChannel | None = None
        self._generation = 0
        self._work: asyncio.Queue[Coroutine[Any, Any, None]] = asyncio.Queue()
        self._tasks = TaskSet()
        self._pc_tasks = TaskSet()
        self._unsubscribe: list[Callable[[], None]] = []
        self._offer_requested = False
        self._offer_queued = False
        self._closed = False
        self._refusals = authority.Refusals(_log)

    # -- read-only views (for observers and tests)

    @property
    def pc_id(self) -> str | None:
        """The current peer connection's id (a new one after each renegotiation)."""
        return self._pc_id

    @property
    def peer_member(self) -> str | None:
        """The member this link is connected (or connecting) to."""
        return self._peer_member

    @property
    def peer_connection(self) -> RTCPeerConnection | None:
        """The current aiortc peer connection, to inspect (never to drive)."""
        return self._pc

    @property
    def control_open(self) -> bool:
        """Whether the control data channel is open."""
        return self._channel is not None and self._channel.readyState == "open"

    # -- lifecycle

    async def start(self) -> None:
        self._tasks.spawn(self._worker())
        self._unsubscribe = [
            self.signaling.signal_received.connect(self._on_signal),
            self.signaling.presence_changed.connect(self._on_presence),
        ]
        joined = self.signaling.joined
        presence = self.signaling.presence or (
            Presence(session_id=joined.session_id, members=joined.members) if joined else None
        )
        if presence is not None:
            self._on_presence(presence)

    async def close(self) -> None:
        """Hang up and release everything; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self._close_pc()
        await self._tasks.cancel_all()
        self._set_state("closed")

    def _set_state(self, state: LinkPhase) -> None:
        if state != self.state:
            _log.info("%s %s -> %s", self.link_name, self.state, state)
            self.state = state
            self.state_changed.emit(state)

    async def _worker(self) -> None:
        while True:
            step = await self._work.get()
            try:
                await step
            except Exception:
                _log.exception("%s negotiation step failed", self.link_name)

    # -- what the app asks for

    @property
    def connection_state(self) -> str:
        """aiortc's view: new, connecting, connected, failed or closed ("none" without one)."""
        return self._pc.connectionState if self._pc is not None else "none"

    async def restart(self) -> None:
        """Make a fresh peer connection (the monitor calls this when the link is lost)."""
        if self.is_offerer:
            self._queue_offer(force=True)
            return
        peer = self._peer_member or self._online_peer()
        if peer is not None:
            restart = self._send_signal(
                peer, self._pc_id or self._new_pc_id(), Restart(kind="restart")
            )
            self._work.put_nowait(restart)

    async def drop(self) -> None:
        """Lose the connection without a goodbye, as a dead network would (drills, the demo)."""
        self._work.put_nowait(self._close_pc())

    def send_event(self, event_id: str, event: EventBody) -> bool:
        """Sign and send on the control channel; False when it is not open (or we have no
        session key yet)."""
        joined, key = self.signaling.joined, self.signaling.identity
        if joined is None or key is None:
            return False
        sealed = ControlEvent.seal(key, joined.session_id, joined.member_id, event_id, event)
        return self._send_on(self._channel, sealed.model_dump_json())

    def send_heartbeat(self, message: Heartbeat | HeartbeatEcho) -> bool:
        return self._send_on(self._heartbeat_channel, message.model_dump_json())

    @staticmethod
    def _send_on(channel: RTCDataChannel | None, text: str) -> bool:
        if channel is None or channel.readyState != "open":
            return False
        channel.send(text)
        return True

    # -- hooks for subclasses

    def _prepare(self, pc: RTCPeerConnection) -> None:
        """Add what travels besides data (called before an offer or an answer)."""

    def _before_remote_offer(self, pc: RTCPeerConnection) -> None:
        """Called before a remote offer is applied: aiortc settles each media section's
        codecs while applying it, so codec preferences must be in place by then."""

    def _on_remote_track(self, track: MediaStreamTrack) -> None:
        """A remote track arrived (during ``setRemoteDescription``: register nothing late)."""
        track.stop()

    async def _released(self) -> None:
        """The current connection is gone."""

    # -- negotiation

    def _new_pc_id(self) -> str:
        self._generation += 1
        return f"{self.link_name}-{self._generation}-{secrets.token_urlsafe(6)}"

    def _mine(self, pc_id: str) -> bool:
        return pc_id.startswith(f"{self.link_name}-")

    def _online_peer(self) -> str | None:
        return next(
            (
                m.member_id
                for m in self.signaling.members
                if m.role == self.peer_role and m.status == "online"
            ),
            None,
        )

    def _expected(self, member_id: str) -> MemberInfo | None:
        """The member, if the server's list says it holds the role this link is with."""
        info = next((m for m in self.signaling.members if m.member_id == member_id), None)
        return info if info is not None and info.role == self.peer_role else None

    def _on_presence(self, presence: Presence) -> None:
        peer = self._online_peer()
        if peer is None or self._closed:
            return
        healthy = self._pc is not None and self._pc.connectionState in (
            "new",
            "connecting",
            "connected",
        )
        if healthy and self._peer_member == peer:
            return  # a signaling blip on either side does not disturb a working link
        if self.is_offerer:
            self._queue_offer()
        elif self._pc is None and not self._offer_requested:
            # This app (re)started. The other side usually offers by itself; if no offer
            # comes soon, ask for one.
            self._offer_requested = True
            asyncio.get_running_loop().call_later(OFFER_GRACE_S, self._request_offer_if_idle)

    def _queue_offer(self, force: bool = False) -> None:
        """One offer at a time: presence updates arriving together must not each make one."""
        if self._offer_queued and not force:
            return
        self._offer_queued = True
        self._work.put_nowait(self._offer())

    def _request_offer_if_idle(self) -> None:
        self._offer_requested = False
        peer = self._online_peer()
        if self._pc is None and peer is not None and not self._closed:
            restart = self._send_signal(peer, self._new_pc_id(), Restart(kind="restart"))
            self._work.put_nowait(restart)

    def _on_signal(self, message: RelayedSignal) -> None:
        if not self._mine(message.pc_id):
            return
        data = message.data
        if self._expected(message.from_member) is None or not authority.may_signal(
            message.pc_id, data.kind, self.peer_role, self.role
        ):
            # Not the member this link is with (a support seat offering the therapist a
            # call), or not its side's part: answered by no one.
            self._refusals.note(
                "%s refused a %s signal from member %s",
                self.link_name,
                data.kind,
                message.from_member,
            )
            return
        if isinstance(data, SessionDescription) and data.kind == "offer" and not self.is_offerer:
            self._work.put_nowait(self._answer(message.from_member, message.pc_id, data.sdp))
        elif isinstance(data, SessionDescription) and data.kind == "answer" and self.is_offerer:
            self._work.put_nowait(self._accept_answer(message.pc_id, data.sdp))
        elif isinstance(data, Restart) and self.is_offerer:
            self._queue_offer(force=True)
        elif isinstance(data, Hangup) and message.pc_id == self._pc_id:
            self._work.put_nowait(self._close_pc())
        else:
            _log.debug("%s ignored %s signal for pc %s", self.link_name, data.kind, message.pc_id)

    async def _send_signal(self, to: str, pc_id: str, data: Any) -> None:
        try:
            await self.signaling.signal(to, pc_id, data)
        except (ConnectionError, OSError) as exc:
            _log.info("signal not sent (%s); the monitor will retry", type(exc).__name__)

    def ice_configuration(self) -> RTCConfiguration:
        """The ICE servers and policy the next peer connection gets."""
        joined = self.signaling.joined
        servers = joined.ice_servers if (joined and self.use_ice_servers) else []
        # A relay-only session (issue 9): TURN relay candidates alone, so neither side learns
        # the other's addresses. LAN-only links (use_ice_servers=False) stay host-only.
        relay = bool(servers) and joined is not None and joined.ice_transport_policy == "relay"
        # Always pass a list: with none, aiortc would fall back to a public STUN server.
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
                for s in servers
            ],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY if relay else RTCIceTransportPolicy.ALL,
        )

    async def _new_pc(self, pc_id: str, peer: str) -> RTCPeerConnection:
        await self._close_pc()
        pc = RTCPeerConnection(self.ice_configuration())
        self._pc, self._pc_id, self._peer_member = pc, pc_id, peer
        self._set_state("connecting")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is not self._pc:
                return
            if pc.connectionState == "connected":
                self._set_state("connected")
            elif pc.connectionState in ("failed", "closed"):
                self._set_state("interrupted")

        pc.on("track", self._on_remote_track)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label in (CONTROL_CHANNEL_LABEL, HEARTBEAT_CHANNEL_LABEL):
                self._wire_channel(channel)

        return pc

    def _wire_channel(self, channel: RTCDataChannel) -> None:
        if channel.label == HEARTBEAT_CHANNEL_LABEL:
            self._heartbeat_channel = channel
        else:
            self._channel = channel
            if channel.readyState == "open":
                self.control_opened.emit()
            else:
                channel.on("open", self.control_opened.emit)

        @channel.on("message")
        def on_message(raw: str | bytes) -> None:
            try:
                message = CONTROL_MESSAGE.validate_json(raw)
            except ValidationError:
                self._refusals.note(
                    "%s refused a message that does not fit the protocol", self.link_name
                )
                return
            if isinstance(message, Heartbeat | HeartbeatEcho):
                self.heartbeat_received.emit(message)
            else:
                self._on_peer_event(message)

    def _on_peer_event(self, message: ControlEvent) -> None:
        event = self._proven(message)
        if event is not None:
            self.event_received.emit(message.event_id, event, self.peer_role)

    def _proven(self, message: ControlEvent) -> EventBody | None:
        """The event, if the member this connection is with signed it; else None, logged
        (kinds and ids only: never the body)."""
        joined = self.signaling.joined
        sender = self._expected(message.from_member)
        if joined is None or sender is None or message.from_member != self._peer_member:
            reason = "not from the member this connection is with"
        elif sender.public_key is None:
            reason = "the sender has no key vouched for by the server"
        elif not verify(
            sender.public_key,
            peer_event_input(
                joined.session_id, message.event_id, message.from_member, message.body
            ),
            message.sig,
        ):
            reason = "the signature does not verify"
        else:
            try:
                return EVENT_BODY.validate_json(message.body)
            except ValidationError:
                reason = "the body does not fit the protocol"
        self._refusals.note("%s refused event %s: %s", self.link_name, message.event_id, reason)
        return None

    async def _offer(self) -> None:
        self._offer_queued = False
        peer = self._online_peer()
        if peer is None or self._closed:
            return
        pc_id = self._new_pc_id()
        pc = await self._new_pc(pc_id, peer)
        self._wire_channel(pc.createDataChannel(CONTROL_CHANNEL_LABEL, ordered=True))
        self._wire_channel(
            pc.createDataChannel(HEARTBEAT_CHANNEL_LABEL, ordered=False, maxRetransmits=0)
        )
        self._prepare(pc)
        await pc.setLocalDescription(await pc.createOffer())  # gathers candidates (no trickle)
        if pc is self._pc:
            offer = SessionDescription(kind="offer", sdp=pc.localDescription.sdp)
            await self._send_signal(peer, pc_id, offer)

    async def _answer(self, peer: str, pc_id: str, sdp: str) -> None:
        if self._closed:
            return
        sdp = await resolve_local_names(sdp)  # a browser's host names (mdns.py)
        pc = await self._new_pc(pc_id, peer)
        self._before_remote_offer(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._prepare(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = SessionDescription(kind="answer", sdp=pc.localDescription.sdp)
        await self._send_signal(peer, pc_id, answer)

    async def _accept_answer(self, pc_id: str, sdp: str) -> None:
        if (
            self._pc is None
            or pc_id != self._pc_id
            or self._pc.signalingState != "have-local-offer"
        ):
            _log.debug("%s ignored a stale answer for pc %s", self.link_name, pc_id)
            return
        # A browser's host candidates are <uuid>.local names (mdns.py says why we ask).
        sdp = await resolve_local_names(sdp)
        if self._pc is None or pc_id != self._pc_id:
            return
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _close_pc(self) -> None:
        pc, self._pc, self._channel, self._heartbeat_channel = self._pc, None, None, None
        await self._pc_tasks.cancel_all()
        if pc is not None:
            await pc.close()
            await self._released()
