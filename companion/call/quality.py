"""Call quality from aiortc's ``getStats`` and our voice playout's figures, boiled down to
what people and the monitor use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from companion.call.playout import PlayoutStats


@dataclass(frozen=True)
class CallQuality:
    at: float
    """``time.monotonic()`` when measured."""
    rtt_ms: float | None
    audio_loss_pct: float
    video_loss_pct: float
    audio_jitter_ms: float
    audio_kbps_in: float
    video_kbps_in: float
    video_kbps_out: float
    video_fps_in: float
    packets_in: int
    """Total RTP packets received; the monitor watches it move."""
    audio_loss_out_pct: float = 0.0
    """Loss of our outgoing audio as the other side last reported it (RTCP)."""
    video_sending: bool = True
    """False while video is paused to keep speech clear on a weak uplink."""
    jitter_buffer_delay_ms: float = 0.0
    """The voice's mean jitter-buffer delay over the interval (arrival -> device read;
    ``jitterBufferDelay / jitterBufferEmittedCount`` in getStats' terms)."""
    target_delay_ms: float = 0.0
    """The delay the playout steers toward (follows the measured jitter)."""
    concealed_pct: float = 0.0
    """Share of the voice played over the interval that was concealment, not packets."""
    fec_pct: float = 0.0
    """Share recovered from in-band FEC."""
    accelerate_count: int = 0
    """Time-stretches that shortened the delay, since the connection began."""
    expand_count: int = 0
    """Time-stretches that lengthened it (concealment not counted)."""


class QualityMeter:
    """Turns successive stats reports into rates (bitrate, loss over the last interval)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int, int, int]] = {}  # key -> (t, bytes, packets, lost)
        self._frames_total = 0
        self._frames_at = time.monotonic()
        self._playout = PlayoutStats()

    def _delta(
        self, key: str, now: float, octets: int, packets: int, lost: int
    ) -> tuple[float, float]:
        previous = self._last.get(key)
        self._last[key] = (now, octets, packets, lost)
        if previous is None or now <= previous[0]:
            return 0.0, 0.0
        dt = now - previous[0]
        kbps = (octets - previous[1]) * 8 / dt / 1000
        got, missed = packets - previous[2], lost - previous[3]
        loss = 100.0 * missed / (got + missed) if got + missed > 0 else 0.0
        return kbps, max(0.0, loss)

    def measure(
        self, report: Any, frames_received_total: int, playout: PlayoutStats | None = None
    ) -> CallQuality:
        """``frames_received_total``: remote video frames decoded so far (for the frame rate);
        ``playout``: the incoming voice's playout figures (totals since it began)."""
        now = time.monotonic()
        rtt: float | None = None
        audio_loss = video_loss = jitter = 0.0
        audio_in = video_in = video_out = 0.0
        packets_in = 0
        audio_loss_out = 0.0
        for stats in report.values():
            kind = getattr(stats, "kind", None)
            if stats.type == "inbound-rtp":
                packets_in += stats.packetsReceived
                octets = getattr(stats, "bytesReceived", None) or 0
                # aiortc reports no byte count inbound; estimate from packets (~ payload size)
                kbps, loss = self._delta(
                    f"in-{kind}",
                    now,
                    octets or stats.packetsReceived * 1000,
                    stats.packetsReceived,
                    stats.packetsLost,
                )
                if kind == "audio":
                    audio_loss, audio_in = loss, kbps
                    jitter = stats.jitter / 48.0  # RTP timestamp units at 48 kHz -> ms
                else:
                    video_loss, video_in = loss, kbps
            elif stats.type == "outbound-rtp" and kind == "video":
                video_out, _ = self._delta("out-video", now, stats.bytesSent, stats.packetsSent, 0)
            elif stats.type == "remote-inbound-rtp":
                if stats.roundTripTime is not None:
                    rtt = stats.roundTripTime * 1000
                if kind == "audio":
                    audio_loss_out = 100.0 * stats.fractionLost / 256  # RTCP's 8-bit fraction
        fps = (frames_received_total - self._frames_total) / max(1e-3, now - self._frames_at)
        self._frames_total, self._frames_at = frames_received_total, now
        voice = self._voice_figures(playout)
        return CallQuality(
            **voice,
            at=now,
            rtt_ms=rtt,
            audio_loss_pct=audio_loss,
            video_loss_pct=video_loss,
            audio_jitter_ms=jitter,
            audio_kbps_in=audio_in,
            video_kbps_in=video_in,
            video_kbps_out=video_out,
            video_fps_in=fps,
            packets_in=packets_in,
            audio_loss_out_pct=audio_loss_out,
        )

    def _voice_figures(self, playout: PlayoutStats | None) -> dict[str, Any]:
        if playout is None:
            return {}
        last = self._playout
        if playout.total_samples < last.total_samples:
            last = PlayoutStats()  # a new connection's playout: its totals start again
        self._playout = playout
        emitted = playout.samples_emitted - last.samples_emitted
        delay = playout.jitter_buffer_delay_s - last.jitter_buffer_delay_s
        total = max(1, playout.total_samples - last.total_samples)
        return {
            "jitter_buffer_delay_ms": 1000 * delay / emitted if emitted else 0.0,
            "target_delay_ms": playout.target_delay_ms,
            "concealed_pct": 100 * (playout.concealed_samples - last.concealed_samples) / total,
            "fec_pct": 100 * (playout.fec_samples - last.fec_samples) / total,
            "accelerate_count": playout.accelerate_count,
            "expand_count": playout.expand_count,
        }
