"""The ``companion`` command as a person runs it: real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.services import free_port

COMPANION = [sys.executable, "-m", "companion"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMPANION, *args], capture_output=True, text=True, timeout=timeout)


def test_help_reads_well() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "never left alone" in result.stdout
    for command in ("server", "demo"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["server", "--port", "abc"], ["nonsense"], ["server", "add-therapist"]],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_add_therapist_prints_secret_once_and_keeps_only_a_hash(tmp_path: Path) -> None:
    result = run("server", "add-therapist", "dr-cli", "--data-dir", str(tmp_path))
    assert result.returncode == 0
    secret = result.stdout.strip().split()[-1]
    assert len(secret) >= 20
    assert secret.encode() not in (tmp_path / "clinic.sqlite3").read_bytes()
    again = run("server", "add-therapist", "dr-cli", "--data-dir", str(tmp_path))
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_standalone_server_serves_healthz(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*COMPANION, "server", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    assert resp.status == 200
                    assert json.load(resp)["status"] == "ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("server", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_demo_runs_the_real_parts_and_records_a_timeline(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QT_QPA_PLATFORM": "offscreen", "LANGUAGE": "en"}
    result = subprocess.run(
        [*COMPANION, "demo", "--headless", "--quick", "--record", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    entries = json.loads((tmp_path / "timeline.json").read_text())
    said = [(e["who"], e["what"]) for e in entries]
    whats = [what for _, what in said]
    assert any("sees the patient" in w for w in whats)
    assert ("therapist", "ALERT: help") in said and ("support", "ALERT: help") in said
    # The dropped call: lost at both ends, the calm line on the patient's side, healed.
    lost = whats.index("sees: Link lost — the support person has been told")
    assert any(who == "patient" and "Music keeps playing" in what for who, what in said)
    assert any(
        who == "patient" and what == "sees: Your therapist is with you" for who, what in said[lost:]
    )
    # Screenshots of the three windows after each step, saved where the record goes.
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    for role in ("therapist", "patient", "support"):
        assert any(name.endswith(f"link-lost-{role}.png") for name in shots)
    assert len(shots) >= 18


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run (Debian xvfb) not installed")
def test_demo_on_a_real_x_server_saves_screenshots_of_real_windows(tmp_path: Path) -> None:
    """The same demo with real X11 windows (Xvfb, Qt's xcb platform), not offscreen."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    env["COMPANION_DEMO_AUDIO"] = "none"
    record = Path(__file__).resolve().parents[1] / "test-output" / "screenshots" / "x11"
    shutil.rmtree(record, ignore_errors=True)
    result = subprocess.run(
        [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1920x1080x24",
            *COMPANION,
            "demo",
            "--quick",
            "--record",
            str(record),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "runs headless" not in result.stdout
    shots = sorted(record.glob("*.png"))
    assert len(shots) >= 18
    print(f"X11 screenshots: {record}")
