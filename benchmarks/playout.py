"""Playout benchmark: real Opus packets through the real playout, a simulated network and
two simulated clocks, much faster than real time.

    .venv/bin/python benchmarks/playout.py              # ~3-5 minutes (2 h of drift each way)
    .venv/bin/python benchmarks/playout.py --hours 0.05 # quick

The sender is aiortc's Opus encoder as the call configures it (in-band FEC on, a loss
hint); its packets go through ``companion.call.playout.Playout`` exactly as in a call, into
a ``BlockSink`` that reads blocks the way the audio engine's callback does. The
sender's clock and the device's clock each run at their own rate; the network adds a
base delay, uniform jitter (which reorders packets once it exceeds 20 ms), random loss
and a burst. The voice is continuous (a gliding harmonic tone with a syllable-like
swell that never falls silent), so any silence in the output is a gap.

* clean_delay_p95_ms: jitter-buffer delay (arrival -> read by the device) on a clean
  link (1 ms jitter), 95th percentile over the packets.
* concealed_pct, fec_pct, gap_max_ms, loss_delay_p95_ms: 5 % random loss with 30 ms jitter.
  gap_max_ms is the longest output silence (1 ms windows below -45 dBFS).
* burst_resume_ms: after 300 ms of total loss, from the first packet back to voice heard.
* drift_hours, drift_gaps, drift_drops, drift_delay_max_ms: ``--hours`` at +300 and -300
  ppm between the sender's and the device's clocks (clean link): silent stretches, audio
  thrown away (ring overflow, packets discarded as late) and the highest delay after the
  first 10 s, over both runs.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import fractions
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.audio.device import DeviceOptions
from companion.call.opus import FRAME, RATE, FecOpusEncoder
from companion.call.playout import Playout
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
    seed: int = 1


@dataclass
class Result:
    delays_ms: list[float] = field(default_factory=list)
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


def simulate(scenario: Scenario, packets: list[bytes]) -> Result:
    rng = np.random.default_rng(scenario.seed)
    result = Result()
    started = time.perf_counter()
    playout = Playout()
    ear = _Ear()
    sink = BlockSink(
        0.0123, lambda block: ear.hear(block, sink.read_at), scenario.block,
        period_s=scenario.block / RATE / (1 + scenario.device_ppm * 1e-6),
    )  # fmt: skip
    send_period = FRAME / RATE / (1 + scenario.sender_ppm * 1e-6)
    count = int(scenario.seconds / send_period)
    sent = np.arange(count) * send_period
    arrivals = sent + scenario.base_delay_s + rng.uniform(0, scenario.jitter_s, count)
    kept = rng.random(count) >= scenario.loss
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
            playout.put(k & 0xFFFF, (k * FRAME) & 0xFFFFFFFF, packets[k % loop],
                        float(arrivals[k]))  # fmt: skip
            i += 1
        wake = playout.service(woke, sink)
        if playout.packets_played != emitted:
            emitted = playout.packets_played
            result.delays_ms.append(playout.delay_ms)
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


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=float, default=2.0, help="drift run length, each way")
    parser.add_argument("--seconds", type=float, default=60.0, help="clean and loss runs")
    args = parser.parse_args()
    packets = opus_packets()
    out: dict[str, Any] = {}

    clean = simulate(Scenario(args.seconds, sender_ppm=40.0), packets)
    out["clean_delay_p95_ms"] = round(p95(clean.delays_ms), 1)
    out["clean_delay_median_ms"] = round(float(np.median(clean.delays_ms)), 1)
    out["clean_concealed_pct"] = round(100 * clean.stats.concealed_samples
                                       / max(1, clean.stats.total_samples), 2)  # fmt: skip
    print("clean", out, file=sys.stderr)

    lossy = simulate(Scenario(args.seconds, jitter_s=0.030, loss=0.05, seed=2), packets)
    total = max(1, lossy.stats.total_samples)
    out["concealed_pct"] = round(100 * lossy.stats.concealed_samples / total, 2)
    out["fec_pct"] = round(100 * lossy.stats.fec_samples / total, 2)
    out["gap_max_ms"] = round(lossy.gap_max_ms, 1)
    out["loss_delay_p95_ms"] = round(p95(lossy.delays_ms), 1)
    out["loss_target_delay_ms"] = round(lossy.stats.target_delay_ms, 1)
    out["loss_jitter_ms"] = round(lossy.stats.jitter_ms, 1)
    out["loss_late_packets"] = lossy.stats.packets_late
    print("loss", out, file=sys.stderr)

    burst = simulate(Scenario(min(args.seconds, 20.0), burst_at_s=10.0, seed=3), packets)
    out["burst_resume_ms"] = round(burst.burst_resume_ms or 0.0, 1)
    out["burst_gap_max_ms"] = round(burst.gap_max_ms, 1)

    drift: list[Result] = []
    for ppm in (300.0, -300.0):
        run = simulate(Scenario(args.hours * 3600, sender_ppm=ppm, seed=4), packets)
        settled = run.delays_ms[int(10 / 0.02) :]
        print(f"drift {ppm:+.0f} ppm: {run.stats} gaps {run.gaps} drops {run.drops} "
              f"max delay {max(settled, default=0):.1f} ms in {run.wall_s:.0f} s",
              file=sys.stderr)  # fmt: skip
        drift.append(run)
    out["drift_hours"] = round(args.hours, 3)
    out["drift_ppm"] = [300, -300]
    out["drift_gaps"] = sum(r.gaps + r.underruns for r in drift)
    out["drift_drops"] = sum(r.drops for r in drift)
    out["drift_delay_max_ms"] = round(max(max(r.delays_ms[500:], default=0.0) for r in drift), 1)
    out["drift_accelerate"] = drift[0].stats.accelerate_count  # sender fast: too much audio
    out["drift_expand"] = drift[1].stats.expand_count
    out["drift_concealed_samples"] = sum(r.stats.concealed_samples for r in drift)
    simulated = 2 * args.hours * 3600 + 2 * args.seconds + 20
    wall = sum(r.wall_s for r in (clean, lossy, burst, *drift))
    out["speed_x_realtime"] = round(simulated / wall, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
