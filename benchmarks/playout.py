"""Playout benchmark: real Opus packets through the real playout, a simulated network and
two simulated clocks, much faster than real time.

    .venv/bin/python benchmarks/playout.py              # ~3-5 minutes (2 h of drift each way)
    .venv/bin/python benchmarks/playout.py --hours 0.05 # quick

The simulator is ``devtools/playout_sim.py``: the call's Opus encoder (in-band FEC on,
a loss hint), the real playout, a device model reading blocks like the audio engine's
callback, a sender clock and a device clock each at its own rate, and a network with a
base delay, uniform jitter (reordering once it exceeds 20 ms), loss and a burst. The
voice never falls silent, so any silence in the output is a gap.

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
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.playout_sim import Result, Scenario, opus_packets, simulate


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
    out["clean_concealed_pct"] = round(
        100 * clean.stats.concealed_samples / max(1, clean.stats.total_samples), 2
    )
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

    length = min(args.seconds, 20.0)
    burst = simulate(Scenario(length, burst_at_s=length / 2, seed=3), packets)
    out["burst_resume_ms"] = round(burst.burst_resume_ms or 0.0, 1)
    out["burst_gap_max_ms"] = round(burst.gap_max_ms, 1)

    drift: list[Result] = []
    for ppm in (300.0, -300.0):
        run = simulate(Scenario(args.hours * 3600, sender_ppm=ppm, seed=4), packets)
        settled = run.delays_ms[int(10 / 0.02) :]
        print(
            f"drift {ppm:+.0f} ppm: {run.stats} gaps {run.gaps} drops {run.drops} "
            f"max delay {max(settled, default=0):.1f} ms in {run.wall_s:.0f} s",
            file=sys.stderr,
        )
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
