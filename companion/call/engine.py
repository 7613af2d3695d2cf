"""``CallEngine``: the patient–therapist call — a ``PeerLink`` with audio and video.

Remote audio goes through our own playout (``receiver.py``: jitter buffer, concealment,
time-stretching) to the audio engine, remote video to a sink that converts off the loop;
quality is read from ``getStats`` every second (published every ~2 s) and drives the
video governor, which pauses our video before it can hurt our voice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, clock
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RTP_HISTORY_SIZE, RtcpRrPacket, RtcpSrPacket

from companion.call.governor import GovernorOptions, VideoGovernor
from companion.call.media import LocalMedia
from companion.call.opus import FecOpusEncoder
from companion.call.peer import LinkPhase, PeerLink
from companion.call.playout import PlayoutStats
from companion.call.quality import CallQuality, QualityMeter
from companion.call.receiver import VoiceOutput, VoiceReceiver
from companion.call.sinks import VideoSink, play_audio
from companion.events import Signal
from companion.protocol.messages import Role
from companion.signaling.client import SignalingClient

_log = logging.getLogger(__name__)

CallState = LinkPhase


@dataclass(frozen=True)
class CallOptions:
    stats_interval_s: float = 1.0
    """How often stats are read (the video governor reacts at this pace)."""
    publish_every: int = 2
    """Publish quality to observers on every n-th reading (~2 s)."""
    governor: GovernorOptions | None = None
    """When outgoing video pauses to keep speech clear (defaults if None)."""


class CallEngine(PeerLink):
    """Patient and therapist: audio, video and the two data channels. The patient offers."""

    link_name = "call"

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
        peer_role: Role = "therapist" if role == "patient" else "patient"
        super().__init__(signaling, role, peer_role, offerer=role == "patient")
        self.media = media
        self.voice = voice
        self.options = options or CallOptions()
        self.quality_changed: Signal[[CallQuality]] = Signal()
        self.video = VideoSink()
        self.quality: CallQuality | None = None
        self._meter = QualityMeter()
        self._governor = VideoGovernor(self.options.governor)
        self._video_allowed = True
        self._voice_in: VoiceReceiver | None = None

    async def start(self) -> None:
        await super().start()
        self._tasks.spawn(self._stats_loop())

    @property
    def voice_stats(self) -> PlayoutStats | None:
        """The incoming voice's playout figures on the current connection (None: none)."""
        voice_in = self._voice_in
        return voice_in.stats if voice_in is not None else None

    @property
    def voice_delay_ms(self) -> float | None:
        """The incoming voice's jitter-buffer delay now (its last packet; None: none)."""
        voice_in = self._voice_in
        return voice_in.delay_ms if voice_in is not None else None

    # -- media controls

    def set_mic_muted(self, muted: bool) -> None:
        self.media.mic_muted = muted

    def switch_microphone(self, track: MediaStreamTrack | None) -> None:
        """Use another microphone mid-call; the call goes on (silent if ``None``)."""
        self.media.replace_audio(track)

    def switch_camera(self, track: MediaStreamTrack | None) -> None:
        self.media.replace_video(track)

    def set_camera_enabled(self, enabled: bool) -> None:
        self.media.camera_enabled = enabled

    # -- the media part of a connection

    def _on_remote_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._voice_in = VoiceReceiver(self.voice) if self.voice is not None else None
            assert self._pc is not None
            play = play_audio(self._pc, track, self._voice_in, self.media_received.emit)
            self._pc_tasks.spawn(play)
        else:
            self._pc_tasks.spawn(self.video.consume(track))

    def _before_remote_offer(self, pc: RTCPeerConnection) -> None:
        _add_media(pc)

    def _prepare(self, pc: RTCPeerConnection) -> None:
        _add_media(pc)
        for transceiver in pc.getTransceivers():
            transceiver.direction = "sendrecv"
            if transceiver.kind == "audio":
                _use_fec_encoder(transceiver)
            _tap_receiver_reports(transceiver.sender, self.media_reached.emit)
            track = (
                self.media.audio_for_connection()
                if transceiver.kind == "audio"
                else self.media.video_for_connection(lambda: self._video_allowed)
            )
            transceiver.sender.replaceTrack(track)

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
            quality = self._meter.measure(report, self.video.frames_received, self.voice_stats)
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


CALL_CODECS = {"audio": ("opus",), "video": ("VP8", "rtx")}
"""What a call negotiates, whoever offers: Opus (our playout decodes it, with its in-band
FEC) and VP8 (with retransmission). A browser's offer lists more; the answer keeps these."""


def _add_media(pc: RTCPeerConnection) -> None:
    """One audio and one video transceiver, each limited to the call's codecs."""
    kinds = {t.kind for t in pc.getTransceivers()}
    for kind in ("audio", "video"):
        if kind not in kinds:
            pc.addTransceiver(kind, direction="sendrecv")
    for transceiver in pc.getTransceivers():
        names = CALL_CODECS[transceiver.kind]
        codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
        transceiver.setCodecPreferences([c for c in codecs if c.name in names])


def _use_fec_encoder(transceiver: Any) -> None:
    """Our Opus encoder, carrying in-band FEC for the receiver's playout. (aiortc makes its
    encoder on the first frame, unless one is already there.)"""
    transceiver.sender._RTCRtpSender__encoder = FecOpusEncoder()


def _tap_receiver_reports(sender: Any, reached: Callable[[float], None]) -> None:
    """Tell ``reached`` how long ago we sent the newest packet of ``sender``'s stream that
    the other side's receiver report (RTCP, every 0.5-1.5 s for each stream) says it has.

    The monitor's other proof of the way out, the other side's heartbeats, rides the data
    channel, and after lost packets SCTP holds back every new message on every channel
    until its retransmission timer (1 s or more) fires: on a starved computer both ways'
    heartbeats then came seconds late while the audio flowed. The age is read from our own
    packet (its abs-send-time, on our clock), so a report never proves more than it says.
    """
    history = getattr(sender, "_RTCRtpSender__rtp_history", None)
    handle_rtcp = sender._handle_rtcp_packet
    if not isinstance(history, dict):
        _log.warning("this aiortc keeps no sent packets: receiver reports not used")
        return

    async def tapped(packet: Any) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                sent = history.get(report.highest_sequence % RTP_HISTORY_SIZE)
                if (
                    report.ssrc == sender._ssrc
                    and sent is not None
                    and sent.sequence_number == report.highest_sequence & 0xFFFF
                    and sent.extensions.abs_send_time is not None
                ):
                    now = (clock.current_ntp_time() >> 14) & 0xFFFFFF  # 6.18 fixed point
                    reached(((now - sent.extensions.abs_send_time) & 0xFFFFFF) / (1 << 18))
        await handle_rtcp(packet)

    sender._handle_rtcp_packet = tapped
