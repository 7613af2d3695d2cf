"""The microphone's voice processing: libwebrtc's echo canceller (AEC3), noise suppression,
high-pass filter and (as a setting) automatic gain, through ``livekit``'s
``AudioProcessingModule`` — what a browser does to a call's microphone.

One ``VoiceProcessing`` per call, shared by every microphone the call uses in turn:

- the microphone's PortAudio callback ``capture``s each block (any size) into a ring;
- the audio engine's output callback hands it the **final mix** as played (``played``):
  the therapist's voice, music, chimes and spoken lines — everything the microphone may
  hear back from the speakers is the reverse stream;
- a worker thread, ``voice-processing``, sleeps until the microphone has brought enough
  for the next 20 ms the call sends, takes whole 10 ms frames from both rings (leftovers
  wait for the next block: any other frame size aborts the whole process inside the
  module), feeds the reverse frames that are due, processes the capture frames, and hands
  20 ms frames to ``sink``. Neither callback does more than copy into a preallocated ring
  (no lock, no wait, no buffer allocated) and, for the microphone, drop a token in a
  ``SimpleQueue`` to wake the worker (its ``put`` never blocks); nothing here runs on the
  event loop.

A device switch, an output underrun or a new microphone changes the echo path at once;
those are ``discontinuity``s: the delay hint is sent again and AEC3's own delay estimator
finds the new alignment (faster, measured, than a fresh module would converge). Echo
cancellation has no off switch: with headphones there is no echo path and, once AEC3 has
noticed that, the voice passes untouched.

Without the module (a platform with no wheel) the microphone passes through unprocessed and
``active`` says so; the self-test and the device check show it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from companion.audio.ratelimit import RateLimitedLog
from companion.audio.ring import AudioRing

_log = logging.getLogger(__name__)
_limited = RateLimitedLog(_log)

RATE = 48_000
FRAME = RATE // 100
"""10 ms: the only frame size the module accepts."""
OUT_FRAMES = 2 * FRAME
"""20 ms: what the call's Opus sender gets, as the raw microphone gave it before."""
STEP = 2
"""Frames per call into the module (it takes any whole number of 10 ms frames): 20 ms
halves the per-call cost, and is what a 20 ms device block brings anyway. Larger calls
(a pass's whole backlog) measured 1–2 dB less echo cancelled, 6 dB less in the first
second at 330 ms: the reverse and capture streams then alternate too coarsely."""
MAX_DELAY_MS = 500
"""``set_stream_delay_ms`` raises above this (and AEC3 finds no echo later than this)."""
HELD_DELAY_MS = 300
"""The delay the module is left with when the devices' latency exceeds MAX_DELAY_MS."""
IDLE_WAKE_S = 0.25
"""With no microphone feeding, the worker still wakes this often (stale reverse audio)."""


@dataclass(frozen=True)
class ProcessingSettings:
    """What a person may change (echo cancellation is not among them: always on)."""

    noise_suppression: bool = True
    """Fans, traffic, a room's hiss: suppressed."""
    auto_gain: bool = False
    """libwebrtc's AGC2: helps a quiet voice but lifts the noise floor in silence, so it is
    off for the patient and an option for the therapist."""

    @staticmethod
    def for_role(role: str) -> ProcessingSettings:
        """The defaults: noise suppression on, automatic gain off (an option for the
        therapist, whose voice the patient must hear well)."""
        return ProcessingSettings(noise_suppression=True, auto_gain=False)

    def describe(self, active: bool) -> str:
        """One plain sentence for the device check and the self-test."""
        if not active:
            return "Echo cancellation is not available on this computer: use headphones."
        parts = ["echo cancellation on"]
        parts.append("noise suppression " + ("on" if self.noise_suppression else "off"))
        parts.append("automatic gain " + ("on" if self.auto_gain else "off"))
        text = ", ".join(parts)
        return text[0].upper() + text[1:] + "."


