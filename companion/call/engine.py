"""``CallEngine``: the patient–therapist peer connection, negotiated through signaling.

The patient's app offers, the therapist's answers. Every (re)connection is a *fresh*
``RTCPeerConnection`` with its own ``pc_id`` (aiortc has no ICE restart); signals for an
older ``pc_id`` are ignored. Negotiation steps run one at a time on a worker so an offer,
an answer and a restart never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from pydantic import ValidationError

from companion.call.control import (
    CONTROL_CHANNEL_LABEL,
    CONTROL_MESSAGE,
    HEARTBEAT_CHANNEL_LABEL,
    ControlMessage,
    Heartbeat,
    HeartbeatEcho,
)
from companion.call.governor import GovernorOptions, VideoGovernor
from companion.call.media import LocalMedia
from companion.call.quality import CallQuality, QualityMeter
from companion.call.sinks import VideoSink, VoiceOutput, consume_audio
from companion.events import Signal
from companion.protocol.messages import (
    Hangup,
    Presence,
    RelayedSignal,
    Restart,
    Role,
    SessionDescription,
)
from companion.signaling.client import SignalingClient

_log = logging.getLogger(__name__)

CallState = Literal["waiting", "connecting", "connected", "interrupted", "closed"]


@dataclass(frozen=True)
class CallOptions:
    stats_interval_s: float = 1.0
    """How often stats are read (the video governor reacts at this pace)."""
    publish_every: int = 2
    """Publish quality to observers on every n-th reading (~2 s)."""
    governor: GovernorOptions | None = None
    """When outgoing video pauses to keep speech clear (defaults if None)."""


class CallEngine:
    def __init__(
        self,
        signaling: SignalingClient,
        role: Role,
        media: LocalMedia,
        voice: VoiceOutput | None = None,
        options: CallOptions | None = None,
    ) -> None:
        if role not in ("patient", "therapist"):
            raise ValueError("only the patient and the therapist are in the call")
        self.signaling = signaling
        self.role = role
        self.media = media
        self.voice = voice
        self.options = options or CallOptions()
        self.state: CallState = "waiting"
        self.state_changed: Signal[[CallState]] = Signal()
        self.control_received: Signal[[ControlMessage]] = Signal()
        self.heartbeat_received: Signal[[Heartbeat | HeartbeatEcho]] = Signal()
        self.media_received: Signal[[]] = Signal()
        """A remote audio frame arrived (50 a second while the link lives)."""
        self.quality_changed: Signal[[CallQuality]] = Signal()
        self.video = VideoSink()
        self.quality: CallQuality | None = None

        self._pc: RTCPeerConnection | None = None
        self._pc_id: str | None = None
        self._peer_member: str | None = None
        self._channel: RTCDataChannel | None = None
        self._heartbeat_channel: RTCDataChannel | None = None
        self._generation = 0
        self._meter = QualityMeter()
        self._work: asyncio.Queue[Coroutine[Any, Any, None]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pc_tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Any] = []
        self._governor = VideoGovernor(self.options.governor)
        self._video_allowed = True
        self._closed = False

    # -- lifecycle

    @property
    def is_offerer(self) -> bool:
        return self.role == "patient"

    @property
    def peer_role(self) -> Role:
        return "therapist" if self.role == "patient" else "patient"

    async def start(self) -> None:
        self._spawn(self._worker(), self._tasks)
        self._spawn(self._stats_loop(), self._tasks)
        self._unsubscribe = [
            self.signaling.signal_received.connect(self._on_signal),
            self.signaling.presence_changed.connect(self._on_presence),
        ]
        if self.signaling.presence is not None:
            self._on_presence(self.signaling.presence)
        elif self.signaling.joined is not None:
            self._on_presence(
                Presence(
                    session_id=self.signaling.joined.session_id,
                    members=self.signaling.joined.members,
                )
            )

    async def close(self) -> None:
        """Hang up and release everything; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self._close_pc()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._set_state("closed")

    def _spawn(self, coro: Coroutine[Any, Any, Any], into: set[asyncio.Task[Any]]) -> None:
        task = asyncio.create_task(coro)
        into.add(task)
        task.add_done_callback(into.discard)

    def _set_state(self, state: CallState) -> None:
        if state != self.state:
            _log.info("call %s -> %s", self.state, state)
            self.state = state
            self.state_changed.emit(state)

    async def _worker(self) -> None:
        while True:
            step = await self._work.get()
            try:
                await step
            except Exception:
                _log.exception("call negotiation step failed")

    # -- what the app asks for

    async def restart(self) -> None:
        """Make a fresh peer connection (the monitor calls this when the link is lost)."""
        if self.is_offerer:
            self._work.put_nowait(self._offer())
        elif self._peer_member is not None or self._online_peer() is not None:
            peer = self._peer_member or self._online_peer()
            assert peer is not None
            self._work.put_nowait(
                self._send_signal(peer, self._pc_id or "none", Restart(kind="restart"))
            )

    def send_control(self, message: ControlMessage) -> bool:
        """Send on the data channel; False when it is not open (the caller may use signaling)."""
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return False
        channel.send(message.model_dump_json())
        return True

    def send_heartbeat(self, message: Heartbeat | HeartbeatEcho) -> bool:
        channel = self._heartbeat_channel
        if channel is None or channel.readyState != "open":
            return False
        channel.send(message.model_dump_json())
        return True

    @property
    def connection_state(self) -> str:
        """aiortc's view: new, connecting, connected, failed or closed ("none" without one)."""
        return self._pc.connectionState if self._pc is not None else "none"

    def set_mic_muted(self, muted: bool) -> None:
        self.media.mic_muted = muted

    def switch_microphone(self, track: MediaStreamTrack | None) -> None:
        """Use another microphone mid-call; the call goes on (silent if ``None``)."""
        self.media.replace_audio(track)

    def switch_camera(self, track: MediaStreamTrack | None) -> None:
        self.media.replace_video(track)

    def set_camera_enabled(self, enabled: bool) -> None:
        self.media.camera_enabled = enabled

    # -- negotiation

    def _online_peer(self) -> str | None:
        presence = self.signaling.presence
        members = (
            presence.members
            if presence
            else (self.signaling.joined.members if self.signaling.joined else [])
        )
        return next(
            (m.member_id for m in members if m.role == self.peer_role and m.status == "online"),
            None,
        )

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
            return  # a signaling blip on either side does not disturb working media
        if self.is_offerer:
            self._work.put_nowait(self._offer())
        elif self._pc is None:
            # Our app (re)started: ask the patient's app for a fresh offer.
            self._work.put_nowait(self._send_signal(peer, "none", Restart(kind="restart")))

    def _on_signal(self, message: RelayedSignal) -> None:
        data = message.data
        if isinstance(data, SessionDescription) and data.kind == "offer" and not self.is_offerer:
            self._work.put_nowait(self._answer(message.from_member, message.pc_id, data.sdp))
        elif isinstance(data, SessionDescription) and data.kind == "answer" and self.is_offerer:
            self._work.put_nowait(self._accept_answer(message.pc_id, data.sdp))
        elif isinstance(data, Restart) and self.is_offerer:
            self._work.put_nowait(self._offer())
        elif isinstance(data, Hangup) and message.pc_id == self._pc_id:
            self._work.put_nowait(self._close_pc())
        else:
            _log.debug("ignored %s signal for pc %s", data.kind, message.pc_id)

    async def _send_signal(self, to: str, pc_id: str, data: Any) -> None:
        try:
            await self.signaling.signal(to, pc_id, data)
        except (ConnectionError, OSError) as exc:
            _log.info("signal not sent (%s); the monitor will retry", type(exc).__name__)

    def _configuration(self) -> RTCConfiguration:
        servers = self.signaling.joined.ice_servers if self.signaling.joined else []
        # Always pass a list: with none, aiortc would fall back to a public STUN server.
        return RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
                for s in servers
            ]
        )

    async def _new_pc(self, pc_id: str, peer: str) -> RTCPeerConnection:
        await self._close_pc()
        pc = RTCPeerConnection(self._configuration())
        self._pc, self._pc_id, self._peer_member = pc, pc_id, peer
        self._set_state("connecting")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is not self._pc:
                return
            state = pc.connectionState
            if state == "connected":
                self._set_state("connected")
            elif state in ("failed", "closed"):
                self._set_state("interrupted")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._spawn(
                    consume_audio(track, self.voice, self.media_received.emit), self._pc_tasks
                )
            else:
                self._spawn(self.video.consume(track), self._pc_tasks)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label in (CONTROL_CHANNEL_LABEL, HEARTBEAT_CHANNEL_LABEL):
                self._wire_channel(channel)

        return pc

    def _attach_media(self, pc: RTCPeerConnection) -> None:
        kinds = {t.kind for t in pc.getTransceivers()}
        for kind in ("audio", "video"):
            if kind not in kinds:
                pc.addTransceiver(kind, direction="sendrecv")
        for transceiver in pc.getTransceivers():
            transceiver.direction = "sendrecv"
            track = (
                self.media.audio_for_connection()
                if transceiver.kind == "audio"
                else self.media.video_for_connection(lambda: self._video_allowed)
            )
            transceiver.sender.replaceTrack(track)

    def _wire_channel(self, channel: RTCDataChannel) -> None:
        if channel.label == HEARTBEAT_CHANNEL_LABEL:
            self._heartbeat_channel = channel
        else:
            self._channel = channel

        @channel.on("message")
        def on_message(raw: str | bytes) -> None:
            try:
                message = CONTROL_MESSAGE.validate_json(raw)
            except ValidationError:
                _log.warning("ignored a control message that does not fit the protocol")
                return
            if isinstance(message, Heartbeat | HeartbeatEcho):
                self.heartbeat_received.emit(message)
            else:
                self.control_received.emit(message)

    async def _offer(self) -> None:
        peer = self._online_peer()
        if peer is None or self._closed:
            return
        self._generation += 1
        pc_id = f"{self._generation}-{secrets.token_urlsafe(6)}"
        pc = await self._new_pc(pc_id, peer)
        self._wire_channel(pc.createDataChannel(CONTROL_CHANNEL_LABEL, ordered=True))
        self._wire_channel(
            pc.createDataChannel(HEARTBEAT_CHANNEL_LABEL, ordered=False, maxRetransmits=0)
        )
        self._attach_media(pc)
        await pc.setLocalDescription(await pc.createOffer())  # gathers candidates (no trickle)
        if pc is self._pc:
            offer = SessionDescription(kind="offer", sdp=pc.localDescription.sdp)
            await self._send_signal(peer, pc_id, offer)

    async def _answer(self, peer: str, pc_id: str, sdp: str) -> None:
        if self._closed:
            return
        pc = await self._new_pc(pc_id, peer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._attach_media(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = SessionDescription(kind="answer", sdp=pc.localDescription.sdp)
        await self._send_signal(peer, pc_id, answer)

    async def _accept_answer(self, pc_id: str, sdp: str) -> None:
        if (
            self._pc is None
            or pc_id != self._pc_id
            or self._pc.signalingState != "have-local-offer"
        ):
            _log.debug("ignored a stale answer for pc %s", pc_id)
            return
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _close_pc(self) -> None:
        pc, self._pc, self._channel, self._heartbeat_channel = self._pc, None, None, None
        for task in list(self._pc_tasks):
            task.cancel()
        await asyncio.gather(*self._pc_tasks, return_exceptions=True)
        if pc is not None:
            await pc.close()

    # -- quality

    async def _stats_loop(self) -> None:
        readings = 0
        while True:
            await asyncio.sleep(self.options.stats_interval_s)
            pc = self._pc
            if pc is None or pc.connectionState != "connected":
                continue
            try:
                report = await pc.getStats()
            except Exception as exc:  # a closing connection; the next round will tell
                _log.debug("stats unavailable: %s", type(exc).__name__)
                continue
            quality = self._meter.measure(report, self.video.frames_received)
            video_on = self._governor.update(
                quality.at, quality.audio_loss_out_pct / 100, quality.rtt_ms
            )
            if video_on != self._video_allowed:
                _log.info(
                    "outgoing video %s to keep speech clear", "resumed" if video_on else "paused"
                )
                self._video_allowed = video_on
            self.quality = replace(quality, video_sending=video_on and self.media.sending_video)
            readings += 1
            if readings % self.options.publish_every == 0:
                self.quality_changed.emit(self.quality)
