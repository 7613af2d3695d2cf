"""The output device: one PortAudio stream whose callback runs the mixer.

PortAudio's device list is a snapshot taken when PortAudio starts; it is not refreshed
here, because re-initializing PortAudio would break every other open stream (the
microphone). When the chosen device disappears the engine reopens on the system default,
which follows whatever the system now routes to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_log = logging.getLogger(__name__)

# PortAudio is not thread-safe: opening, starting and closing streams (and querying
# devices) from several threads at once corrupts its state. Every engine in the process
# (the demo runs three) takes this lock around those calls; the callback never does.
PORTAUDIO_LOCK = threading.RLock()


@dataclass(frozen=True)
class OutputDeviceInfo:
    index: int
    name: str
    is_default: bool
    default_sample_rate: float
    latency_s: float = 0.0
    """Output latency PortAudio reports for the open stream (0 for a listed device)."""


@dataclass(frozen=True)
class DeviceOptions:
    """The output stream."""

    device: int | str | None = None
    """PortAudio index or name (substring); ``None`` = the system default."""
    block_frames: int = 480
    """Frames per callback (10 ms at 48 kHz): the call's voice is read a block at a time,
    so the block is part of its latency; the callback's fixed Python cost is still a
    small share of the period."""
    latency_s: float = 0.02
    """Buffering PortAudio keeps between the callback and the speaker: the lowest that
    plays without underruns here (``benchmarks/call.py`` reports both), covering a
    callback delayed by the GIL (one switch interval, 5 ms) twice over."""


def list_output_devices() -> list[OutputDeviceInfo]:
    """Output devices PortAudio can see (empty when there are none or PortAudio is missing)."""
    try:
        import sounddevice as sd

        with PORTAUDIO_LOCK:
            devices = sd.query_devices()
        default_out = sd.default.device[1]
    except (OSError, ImportError) as exc:
        _log.warning("no audio output available: %s", type(exc).__name__)
        return []
    return [
        OutputDeviceInfo(
            index, str(info["name"]), index == default_out, float(info["default_samplerate"])
        )
        for index, info in enumerate(devices)
        if int(info["max_output_channels"]) > 0
    ]


class CallbackStats:
    """Callback durations in a preallocated ring, written from inside the callback."""

    def __init__(self, capacity: int = 1 << 18) -> None:
        self._durations = np.zeros(capacity, dtype=np.float64)
        self.count = 0

    def record(self, seconds: float) -> None:
        self._durations[self.count % len(self._durations)] = seconds
        self.count += 1

    def durations(self) -> np.ndarray:
        """A copy of the recorded durations (the most recent ``capacity``)."""
        n = min(self.count, len(self._durations))
        return self._durations[:n].copy()


OutputProbe = Callable[[np.ndarray, float], None]
"""Measurement hook: sees each block as written to the device, with the callback's
``perf_counter`` start. Benchmarks only; it runs inside the real-time callback."""


class OutputTap(Protocol):
    """Sees the final mix as it is played: the microphone's echo canceller, whose reverse
    stream must be exactly what the speakers play (``VoiceProcessing``)."""

    def played(self, block: np.ndarray) -> None:
        """Inside the real-time callback: copy ``block`` (frames, 2) and return."""

    def discontinuity(self) -> None:
        """The played stream jumped (underrun, device opened or switched); callback-safe."""

    def set_output_latency(self, seconds: float) -> None:
        """The device's output latency as PortAudio reports it."""


class DevicePace:
    """How long the callback waits so a device that does not keep time is fed no faster
    than real time.

    A sound card asks for a block each period. ALSA's null device (and a broken driver)
    asks again at once: measured here, 138,000 callbacks in 2 s instead of 200, the mixer
    holding the GIL four fifths of the time. The app's loop thread then starved: the
    call's socket fell seconds behind and dropped packets, and the other side was told
    the connection had dropped. A real device is never ``ahead_s`` ahead of the wall
    clock (that much would be waiting in its buffer), so it never waits here; an unpaced
    one waits out the excess after each block (``time.sleep`` lets go of the GIL).
    """

    def __init__(self, sample_rate: int, ahead_s: float = 1.0) -> None:
        self.sample_rate = sample_rate
        self.ahead_s = ahead_s
        self._origin: float | None = None
        self._frames = 0

    def wait_after(self, frames: int, now: float) -> float:
        """Seconds to wait after rendering ``frames`` more at ``now`` (0: keep going)."""
        if self._origin is None:
            self._origin = now
        self._frames += frames
        played_s = self._frames / self.sample_rate
        # A device that fell behind (a stall) owes nothing: no unpaced burst to catch up.
        self._origin = max(self._origin, now - played_s)
        return max(0.0, played_s - (now - self._origin) - self.ahead_s)


class DeviceUnavailable(Exception):
    """The output device could not be opened; ``reason`` is plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutputDevice:
    """A started stream on one device. ``lost`` turns True if it stops by itself."""

    def __init__(
        self,
        render: Callable[[np.ndarray, bool], None],
        sample_rate: int,
        options: DeviceOptions,
        device: int | str | None,
        stats: CallbackStats,
        probe: OutputProbe | None = None,
    ) -> None:
        import sounddevice as sd

        self._render = render
        self.stats = stats
        self._probe = probe
        self.underflows = 0
        self._closing = False
        self._finished = False
        self._perf = time.perf_counter
        self._pace = DevicePace(sample_rate)
        with PORTAUDIO_LOCK:
            try:
                self._stream: Any = sd.RawOutputStream(
                    samplerate=sample_rate,
                    blocksize=options.block_frames,
                    channels=2,
                    dtype="float32",
                    device=device,
                    callback=self._callback,
                    finished_callback=self._on_finished,
                    latency=options.latency_s,
                )
            except (sd.PortAudioError, ValueError) as exc:
                raise DeviceUnavailable(
                    f"the output device could not be opened ({type(exc).__name__})"
                ) from exc
            self.latency_s = float(self._stream.latency)
            """What PortAudio reports between the callback and the speaker."""
            info = sd.query_devices(self._stream.device)
            self.info = OutputDeviceInfo(
                int(self._stream.device),
                str(info["name"]),
                int(self._stream.device) == sd.default.device[1],
                float(info["default_samplerate"]),
                float(self._stream.latency),
            )
            try:
                self._stream.start()
            except sd.PortAudioError as exc:
                self._stream.close(ignore_errors=True)
                raise DeviceUnavailable(
                    f"the output device could not start ({type(exc).__name__})"
                ) from exc

    @property
    def lost(self) -> bool:
        """True when the stream ended without ``close`` (device unplugged or failed)."""
        if self._closing:
            return False
        return self._finished or not self._stream.active

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            with PORTAUDIO_LOCK:
                self._stream.close(ignore_errors=True)
        except OSError as exc:
            _log.warning("closing the output stream failed: %s", type(exc).__name__)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        start = self._perf()
        underflow = bool(status.output_underflow)
        if underflow:
            self.underflows += 1
        # A view of PortAudio's buffer: the mixer writes straight into it.
        block = np.frombuffer(outdata, dtype=np.float32).reshape(frames, 2)
        self._render(block, underflow)
        if self._probe is not None:
            self._probe(block, start)
        end = self._perf()
        self.stats.record(end - start)
        wait = self._pace.wait_after(frames, end)
        if wait > 0:
            time.sleep(wait)

    def _on_finished(self) -> None:
        self._finished = True