def _new_module(settings: ProcessingSettings) -> Any | None:
    try:
        from livekit.rtc import AudioProcessingModule
    except ImportError as exc:  # no wheel for this platform
        _log.warning("voice processing unavailable: %s", type(exc).__name__)
        return None
    try:
        return AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=settings.noise_suppression,
            high_pass_filter=True,
            auto_gain_control=settings.auto_gain,
        )
    except (OSError, RuntimeError) as exc:
        _log.warning("voice processing could not start: %s", type(exc).__name__)
        return None


class _Frame:
    """A preallocated int16 buffer of ``frames`` x 10 ms, the module's frame type around it
    (a buffer of its own: the module would copy a slice and process the copy)."""

    def __init__(self, frames: int) -> None:
        from livekit.rtc import AudioFrame

        self.data = bytearray(frames * FRAME * 2)
        self.pcm = np.frombuffer(self.data, dtype=np.int16)
        self.frame = AudioFrame(self.data, RATE, 1, frames * FRAME)


def _frames() -> dict[int, _Frame]:
    return {n: _Frame(n) for n in range(1, STEP + 1)}


class _DirectCalls:
    """The module's two per-frame requests, serialized once per buffer (the buffers never
    move, so the requests never change) and sent straight to livekit's FFI library, as its
    own methods send them. Those build, serialize and parse a protobuf at every call:
    measured with the caches cold, as after every sleep of the worker, 120 µs of a
    330–480 µs pass. Built from livekit's internals, so ``build`` gives None on a livekit
    it does not fit and the public methods serve (a test checks this one is in use)."""

    def __init__(self, lib: Any, requests: dict[tuple[bool, int], Any], response: Any) -> None:
        self._send = lib.livekit_ffi_request
        self._drop = lib.livekit_ffi_drop_handle
        self._requests = requests
        """``(reverse, frames)``: the request, as a ctypes byte array."""
        self._response = response
        self._reply = ctypes.POINTER(ctypes.c_ubyte)()
        self._reply_len = ctypes.c_size_t()
        self._reply_refs = (ctypes.byref(self._reply), ctypes.byref(self._reply_len))
        self._ok_len: dict[bool, int] = {}
        """The length of a reply without an error, once seen (an error makes it longer)."""

    @staticmethod
    def build(module: Any, near: dict[int, _Frame], far: dict[int, _Frame]) -> _DirectCalls | None:
        try:
            from livekit.rtc._ffi_client import FfiClient
            from livekit.rtc._proto import ffi_pb2
            from livekit.rtc._utils import get_address

            lib = FfiClient.instance._ffi_lib
            handle = module._ffi_handle.handle
            requests: dict[tuple[bool, int], Any] = {}
            for reverse, frames in ((False, near), (True, far)):
                for n, frame in frames.items():
                    request = ffi_pb2.FfiRequest()
                    body = (
                        request.apm_process_reverse_stream
                        if reverse
                        else request.apm_process_stream
                    )
                    body.apm_handle = handle
                    body.data_ptr = get_address(frame.data)
                    body.size = len(frame.data)
                    body.sample_rate = RATE
                    body.num_channels = 1
                    data = request.SerializeToString()
                    requests[(reverse, n)] = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
            return _DirectCalls(lib, requests, ffi_pb2.FfiResponse)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:
            _log.info("voice processing through livekit's methods: %s", type(exc).__name__)
            return None

    def process(self, reverse: bool, frames: int) -> None:
        """``process_reverse_stream`` (``reverse``) or ``process_stream`` on the buffer of
        ``frames`` x 10 ms; raises RuntimeError as they do."""
        request = self._requests[(reverse, frames)]
        handle = self._send(request, len(request), *self._reply_refs)
        if handle == 0:
            raise RuntimeError("request refused")
        try:
            length = self._reply_len.value
            if length != self._ok_len.get(reverse):
                reply = self._response()
                reply.ParseFromString(ctypes.string_at(self._reply, length))
                body = reply.apm_process_reverse_stream if reverse else reply.apm_process_stream
                if body.error:
                    raise RuntimeError(body.error)
                self._ok_len[reverse] = length
        finally:
            self._drop(handle)


