"""A simulated network and two simulated clocks around the real playout.

Real Opus packets (the call's encoder, FEC on) go through ``companion.call.playout``
exactly as in a call, into a ``BlockSink`` that reads blocks the way the audio engine's
callback does. The sender's clock and the device's clock each run at their own rate; the
network adds a base delay, uniform jitter (which reorders packets once it exceeds 20 ms),
random loss, chosen drops and a burst. The voice is continuous (a gliding harmonic tone
with a syllable-like swell that never falls silent), so any silence heard is a gap.
Used by ``benchmarks/playout.py`` (hours of it) and ``tests/call/test_playout.py``.
"""

from __future__ import annotations

import fractions
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from companion.audio.device import DeviceOptions
from companion.call.opus import FRAME, RATE, FecOpusEncoder
from companion.call.playout import Playout, PlayoutOptions
from companion.call.receiver import BlockSink

LOOP_S = 10.0
"""The voice repeats every 10 s (periodic, so the loop has no seam)."""
SILENT_DB = -45.0
WINDOW = 48  # 1 ms


def voice_signal(seconds: float = LOOP_S) -> np.ndarray:
    """A gliding harmonic voice, 100-200 Hz, swelling 3 times a second, never silent."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 150.0 + 50.0 * np.sin(2 * np.pi * t / LOOP_S)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    return (0.2 * swell * tone).astype(np.float32)


def opus_packets() -> list[bytes]:
    """One 10 s loop of the voice as the call's encoder sends it."""
    encoder = FecOpusEncoder()
    source = np.tile(voice_signal(), 2)
    packets: list[bytes] = []
    for start in range(0, len(source), FRAME):
        pcm = (source[start : start + FRAME] * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, start
        frame.time_base = fractions.Fraction(1, RATE)
        packets += encoder.encode(frame)[0]
    per_loop = int(LOOP_S * RATE) // FRAME
    # The second loop: the encoder is warm and its content is exactly periodic.
    return packets[per_loop : 2 * per_loop]


@dataclass
class Scenario:
    seconds: float
    sender_ppm: float = 0.0
    device_ppm: float = 0.0
    base_delay_s: float = 0.005
    jitter_s: float = 0.001
    loss: float = 0.0
    burst_at_s: float | None = None
    burst_s: float = 0.3
    wake_latency_s: float = 0.001
    """The playout thread wakes up to this late (uniform)."""
    block: int = DeviceOptions().block_frames
    """Frames per device read (the audio engine's callback block)."""
    stall_at_s: float | None = None
    stall_s: float = 0.1
    """From ``stall_at_s`` the sender stalls this long: its packets leave together after."""
    drop: frozenset[int] = frozenset()
    """Packets (by index) the network loses besides the random loss."""
    first_seq: int = 0
    """The first packet's RTP sequence number (they wrap at 65536)."""
    seed: int = 1


@dataclass
class Result:
    delays_ms: list[float] = field(default_factory=list)
    delays_at: list[float] = field(default_factory=list)
    """When each of ``delays_ms`` was measured (simulated seconds)."""
    gap_max_ms: float = 0.0
    gaps: int = 0
    """Silent stretches of 5 ms or more (after the start, outside a burst)."""
    drops: int = 0
    burst_resume_ms: float | None = None
    stats: Any = None
    underruns: int = 0
    wall_s: float = 0.0


class _Ear:
    """Listens to every block the device reads: silent stretches and when voice resumes."""

    def __init__(self) -> None:
        self.started = False
        self.run = 0  # silent windows in a row
        self.run_started_at = 0.0
        self.runs: list[tuple[float, float]] = []  # (start time, length in s)

    def hear(self, block: np.ndarray, at: float) -> None:
        windows = block.reshape(-1, WINDOW)
        silent = np.sqrt(np.mean(np.square(windows), axis=1)) < 10 ** (SILENT_DB / 20)
        if not self.started:
            if silent.all():
                return
            self.started = True
            silent[: int(np.argmin(silent))] = False
        for index, quiet in enumerate(silent):
            if quiet:
                if self.run == 0:
                    self.run_started_at = at + index * WINDOW / RATE
                self.run += 1
            elif self.run:
                self.runs.append((self.run_started_at, self.run * WINDOW / RATE))
                self.run = 0


def simulate(
    scenario: Scenario, packets: list[bytes], options: PlayoutOptions | None = None
) -> Result:
    rng = np.random.default_rng(scenario.seed)
    result = Result()
    started = time.perf_counter()
    playout = Playout(options)
    ear = _Ear()
    sink = BlockSink(
        0.0123,
        lambda block: ear.hear(block, sink.read_at),
        scenario.block,
        period_s=scenario.block / RATE / (1 + scenario.device_ppm * 1e-6),
    )
    send_period = FRAME / RATE / (1 + scenario.sender_ppm * 1e-6)
    count = int(scenario.seconds / send_period)
    sent = np.arange(count) * send_period
    arrivals = sent + scenario.base_delay_s + rng.uniform(0, scenario.jitter_s, count)
    if scenario.stall_at_s is not None:
        end = scenario.stall_at_s + scenario.stall_s
        stalled = (sent >= scenario.stall_at_s) & (sent < end)
        arrivals[stalled] += end - sent[stalled]
    kept = rng.random(count) >= scenario.loss
    kept[[k for k in scenario.drop if k < count]] = False
    burst_end = None
    if scenario.burst_at_s is not None:
        in_burst = (sent >= scenario.burst_at_s) & (sent < scenario.burst_at_s + scenario.burst_s)
        kept &= ~in_burst
        burst_end = float(arrivals[np.flatnonzero(~in_burst & (sent > scenario.burst_at_s))[0]])
    order = np.argsort(arrivals, kind="stable")
    order = order[kept[order]]
    wake = 0.0
    emitted = 0
    i = 0
    n = len(order)
    loop = len(packets)
    while True:
        next_arrival = float(arrivals[order[i]]) if i < n else np.inf
        t = min(next_arrival, wake, sink.next_read(0.0))
        if t == np.inf or t > scenario.seconds:
            break
        # The playout thread runs a little after what woke it; the device does not wait.
        woke = t + rng.uniform(0, scenario.wake_latency_s)
        sink.advance(woke)
        while i < n and arrivals[order[i]] <= woke:
            k = int(order[i])
            seq = (scenario.first_seq + k) & 0xFFFF
            playout.put(seq, (k * FRAME) & 0xFFFFFFFF, packets[k % loop], float(arrivals[k]))
            i += 1
        wake = playout.service(woke, sink)
        if playout.packets_played != emitted:
            emitted = playout.packets_played
            result.delays_ms.append(playout.delay_ms)
            result.delays_at.append(woke)
        wake = max(wake, t + 1e-4)
    result.stats = playout.stats
    result.underruns = sink.underruns
    result.drops = sink.dropped + result.stats.packets_late
    burst = (scenario.burst_at_s or 0.0, (burst_end or 0.0) + 0.1)
    outside = [(s, length) for s, length in ear.runs if not (burst[0] <= s <= burst[1])]
    result.gap_max_ms = 1000 * max((length for _, length in outside), default=0.0)
    result.gaps = sum(1 for _, length in outside if length >= 0.005)
    if burst_end is not None:
        resumed = [s + length for s, length in ear.runs if burst[0] <= s <= burst[1]]
        result.burst_resume_ms = 1000 * (max(resumed) - burst_end) if resumed else 0.0
    result.wall_s = time.perf_counter() - started
    return result
