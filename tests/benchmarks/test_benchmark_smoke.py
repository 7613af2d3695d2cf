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
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
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
    for key in (
        "setup_p95_s",
        "mouth_to_ear_p95_ms",
        "cpu_core_pct_per_side",
        "rss_growth_mb",
        "capture_ms",
        "jitter_buffer_ms",
        "output_ms",
    ):
        assert key in figures
    assert figures["calls"] == 2 and figures["clicks"] == 3


def test_playout_benchmark_smoke() -> None:
    figures = run_benchmark("playout.py", "--hours", "0.005", "--seconds", "5")
    for key in (
        "clean_delay_p95_ms",
        "concealed_pct",
        "gap_max_ms",
        "burst_resume_ms",
        "drift_hours",
        "drift_gaps",
        "drift_drops",
        "drift_delay_max_ms",
    ):
        assert key in figures
    assert figures["drift_hours"] == 0.005


def test_signaling_cluster_smoke() -> None:
    """Two real nodes and a real Redis; node B is killed mid-run and its clients resume."""
    figures = run_benchmark(
        "signaling_cluster.py", "--sessions", "20", "--seconds", "6", "--warmup", "1"
    )
    for key in (
        "sessions",
        "nodes",
        "relay_p99_ms",
        "cross_node_p99_ms",
        "errors",
        "failover_resume_p95_s",
        "events_lost",
    ):
        assert key in figures
    assert figures["sessions"] == 20 and figures["nodes"] == 2
    assert figures["errors"] == 0 and figures["events_lost"] == 0, figures
    assert figures["moved"] == 30 and figures["failover_resume_p95_s"] is not None


def test_server_attack_smoke() -> None:
    """A tiny clinic while one address runs slowloris, a ping flood and an outbox flood."""
    figures = run_benchmark(
        "server_attack.py",
        "--sessions",
        "5",
        "--seconds",
        "3",
        "--warmup",
        "1",
        "--slowloris",
        "60",
    )
    for key in (
        "relay_p99_ms",
        "join_p95_s",
        "healthz_max_s",
        "server_rss_growth_mb",
        "log_growth_mb",
        "errors",
    ):
        assert key in figures
    assert figures["errors"] == 0, figures
    attack = figures["attack"]
    assert isinstance(attack, dict) and attack["pings_sent"] > 0 and attack["outbox_joins"] > 0


def test_records_sealing_smoke() -> None:
    figures = run_benchmark("records_sealing.py", "--events", "20")
    assert figures["sealed_events_opened"] == 10
    for key in ("plain_append_p50_ms", "sealed_append_p50_ms", "seal_only_p50_ms"):
        assert key in figures


def test_echo_benchmark_smoke() -> None:
    """The app's own capture and playback through the simulated room (short runs)."""
    figures = run_benchmark("echo.py", "--quick", timeout=300)
    for key in (
        "erle_far_db",
        "erle_first_s_db",
        "erle_music_db",
        "erle_music_control_db",
        "reconverge_s",
        "doubletalk_spec",
        "doubletalk_near_drop_db",
        "headphones_spec",
        "noise_reduction_db",
        "cpu_core_pct",
        "aborts",
    ):
        assert key in figures
    assert figures["aborts"] == 0
    # The control (music left out of the reverse stream) must come out below the target.
    assert isinstance(figures["erle_music_control_db"], float)
    assert figures["erle_music_control_db"] < 20.0


def test_spoken_benchmark_smoke() -> None:
    figures = run_benchmark("spoken.py", "--quick")
    for key in ("line_latency_p95_s", "loudness_diff_lu", "duck_db", "lines_missing_offline"):
        assert key in figures
    assert figures["lines_missing_offline"] == 0


def test_escalation_benchmark_smoke() -> None:
    figures = run_benchmark(
        "escalation.py", "--trials", "1", "--kill-trial", "0", "--after-s", "10", timeout=300
    )
    for key in ("notify_s", "ack_fanout_s", "duplicates", "lost", "trials"):
        assert key in figures
    assert figures["trials"] == 1 and figures["lost"] == 0 and figures["duplicates"] == 0


def test_voice_lines_benchmark_smoke() -> None:
    figures = run_benchmark("voice_lines.py", "--quick")
    for key in ("total_kib", "pieces", "max_wire_bytes", "send_s", "encode_s_per_line_p95"):
        assert key in figures
    assert figures["lines"] == 4
    assert isinstance(figures["max_wire_bytes"], int) and figures["max_wire_bytes"] < 65536
