"""The call's voice playout: our own jitter buffer, in place of aiortc's for audio.

Sans-I/O: ``put`` takes RTP packets as they arrive (any order), ``service`` writes decoded
audio into a ``PlayoutSink`` (the device side) and says when it wants to run again. The
clock is the caller's, so the same code runs in a call (``receiver.py``, on its own
thread) and in a simulated network with simulated clocks (``benchmarks/playout.py``).

How it keeps the voice continuous and live:

* Packets are decoded in sequence order as soon as their turn comes. A hole in the
  sequence waits until the device is about to need audio it does not have; only then is
  it filled: from the next packet's in-band FEC when that packet is here, else by libopus
  packet-loss concealment. With nothing at all to play (a late burst, a cut) concealment
  stretches what was heard ("expand"), then fades into silence; when packets come back
  the timeline skips the frames the expansion stood in for, so playout resumes at once.
* For every decoded packet the *slack* is measured: how long before the device reads its
  first sample it arrived. That is the packet's jitter-buffer delay. A low percentile of
  the slack over a sliding window says how close the latest packets come to arriving too
  late; the target keeps that percentile at ``guard_s``. So the delay follows the
  measured jitter (a high percentile of lateness) down to a floor of one guard on a
  clean link. Lateness older than half a second is forgotten gradually, so a single
  late burst (a stalled sender) does not keep the delay up for the whole window; and
  packets that come after their turn count as late, not lost.
* The delay moves toward the target by time-stretching (``companion.audio.stretch``): a
  pitch period removed ("accelerate") or repeated ("preemptive expand") at most every few
  frames, a few percent of speed. The same mechanism absorbs two clocks' drift: nothing
  is ever dropped and no hole is ever left.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from companion.audio.stretch import OVERLAP, Splice, accelerate, expand, find_splice
from companion.call.opus import FRAME, RATE, OpusDecoder

_LOSS_SMOOTHING = 0.01
_SHORT_LAG = 360
"""7.5 ms: the shortest range of periods an expansion searches first."""


class PlayoutSink(Protocol):
    """Where decoded audio goes: a buffer the output device reads in fixed blocks."""

    @property
    def queued(self) -> int:
        """Frames written and not yet read by the device."""

    @property
    def block(self) -> int:
        """Frames the device reads at once."""

    def next_read(self, now: float) -> float:
        """When (on the playout's clock) the device next reads a block; earlier than
        ``now`` if reads are overdue (the device model has not caught up yet)."""

    def write(self, samples: np.ndarray) -> None:
        """Mono float32 at 48 kHz, copied (the playout reuses the array); must not block."""


@dataclass(frozen=True)
class PlayoutOptions:
    guard_s: float = 0.004
    """Slack kept before a deadline: how early a packet (or concealment) must be ready
    before the device reads it. Covers the playout thread's wake-up latency."""
    expand_below_s: float = 0.002
    """A low slack closer than this to ``guard_s`` lengthens the delay (preemptively:
    before a packet actually misses its deadline)."""
    accelerate_above_s: float = 0.008
    """The low slack may exceed ``guard_s`` by this much before the delay is cut (never
    by so much that it would fall under ``expand_below_s``)."""
    window: int = 150
    """Decoded packets (~3 s) over which the slack's low percentile is taken."""
    low_percentile: float = 3.0
    """The slack percentile held at ``guard_s``: 97 % of packets arrive in time."""
    remember_s: float = 0.5
    forget_per_s: float = 0.1
    """A slack measured more than ``remember_s`` ago counts as this much more for each
    second beyond: the delay a late burst asked for comes back down at this rate (from
    60 ms within about 1 s) instead of being held for the whole window, while the
    steady jitter of the last ``remember_s`` is still covered."""
    fec_above_loss: float = 0.01
    """Above this packet loss (recent average), one packet more is held, so that a lost
    frame's FEC copy (in the next packet) is usually here in time to be used."""
    stretch_every: int = 5
    """Frames between two time-stretches (a period of <= 12.5 ms per 100 ms at most)."""
    far_s: float = 0.06
    """Beyond this much excess delay, stretch every frame."""
    expand_fade_s: float = 0.06
    """Concealment with nothing to play lasts this long, then silence until packets."""
    start_delay_s: float = 0.004
    """Silence written ahead of the first packet (and after a silence)."""
    max_queued_s: float = 0.5
    """Nothing is written while the sink holds this much (no device is reading)."""


@dataclass
class PlayoutStats:
    """Counters in the spirit of WebRTC ``getStats``' inbound-rtp audio fields.
    ``Playout.stats`` hands out a copy: change nothing in it."""

    packets_received: int = 0
    packets_late: int = 0
    """Arrived after their frame had been concealed (discarded, not played)."""
    packets_duplicate: int = 0
    samples_emitted: int = 0
    """``jitterBufferEmittedCount``: decoded samples played, by packet arrival."""
    jitter_buffer_delay_s: float = 0.0
    """``jitterBufferDelay``: sum over those samples of arrival -> read by the device."""
    concealed_samples: int = 0
    """Samples made up by concealment (PLC), not decoded from a packet."""
    silent_concealed_samples: int = 0
    """Concealed samples that were silence (nothing to play for a while)."""
    concealment_events: int = 0
    fec_samples: int = 0
    """Samples recovered from the next packet's in-band FEC."""
    inserted_samples_for_deceleration: int = 0
    removed_samples_for_acceleration: int = 0
    accelerate_count: int = 0
    expand_count: int = 0
    """Preemptive expansions (time-stretch), not concealment."""
    total_samples: int = 0
    """Everything written to the sink."""
    delay_ms: float = 0.0
    """Jitter-buffer delay of the last decoded packet."""
    target_delay_ms: float = 0.0
    """The delay the controller steers toward."""
    jitter_ms: float = 0.0
    """Arrival jitter: high percentile minus minimum of the relative transit time."""

    @property
    def mean_delay_ms(self) -> float:
        if self.samples_emitted == 0:
            return 0.0
        return 1000.0 * self.jitter_buffer_delay_s / self.samples_emitted


@dataclass
class _Packet:
    seq: int
    timestamp: int
    payload: bytes
    arrival: float


def _unwrap(value: int, reference: int | None, bits: int) -> int:
    """``value`` (mod 2**bits) extended to the integer nearest ``reference``."""
    if reference is None:
        return value
    span = 1 << bits
    return reference + ((value - reference + span // 2) % span) - span // 2


class Playout:
    """One incoming Opus stream (mono out). Not thread-safe: ``put`` and ``service`` must
    be called from one thread (``receiver.py`` hands packets over through a queue)."""

    def __init__(self, options: PlayoutOptions | None = None) -> None:
        self.options = options or PlayoutOptions()
        self._decoder = OpusDecoder()
        self._store: dict[int, _Packet] = {}
        self._next_seq: int | None = None
        self._last_seq: int | None = None
        self._last_ts: int | None = None
        self._waited = 0
        """Samples expanded while nothing was there to play (not yet skipped back)."""
        self._silent = True
        """Writing nothing but silence (before the first packet, or after a long cut)."""
        self._since_stretch = 0
        self._slack: deque[float] = deque(maxlen=self.options.window)
        # What each slack (oldest first, a packet apart) gains with its age.
        opts = self.options
        ages = (np.arange(opts.window, 0, -1) - 1) * FRAME / RATE
        self._aging = np.maximum(0.0, ages - opts.remember_s) * opts.forget_per_s
        self._transit: deque[float] = deque(maxlen=self.options.window)
        self._stats = PlayoutStats()
        self._last_low = 0.0
        self._played = 0
        self._loss = 0.0
        """Recent packet loss (exponential average over ~100 packets)."""

    @property
    def stats(self) -> PlayoutStats:
        """A snapshot, with the target delay and jitter worked out now."""
        return replace(
            self._stats, target_delay_ms=self._target_delay_ms(), jitter_ms=self._jitter_ms()
        )

    @property
    def delay_ms(self) -> float:
        """Jitter-buffer delay of the last packet played (cheap, unlike ``stats``)."""
        return self._stats.delay_ms

    @property
    def packets_played(self) -> int:
        return self._played

    def close(self) -> None:
        self._decoder.close()

    # -- packets in ------------------------------------------------------------------------

    def put(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        """One RTP packet (16-bit sequence number, 32-bit timestamp) as it arrived."""
        seq = _unwrap(seq, self._last_seq, 16)
        timestamp = _unwrap(timestamp, self._last_ts, 32)
        if self._last_seq is None or seq > self._last_seq:
            self._last_seq, self._last_ts = seq, timestamp
        self._stats.packets_received += 1
        if self._next_seq is not None and seq < self._next_seq:
            self._stats.packets_late += 1
            # Counted as lost when its turn passed; it was only late (a stalled sender, a
            # queue), which holding one more packet for FEC would not help.
            self._uncount_lost()
            return
        if seq in self._store:
            self._stats.packets_duplicate += 1
            return
        if not payload:
            return
        self._store[seq] = _Packet(seq, timestamp, payload, now)
        self._transit.append(now - timestamp / RATE)

    # -- audio out -------------------------------------------------------------------------

    def service(self, now: float, sink: PlayoutSink) -> float:
        """Decode, conceal and stretch into ``sink`` as far as ``now`` allows; returns
        when to be called again at the latest (sooner if a packet arrives)."""
        limit = int(self.options.max_queued_s * RATE)
        while sink.queued < limit:
            seq = self._next_seq
            if seq is None:
                if not self._store:
                    return math.inf
                seq = self._start(min(self._store), sink)
            packet = self._store.pop(seq, None) or self._skip_to_store()
            if packet is not None:
                self._play(packet, now, sink)
                continue
            # A hole: wait for it until the device is about to read what we do not have.
            guard, period = self.options.guard_s, sink.block / RATE
            deadline = sink.next_read(now)  # may be past, when we woke late
            covered = sink.queued // sink.block  # reads from ``deadline`` on
            first_uncovered = deadline + covered * period
            if first_uncovered - now > guard:
                return first_uncovered - guard
            if self._store:
                self._conceal_lost(sink)
            else:
                self._conceal(sink)
        return sink.next_read(now)

    def _start(self, seq: int, sink: PlayoutSink) -> int:
        self._next_seq = seq
        sink.write(np.zeros(int(self.options.start_delay_s * RATE), dtype=np.float32))
        return seq

    def _skip_to_store(self) -> _Packet | None:
        """``_next_seq`` is missing and later packets may be here. Frames that expansion
        already stood in for (while nothing came) are skipped, so playout resumes with the
        first packet back rather than concealing the whole gap after the fact."""
        if not self._store or self._next_seq is None:
            return None
        first = min(self._store)
        skip = min(first - self._next_seq, self._waited // FRAME)
        if skip > 0:
            self._count_lost(skip)
            self._next_seq += skip
            self._waited -= skip * FRAME
            self._shift_slack(-skip * FRAME)
        return self._store.pop(first) if self._next_seq == first else None

    def _play(self, packet: _Packet, now: float, sink: PlayoutSink) -> None:
        assert self._next_seq is not None
        self._next_seq = packet.seq + 1
        if self._silent:
            self._silent = False
            self._waited = 0
        pcm = self._decoder.decode(packet.payload)
        # When the device reads this packet's first sample, and how early the packet was
        # for that read: its jitter-buffer delay.
        queued, block, next_read = sink.queued, sink.block, sink.next_read(now)
        slack = next_read + (queued // block) * block / RATE - packet.arrival
        # The same margin as if the device drained continuously: up to a block less, but
        # it moves by exactly what a stretch adds or removes (the whole-block figure
        # jumps a block at a time), so it is what the delay control steers.
        self._slack.append(next_read + (queued - block) / RATE - packet.arrival)
        self._waited = 0
        self._loss -= self._loss * _LOSS_SMOOTHING
        out = self._stretch(pcm)
        st = self._stats
        st.samples_emitted += len(pcm)
        st.jitter_buffer_delay_s += slack * len(pcm)
        st.total_samples += len(out)
        st.delay_ms = slack * 1000
        self._played += 1
        sink.write(out)

    def _conceal_lost(self, sink: PlayoutSink) -> None:
        """The frame at ``_next_seq`` is lost: FEC from the next packet, else PLC."""
        assert self._next_seq is not None
        following = self._store.get(self._next_seq + 1)
        if following is not None:
            pcm = self._decoder.decode_fec(following.payload)
            self._stats.fec_samples += len(pcm)
        else:
            pcm = self._decoder.conceal()
            self._stats.concealed_samples += len(pcm)
            self._stats.concealment_events += 1
        self._stats.total_samples += len(pcm)
        self._count_lost(1)
        self._next_seq += 1
        sink.write(pcm)

    def _conceal(self, sink: PlayoutSink) -> None:
        """Nothing to play and the device is about to read: expand what was heard, then
        fade to silence. The timeline waits for the packet (it may only be late)."""
        if self._silent or self._waited >= int(self.options.expand_fade_s * RATE):
            pcm = np.zeros(FRAME, dtype=np.float32)
            if not self._silent:
                self._silent = True
                self._since_stretch = 0
            self._stats.silent_concealed_samples += FRAME
        else:
            pcm = self._decoder.conceal()
            self._stats.concealment_events += 1 if self._waited == 0 else 0
        self._waited += FRAME
        self._shift_slack(FRAME)
        self._stats.concealed_samples += FRAME
        self._stats.total_samples += FRAME
        sink.write(pcm)

    # -- delay control ---------------------------------------------------------------------

    def _low_slack(self) -> float | None:
        if len(self._slack) < 10:
            return None
        slack = np.fromiter(self._slack, float)
        slack += self._aging[len(self._aging) - len(slack) :]
        return float(np.percentile(slack, self.options.low_percentile))

    def _target_delay_ms(self) -> float:
        low = self._low_slack()
        if low is None or not self._slack:
            return 0.0
        mean = float(np.mean(np.fromiter(self._slack, float)))
        opts = self.options
        aim = self._floor() + (opts.expand_below_s + opts.accelerate_above_s) / 2
        return 1000.0 * (mean - low + aim)

    def _floor(self) -> float:
        """The slack the low percentile is held at: the guard, plus a packet under loss."""
        fec = FRAME / RATE if self._loss > self.options.fec_above_loss else 0.0
        return self.options.guard_s + fec

    def _count_lost(self, frames: int) -> None:
        for _ in range(frames):
            self._loss += (1.0 - self._loss) * _LOSS_SMOOTHING

    def _uncount_lost(self) -> None:
        """Undo one ``_count_lost(1)``."""
        self._loss = max(0.0, (self._loss - _LOSS_SMOOTHING) / (1.0 - _LOSS_SMOOTHING))

    def _jitter_ms(self) -> float:
        if len(self._transit) < 2:
            return 0.0
        transit = np.fromiter(self._transit, float)
        return 1000.0 * float(np.percentile(transit, 97) - transit.min())

    def _shift_slack(self, samples: int) -> None:
        """The playout timeline moved by ``samples``: so did every measured slack."""
        if self._slack:
            shift = samples / RATE
            self._slack = deque((s + shift for s in self._slack), maxlen=self.options.window)
            self._last_low += shift

    def _stretch(self, pcm: np.ndarray) -> np.ndarray:
        self._since_stretch += 1
        opts = self.options
        far = self._last_low - self._floor() > opts.far_s
        if self._since_stretch < opts.stretch_every and not far:
            return pcm
        low = self._low_slack()
        if low is None:
            return pcm
        self._last_low = low
        excess = low - self._floor()
        if excess > opts.accelerate_above_s:
            spare = excess - opts.expand_below_s - 0.001
            splice = find_splice(pcm, max_lag=int(spare * RATE))
            if splice is not None:
                return self._stretched(accelerate(pcm, splice), splice, faster=True)
        elif excess < opts.expand_below_s:
            # Prefer a period that does not overshoot into accelerating it away again.
            short = int((opts.accelerate_above_s - excess) * RATE)
            splice = find_splice(pcm, max_lag=max(short, _SHORT_LAG)) or find_splice(pcm)
            if splice is not None:
                return self._stretched(expand(pcm, splice), splice, faster=False)
        return pcm

    def _stretched(self, out: np.ndarray, splice: Splice, *, faster: bool) -> np.ndarray:
        self._since_stretch = 0
        if faster:
            self._stats.accelerate_count += 1
            self._stats.removed_samples_for_acceleration += splice.lag
            self._shift_slack(-splice.lag)
        else:
            self._stats.expand_count += 1
            self._stats.inserted_samples_for_deceleration += splice.lag
            self._shift_slack(splice.lag)
        return out


__all__ = ["OVERLAP", "Playout", "PlayoutOptions", "PlayoutSink", "PlayoutStats"]