class VoiceProcessing:
    """Start with ``start()`` (or drive ``process_pending`` yourself); ``close()`` is safe
    twice. ``capture`` and ``played`` are for real-time callbacks; the rest for any thread."""

    def __init__(
        self,
        settings: ProcessingSettings | None = None,
        *,
        capture_ring_s: float = 0.5,
        reverse_ring_s: float = 1.0,
        restart_on_break: bool = False,
        direct_calls: bool = True,
        capture_idle_s: float = 0.25,
    ) -> None:
        """``restart_on_break``: start the module afresh at every ``discontinuity``.
        Measured (benchmarks/echo.py, +200 ms underrun): AEC3 finds the new delay by itself
        in about 0.8 s, while a fresh module needs 2.4 s of far speech, so off."""
        self.settings = settings or ProcessingSettings()
        self.sink: Callable[[np.ndarray], None] | None = None
        """Gets each processed 20 ms block (int16, a fresh array) on the worker thread."""
        self._module = _new_module(self.settings)
        self._available = self._module is not None
        self._capture = AudioRing(int(capture_ring_s * RATE), 1, np.int16)
        self._reverse = AudioRing(int(reverse_ring_s * RATE), 2)
        self._restart_on_break = restart_on_break
        self.direct_calls = direct_calls
        """Frames reach the module through ``_DirectCalls`` (False: livekit's methods)."""
        # Worker-side buffers, preallocated.
        self._near = _frames() if self._available else {}
        self._far = _frames() if self._available else {}
        self._direct = self._direct_calls()
        self._capture_buf = np.zeros(STEP * FRAME, dtype=np.int16)  # without the module
        self._reverse_buf = np.zeros((STEP * FRAME, 2), dtype=np.float32)
        self._far_mono = np.zeros(STEP * FRAME, dtype=np.float32)
        self._downmix = np.array([16383.5, 16383.5], dtype=np.float32)
        self._out = np.zeros(OUT_FRAMES, dtype=np.int16)
        self._out_fill = 0
        # Set from callbacks and other threads, read by the worker.
        self._input_latency_s = 0.0
        self._output_latency_s = 0.0
        self._delay_ms = -1
        self._breaks = 0
        self._seen_breaks = 0
        self._settings_changed = False
        self._capture_idle_s = capture_idle_s
        self._last_capture = time.monotonic()
        self._lock = threading.Lock()  # the worker's step vs. close/settings, never callbacks
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._wake_sent = False
        """A token is in ``_wake`` that the worker has not taken yet (so one per pass)."""
        self._stop = False
        self._thread: threading.Thread | None = None
        self._closed = False
        # Counters, for tests, benchmarks and the self-test.
        self.frames_processed = 0
        self.reverse_frames = 0
        self.errors = 0
        self.resets = 0
        self.dropped_capture = 0
        self.blocks_out = 0
        self.worker_cpu_s = 0.0
        """CPU time of the worker thread since it started, its sleeps and wake-ups included
        (part of the benchmark's figure); final once ``close`` returned."""

    # -- state -----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Echo cancellation (and the rest) is running on the microphone."""
        return self._available and not self._closed

    @property
    def calls_directly(self) -> bool:
        """Frames reach the module through the direct calls now (not livekit's methods)."""
        return self._direct is not None

    @property
    def reverse_pending(self) -> int:
        """Played samples waiting to be matched against the microphone."""
        return self._reverse.available

    @property
    def delay_hint_ms(self) -> int:
        """The delay hint last given to the module (-1: none yet)."""
        return self._delay_ms

    def describe(self) -> str:
        return self.settings.describe(self._available)

    def update(self, settings: ProcessingSettings) -> None:
        """New settings; the module restarts with them at the next frame. Two plain
        assignments, so the UI's loop never waits for the worker's lock."""
        self.settings = settings
        self._settings_changed = True

    def set_input_latency(self, seconds: float) -> None:
        """The microphone's latency as PortAudio reports it (part of the delay hint)."""
        self._input_latency_s = max(0.0, seconds)

    def set_output_latency(self, seconds: float) -> None:
        self._output_latency_s = max(0.0, seconds)

    def discontinuity(self) -> None:
        """The echo path jumped (output underrun, device switch, another microphone).
        Callback-safe: only bumps a counter the worker reads."""
        self._breaks += 1

    # -- real-time side --------------------------------------------------------------------

    def capture(self, block: np.ndarray) -> None:
        """The microphone's block: mono int16, any length. Wakes the worker once enough
        is there to complete the next 20 ms block for the call."""
        written = self._capture.write(block)
        if written < len(block):
            self.dropped_capture += len(block) - written
        if not self._wake_sent and self._capture.available >= OUT_FRAMES - self._out_fill:
            self._wake_sent = True
            self._wake.put(None)

    def played(self, block: np.ndarray) -> None:
        """The output callback's final mix, ``(frames, 2)`` float32 in [-1, 1] (the mixer
        clips it)."""
        self._reverse.write(block)

    # -- worker ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(target=self._run, name="voice-processing", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop = True
        self._wake.put(None)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._module = self._direct = None

    def _run(self) -> None:
        # Woken by the microphone's callback when a 20 ms block can be completed (polling
        # every 10 ms measured half its passes idle and a frame's worth of extra latency),
        # and every IDLE_WAKE_S without a microphone.
        clock = time.thread_time
        started = clock()
        wake = self._wake
        while not self._stop:
            with contextlib.suppress(queue.Empty):
                wake.get(timeout=IDLE_WAKE_S)
            # Cleared before reading the ring: a block written from now on sends another.
            self._wake_sent = False
            while not self._stop and self.process_pending() and self._whole_block_waiting():
                pass  # the microphone ran ahead of a pass: catch up without a token
            self.worker_cpu_s = clock() - started
        self.worker_cpu_s = clock() - started

    def _whole_block_waiting(self) -> bool:
        return self._capture.available >= OUT_FRAMES - self._out_fill

    def process_pending(self) -> int:
        """Process every whole 10 ms frame waiting; returns how many. The worker's step
        (benchmarks call it directly to run faster than real time)."""
        with self._lock:
            if self._closed:
                return 0
            self._restart_if_needed()
            frames = self._capture.available // FRAME
            # The reverse frames that came meanwhile are spread over the capture frames, as
            # if both devices' callbacks had alternated.
            reverse = max(0, self._reverse.available - self._reverse_hold()) // FRAME
            done = fed = 0
            while done < frames:
                step = min(STEP, frames - done)
                done += step
                due = reverse * done // frames
                self._feed_reverse(due - fed)
                fed = due
                self._process_capture(step)
            if frames:
                self._last_capture = time.monotonic()
            else:
                self._idle_reverse()
            return frames

    def _restart_if_needed(self) -> None:
        breaks = self._breaks
        if breaks == self._seen_breaks and not self._settings_changed:
            return
        restart = self._settings_changed or self._restart_on_break
        self._seen_breaks = breaks
        self._settings_changed = False
        self._delay_ms = -1  # the hint again, with the new device's latencies
        if restart and self._available:
            module = _new_module(self.settings)
            if module is not None:
                self._module = module
                self._direct = self._direct_calls()
                self.resets += 1
                _log.info("voice processing restarted")

    def _direct_calls(self) -> _DirectCalls | None:
        if self._module is None or not self.direct_calls:
            return None
        return _DirectCalls.build(self._module, self._near, self._far)

    def _call(self, module: Any, reverse: bool, frame: _Frame, frames: int) -> None:
        direct = self._direct
        if direct is not None:
            direct.process(reverse, frames)
        elif reverse:
            module.process_reverse_stream(frame.frame)
        else:
            module.process_stream(frame.frame)

    def _idle_reverse(self) -> None:
        # No microphone feeding for a while (between two blocks is not a while: the output
        # runs its latency ahead): keep only the newest reverse audio, so a microphone that
        # starts later is not matched against a stale mix.
        if time.monotonic() - self._last_capture >= self._capture_idle_s:
            keep = 2 * FRAME
            if self._reverse.available > keep:
                self._reverse.skip(self._reverse.available - keep)

    def _feed_reverse(self, count: int) -> None:
        module = self._module
        while count > 0:
            step = min(STEP, count)
            count -= step
            n = step * FRAME
            stereo, mono = self._reverse_buf[:n], self._far_mono[:n]
            self._reverse.read_into(stereo)
            self.reverse_frames += step
            far = self._far.get(step)
            if module is None or far is None:
                continue
            # Mono at int16 scale: the mean of both channels x 32767, in one product. The
            # mix is clipped to [-1, 1] by the mixer, so it fits int16 as it is.
            np.matmul(stereo, self._downmix, out=mono)
            far.pcm[:] = mono
            try:
                self._call(module, True, far, step)
            except RuntimeError as exc:
                self.errors += 1
                _limited.warning("reverse stream rejected: %s", type(exc).__name__)

    def _process_capture(self, step: int) -> None:
        module, near = self._module, self._near.get(step)
        if module is None or near is None:  # unprocessed, as the microphone gave it
            result = self._capture_buf[: step * FRAME]
            self._capture.read_into(result)
        else:
            result = near.pcm  # straight from the ring into the module's buffer, in place
            self._capture.read_into(result)
            self._apply_delay_hint(module)
            try:
                self._call(module, False, near, step)
            except RuntimeError as exc:  # the frame goes on unprocessed
                self.errors += 1
                _limited.warning("voice processing failed on a frame: %s", type(exc).__name__)
        self.frames_processed += step
        pos = 0
        if self._out_fill == 0:  # whole 20 ms blocks straight from the module's buffer
            while len(result) - pos >= OUT_FRAMES:
                self._emit(result[pos : pos + OUT_FRAMES].copy())  # the buffer is reused
                pos += OUT_FRAMES
        while pos < len(result):
            n = min(len(result) - pos, OUT_FRAMES - self._out_fill)
            self._out[self._out_fill : self._out_fill + n] = result[pos : pos + n]
            self._out_fill += n
            pos += n
            if self._out_fill == OUT_FRAMES:
                self._out_fill = 0
                self._emit(self._out.copy())

    def _emit(self, block: np.ndarray) -> None:
        sink = self.sink
        if sink is not None:
            self.blocks_out += 1
            sink(block)

    def _latency_s(self) -> float:
        return self._input_latency_s + self._output_latency_s

    def _reverse_hold(self) -> int:
        """Samples of the reverse stream held back when the devices' latency is more than
        the module takes (a Bluetooth speaker), so that it sees HELD_DELAY_MS of it.
        Measured: an echo 580 ms late was cancelled by 3 dB with the hint at its 500 ms
        maximum (AEC3 looks no further), by 50 dB held back to 300 ms."""
        latency = self._latency_s()
        if latency * 1000 <= MAX_DELAY_MS:
            return 0
        return min(int((latency - HELD_DELAY_MS / 1000) * RATE), self._reverse.capacity // 2)

    def _apply_delay_hint(self, module: Any) -> None:
        delay = max(0, round(self._latency_s() * 1000))
        if delay > MAX_DELAY_MS:  # the rest is held back in the reverse ring
            delay = min(MAX_DELAY_MS, delay - round(self._reverse_hold() / RATE * 1000))
        if delay == self._delay_ms:
            return
        self._delay_ms = delay
        try:
            module.set_stream_delay_ms(delay)
        except RuntimeError as exc:
            self.errors += 1
            _limited.warning("delay hint %d ms refused: %s", delay, type(exc).__name__)

    def reset_capture(self) -> None:
        """A new microphone: its first block starts a fresh 20 ms frame."""
        with self._lock:
            self._capture.skip(self._capture.available)
            self._out_fill = 0
        self.discontinuity()
