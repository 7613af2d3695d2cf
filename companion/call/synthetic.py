"""Synthetic camera and microphone: a moving test pattern with a clock, and a tone.

Used by ``--fake-media``, the demo, the tests and the benchmarks. Each sender's pattern has
its own hue so a receiver can tell whose video it is looking at.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME)
VIDEO_CLOCK = 90_000

# Seven-segment digits: segments a..g lit for 0-9.
_SEGMENTS = [
    "abcdef",
    "bc",
    "abdeg",
    "abcdg",
    "bcfg",
    "acdfg",
    "acdefg",
    "abc",
    "abcdefg",
    "abcdfg",
]


class Paced:
    """Frames come out at real time from the first ``tick`` (or the last ``restart``)."""

    def __init__(self, period_s: float) -> None:
        self._period = period_s
        self._start: float | None = None
        self._count = 0

    async def tick(self) -> int:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            wait = self._start + self._count * self._period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return self._count

    def restart(self) -> None:
        self._start = None
        self._count = 0


class TestPatternTrack(MediaStreamTrack):
    """A 4:2:0 pattern: a drifting bright bar, a seconds clock, and a per-sender hue."""

    kind = "video"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        hue: tuple[int, int] = (90, 170),
        sensor_noise: bool = False,
    ) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.hue = hue
        self.sensor_noise = sensor_noise
        """Grain like a real webcam's, so the encoder works as hard as with a camera."""
        self._rng = np.random.default_rng(7)
        """The (U, V) chroma of every pixel: how a receiver recognises the sender."""
        self._pace = Paced(1.0 / fps)
        self._base = np.tile(
            np.linspace(40, 110, width, dtype=np.uint8), (height, 1)
        )  # a soft gradient, never glaring
        self._frame = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self._frame[height:, :] = 0
        chroma = self._frame[height:].reshape(-1)
        quarter = width * height // 4
        chroma[:quarter] = hue[0]
        chroma[quarter:] = hue[1]
        self._started = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        count = await self._pace.tick()
        y = self._frame[: self.height]
        np.copyto(y, self._base)
        bar = int((count * 4) % self.width)
        y[:, bar : bar + 24] = 200
        self._draw_number(y, int(time.monotonic() - self._started))
        if self.sensor_noise:
            y += self._rng.integers(0, 24, size=y.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(self._frame, format="yuv420p")
        frame.pts = int(count * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame

    def _draw_number(self, y: np.ndarray, value: int) -> None:
        digit_w, digit_h, thick = 24, 44, 5
        top, left = 16, 16
        for index, char in enumerate(f"{value % 10000:04d}"):
            x0 = left + index * (digit_w + 10)
            segs = _SEGMENTS[int(char)]
            half = digit_h // 2
            boxes = {
                "a": (top, x0, thick, digit_w),
                "b": (top, x0 + digit_w - thick, half, thick),
                "c": (top + half, x0 + digit_w - thick, half, thick),
                "d": (top + digit_h - thick, x0, thick, digit_w),
                "e": (top + half, x0, half, thick),
                "f": (top, x0, half, thick),
                "g": (top + half - thick // 2, x0, thick, digit_w),
            }
            for seg in segs:
                r, c, h, w = boxes[seg]
                y[r : r + h, c : c + w] = 235


class ToneTrack(MediaStreamTrack):
    """Mono 48 kHz, 20 ms frames: a steady tone or a speech-like warble with pauses.

    ``speech_like`` shapes the tone into ~4 syllables a second with a pause every two
    seconds, which is what voice-activity detection and ducking should react to.
    """

    kind = "audio"

    def __init__(
        self,
        frequency: float = 440.0,
        level_dbfs: float = -18.0,
        speech_like: bool = False,
        clock_ppm: float = 0.0,
    ) -> None:
        """``clock_ppm``: how fast this "sound card" runs against the system clock (a
        real microphone's crystal is off by +-100-300 ppm)."""
        super().__init__()
        self.frequency = frequency
        self.amplitude = 10 ** (level_dbfs / 20)
        self.speech_like = speech_like
        self.muted = False
        self._pace = Paced(AUDIO_PTIME / (1 + clock_ppm * 1e-6))
        self._phase = 0.0
        self._sample = 0
        self._click_pending = False
        self.click_sent_at: float | None = None
        """``time.perf_counter()`` when the last injected click left in a frame."""

    def inject_click(self) -> None:
        """Put one full-scale impulse at the start of the next frame (latency probes)."""
        self._click_pending = True

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        count = await self._pace.tick()
        t = (self._sample + np.arange(AUDIO_SAMPLES)) / AUDIO_RATE
        if self.muted:
            samples = np.zeros(AUDIO_SAMPLES)
        else:
            samples = self.amplitude * np.sin(2 * math.pi * self.frequency * t)
            if self.speech_like:
                envelope = np.clip(np.sin(2 * math.pi * 2.0 * t), 0, None) ** 0.5
                envelope *= (t % 2.0) < 1.5  # breathe between phrases
                samples *= envelope
        if self._click_pending:
            samples = samples.copy()
            samples[:48] = 0.99
            self._click_pending = False
            self.click_sent_at = time.perf_counter()
        self._sample += AUDIO_SAMPLES
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = count * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame
