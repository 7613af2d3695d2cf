"""The seam between aiortc and our playout: the call's audio RTP, taken before aiortc's
jitter buffer, played out by ``Playout`` on a thread of its own.

aiortc's audio ``RTCRtpReceiver`` keeps doing what it does well (SRTP, RTCP reports, the
inbound statistics); only its jitter buffer is swapped for ``_PacketTap``, which hands
every packet over and gives aiortc's own decoder nothing. Video is untouched.

``put`` runs on the event loop and only appends to a deque and sets an event. Decoding,
concealment and time-stretching run on the ``voice-playout`` thread, which writes into the
audio engine's voice (read by the PortAudio callback, which never waits and allocates
nothing), or, for an output that only takes pushes, into a ``BlockSink`` that hands the
output one block per device period on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from companion.audio.ring import AudioRing
from companion.call.opus import FRAME, RATE
from companion.call.playout import Playout, PlayoutOptions, PlayoutStats

_log = logging.getLogger(__name__)

_STATS_EVERY_S = 0.25


class VoiceOutput(Protocol):
    """The audio engine's input for the therapist's (or patient's) voice."""

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Mono float32 samples in [-1, 1]; must not block."""


@runtime_checkable
class DeviceVoice(VoiceOutput, Protocol):
    """A voice read by an output device, which says how far it has read
    (``companion.audio.VoiceSource``)."""

    @property
    def queued_frames(self) -> int: ...

    @property
    def block_frames(self) -> int: ...

    @property
    def last_read_at(self) -> float | None:
        """``time.monotonic()`` of the device's last read, None before the first."""


class VoiceSink:
    """``PlayoutSink`` over the engine's voice: the real device's reads pace the playout."""

    def __init__(self, voice: DeviceVoice) -> None:
        self._voice = voice
        self.block = voice.block_frames
        self._period = self.block / RATE

    @property
    def queued(self) -> int:
        return self._voice.queued_frames

    def next_read(self, now: float) -> float:
        last = self._voice.last_read_at
        if last is None:
            return now  # no device reads yet: keep a block ready
        periods = max(1, math.ceil((now - last) / self._period))
        return last + periods * self._period

    def write(self, samples: np.ndarray) -> None:
        self._voice.push(samples, RATE)


class BlockSink:
    """A device model: reads ``block`` frames every ``period_s`` of the given clock from
    its ring (silence where the ring runs short), handing each block to ``deliver``.
    ``advance(now)`` performs the reads due by ``now``."""

    def __init__(
        self,
        start: float,
        deliver: Callable[[np.ndarray], None],
        block: int = FRAME,
        period_s: float | None = None,
        capacity_s: float = 2.0,
    ) -> None:
        self.block = block
        self.period_s = block / RATE if period_s is None else period_s
        self.underruns = 0
        """Reads that found less than a block."""
        self.dropped = 0
        """Frames written beyond the ring's capacity (lost)."""
        self._deliver = deliver
        self._ring = AudioRing(int(capacity_s * RATE), 1)
        self._next = start + self.period_s
        self._reads = 0
        self._start = start
        self.read_at = start
        """When the block being delivered was read."""

    @property
    def queued(self) -> int:
        return self._ring.available

    def next_read(self, now: float) -> float:
        return self._next

    def write(self, samples: np.ndarray) -> None:
        self.dropped += len(samples) - self._ring.write(samples)

    def advance(self, now: float) -> int:
        """Perform the reads due by ``now``; returns how many."""
        done = 0
        while self._next <= now:
            block = np.zeros(self.block, dtype=np.float32)
            if self._ring.read_into(block) < self.block and self._reads > 0:
                self.underruns += 1
            self.read_at = self._next
            self._reads += 1
            self._next = self._start + (self._reads + 1) * self.period_s
            self._deliver(block)
            done += 1
        return done


class _PacketTap:
    """Stands in for aiortc's audio ``JitterBuffer``: passes each packet on, returns
    no frame, so aiortc's decoder stays idle."""

    def __init__(self, put: Callable[[int, int, bytes], None]) -> None:
        self._put = put
        self.capacity = 16

    def add(self, packet: Any) -> tuple[bool, None]:
        self._put(packet.sequence_number, packet.timestamp, bytes(packet.payload))
        return False, None


def tap_audio_receiver(receiver: Any, put: Callable[[int, int, bytes], None]) -> None:
    """Route ``receiver``'s RTP to ``put`` instead of aiortc's jitter buffer + decoder."""
    name = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, name):
        raise RuntimeError("this aiortc has no audio jitter buffer to replace")
    setattr(receiver, name, _PacketTap(put))


class VoiceReceiver:
    """One connection's incoming voice: packets in (``put``, on the loop), audio out on
    the ``voice-playout`` thread. ``close`` is safe twice."""

    def __init__(self, output: VoiceOutput, options: PlayoutOptions | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._inbox: deque[tuple[int, int, bytes, float]] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._playout = Playout(options)
        self._stats = self._playout.stats
        self._block_sink: BlockSink | None = None
        self.rounds = 0
        """How many times the playout thread has woken so far: a few dozen a second, and
        a thread that spins shows here (it once made 400,000 a second)."""
        if isinstance(output, DeviceVoice):
            self._sink: VoiceSink | BlockSink = VoiceSink(output)
        else:
            # No device reads it (a test's collector, a recorder): blocks on the wall clock,
            # handed over on the loop like any other media callback.
            def deliver(block: np.ndarray) -> None:
                self._loop.call_soon_threadsafe(output.push, block, RATE)

            self._block_sink = BlockSink(time.monotonic(), deliver)
            self._sink = self._block_sink
        self._thread = threading.Thread(target=self._run, name="voice-playout", daemon=True)
        self._thread.start()

    def put(self, seq: int, timestamp: int, payload: bytes) -> None:
        """One RTP packet, as it arrives (event loop; cheap)."""
        self._inbox.append((seq, timestamp, payload, time.monotonic()))
        self._wake.set()

    @property
    def delay_ms(self) -> float:
        """Jitter-buffer delay of the last packet played, live (one float read)."""
        return self._playout.delay_ms

    @property
    def stats(self) -> PlayoutStats:
        """The playout's figures as of its last round (about every device period)."""
        return self._stats

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=2.0)
        self._playout.close()

    def _run(self) -> None:
        playout, sink, inbox = self._playout, self._sink, self._inbox
        wake_at = math.inf
        next_stats = 0.0
        try:
            while not self._closed:
                timeout = min(0.1, max(0.0, wake_at - time.monotonic()))
                self._wake.wait(timeout)
                self._wake.clear()
                now = time.monotonic()
                self.rounds += 1
                while inbox:
                    seq, ts, payload, arrived = inbox.popleft()
                    playout.put(seq, ts, payload, arrived)
                wake_at = playout.service(now, sink)
                if self._block_sink is not None and self._block_sink.advance(now):
                    # Woken late, reads were due: what they left is worked out afresh.
                    wake_at = playout.service(now, sink)
                if self._block_sink is not None:
                    wake_at = min(wake_at, self._block_sink.next_read(now))
                if wake_at <= now:
                    # Only a full sink is due at once, and one no device reads (none
                    # opened yet, or one being retried) stays so: look again a device
                    # period later. Spinning here took the GIL from the event loop.
                    wake_at = now + sink.block / RATE
                if now >= next_stats:
                    self._stats = playout.stats  # a snapshot: the loop reads it, not the playout
                    next_stats = now + _STATS_EVERY_S
        except Exception:
            _log.exception("voice playout stopped")
