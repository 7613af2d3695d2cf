"""The therapist's voice as an engine source: a ring fed by ``push``.

``push`` runs on whatever thread decodes the call audio (the call's ``voice-playout``
thread, which owns the jitter buffer and its timing): it converts to mono float32 at the
engine rate, updates the voice-activity flag and writes into a ring. The audio callback
reads that ring with ``read_into`` and never waits for it; it notes when it read, and
``queued_frames``/``last_read_at`` tell the producer how far the device has got.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic

import numpy as np

from companion.audio.gain import LinearRamp, RampScratch, db_to_gain, dbfs
from companion.audio.resample import Resampler
from companion.audio.ring import AudioRing
from companion.events import Signal


@dataclass(frozen=True)
class VoiceOptions:
    """Buffering and voice-activity detection of an incoming voice."""

    prebuffer_s: float = 0.0
    """Audio held before playing starts (and after an underrun). The call's playout
    (``companion.call.playout``) times its writes to the device's reads, so it needs none."""
    max_latency_s: float = 0.5
    """Beyond this much buffered audio, the oldest is dropped to keep the voice live (the
    playout keeps far less: this only catches a stalled producer or device)."""
    activity_threshold_db: float = -42.0
    """A frame louder than this (RMS, dBFS) counts as speech."""
    hangover_s: float = 0.3
    """Speech stays "on" this long after the last loud frame (bridges pauses between words)."""
    fade_s: float = 0.02
    """Fade when the source is added or removed."""


# Short fades at an underrun's edges: a voice that stops mid-wave would click.
_EDGE = 48


class VoiceSource:
    """Mono voice at the engine rate. ``push`` is thread-safe for one producer, non-blocking."""

    def __init__(
        self, sample_rate: int, options: VoiceOptions | None = None, block_frames: int = 960
    ) -> None:
        self.options = options or VoiceOptions()
        self.sample_rate = sample_rate
        self.block_frames = block_frames
        """Frames the output device reads per callback."""
        self.last_read_at: float | None = None
        """``time.monotonic()`` of the callback's last read (None before the first)."""
        self.speaking: Signal[[bool]] = Signal()
        """Emitted from the pushing thread when voice activity changes."""
        self.active = False
        self.underruns = 0
        self.dropped_frames = 0
        self.level = LinearRamp(0.0, sample_rate)
        self.closing = False
        self._ring = AudioRing(int(max(self.options.max_latency_s * 2, 0.5) * sample_rate), 1)
        self._prebuffer = int(self.options.prebuffer_s * sample_rate)
        self._max_buffer = int(self.options.max_latency_s * sample_rate)
        self._primed = False
        self._fade_in_next = False
        self._volume = 1.0
        self._resampler: Resampler | None = None
        self._override: bool | None = None
        self._quiet_samples = 0
        self._hangover = int(self.options.hangover_s * sample_rate)
        # Preallocated for the callback.
        self._ramp = RampScratch(1024)
        self._edge_down = np.linspace(1.0, 0.0, _EDGE, dtype=np.float32)
        self._edge_up = np.linspace(0.0, 1.0, _EDGE, dtype=np.float32)
        self.level.set_target(1.0, self.options.fade_s)

    # -- producer side -------------------------------------------------------------------

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Samples in [-1, 1], mono ``(n,)`` or ``(n, channels)``; any rate."""
        samples = np.asarray(pcm, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=1, dtype=np.float32)
        if sample_rate != self.sample_rate:
            if self._resampler is None or self._resampler.from_rate != sample_rate:
                self._resampler = Resampler(sample_rate, self.sample_rate, 1)
            samples = self._resampler.process(samples)
        if len(samples) == 0:
            return
        self._update_activity(samples)
        written = self._ring.write(samples)
        self.dropped_frames += len(samples) - written

    @property
    def queued_frames(self) -> int:
        """Frames pushed and not yet read by the device."""
        return self._ring.available

    def set_activity(self, active: bool | None) -> None:
        """Override the detector (e.g. with the far end's own VAD); ``None`` = detect."""
        self._override = active
        if active is not None:
            self._set_active(active)

    def set_volume_db(self, db: float) -> None:
        self._volume = db_to_gain(db)
        if not self.closing:
            self.level.set_target(self._volume, 0.05)

    def fade_out(self) -> None:
        self.closing = True
        self.level.set_target(0.0, self.options.fade_s)

    @property
    def finished(self) -> bool:
        return self.closing and self.level.value == 0.0

    def _update_activity(self, samples: np.ndarray) -> None:
        if self._override is not None:
            return
        loud = dbfs(samples) > self.options.activity_threshold_db
        if loud:
            self._quiet_samples = 0
            self._set_active(True)
        else:
            self._quiet_samples += len(samples)
            if self._quiet_samples >= self._hangover:
                self._set_active(False)

    def _set_active(self, active: bool) -> None:
        if active != self.active:
            self.active = active
            self.speaking.emit(active)

    # -- consumer side (audio callback) ---------------------------------------------------

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` (mono, at most 1024 frames) with gain applied; returns frames
        written at the front of ``out`` (the rest is left untouched)."""
        ring = self._ring
        n = len(out)
        available = ring.available
        self.last_read_at = monotonic()
        if not self._primed:
            if available < max(1, self._prebuffer):
                if self.closing:
                    # Silent already (removed while its buffer ran dry): nothing to fade,
                    # so it can leave the mix now rather than wait for audio that won't come.
                    self.level.jump(0.0)
                return 0
            self._primed = True
            self._fade_in_next = True
        elif available > self._max_buffer:
            # Late audio piled up (a stalled device): drop the oldest, keep the voice live.
            ring.skip(available - self._prebuffer)
        got = ring.read_into(out)
        if got == 0:
            self._primed = False
            self.underruns += 1
            if self.closing:
                self.level.jump(0.0)
            return 0
        if self._fade_in_next:
            self._fade_in_next = False
            edge = min(_EDGE, got)
            np.multiply(out[:edge], self._edge_up[:edge], out=out[:edge])
        if got < n:
            # Ran dry mid-block: end on a short fade, then wait for the buffer to refill.
            self._primed = False
            self.underruns += 1
            edge = min(_EDGE, got)
            np.multiply(
                out[got - edge : got], self._edge_down[_EDGE - edge :], out=out[got - edge : got]
            )
        level = self.level
        g0 = level.value
        g1 = level.advance(got)
        block = out[:got]
        self._ramp.apply(block, block, g0, g1)
        return got
