"""The benchmarks run and end with their JSON line (tiny sizes; the figures are theirs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(name: str, *args: str, timeout: float = 120) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    last: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return last


def test_signaling_load_smoke() -> None:
    figures = run_benchmark("signaling_load.py", "--sessions", "5", "--seconds", "3")
    for key in (
        "sessions",
        "relay_p50_ms",
        "relay_p99_ms",
        "errors",
        "server_cpu_pct",
        "server_rss_mb",
    ):
        assert key in figures
    assert figures["errors"] == 0
    assert figures["sessions"] == 5


def test_call_benchmark_smoke() -> None:
    figures = run_benchmark(
        "call.py",
        "--calls",
        "2",
        "--clicks",
        "3",
        "--cpu-seconds",
        "3",
        "--cpu-warmup",
        "2",
        timeout=180,
    )
    for key in ("setup_p95_s", "mouth_to_ear_p95_ms", "cpu_core_pct_per_side", "rss_growth_mb"):
        assert key in figures
    assert figures["calls"] == 2 and figures["clicks"] == 3
