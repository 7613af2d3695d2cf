"""A call between two real hosts (network namespaces), the server on a third."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.netlab import NetLab

UNAVAILABLE = NetLab.available()
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or ""),
]


def _lines(proc: subprocess.Popen[str], until: float) -> list[dict[str, Any]]:
    out = []
    assert proc.stdout is not None
    while time.monotonic() < until:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(json.loads(line))
    return out


def _first(proc: subprocess.Popen[str], event: str, timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        message: dict[str, Any] = json.loads(line)
        if message.get("event") == event:
            return message
    raise AssertionError(f"no {event!r} within {timeout} s")


def test_call_across_namespaces(tmp_path: Path) -> None:
    data = tmp_path / "server"
    added = subprocess.run(
        [sys.executable, "-m", "companion", "server", "add-therapist", "dr-ns", "--data-dir", str(data)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    secret = added.stdout.strip().split()[-1]
    with NetLab() as lab:
        server = lab.add_host("srv")
        lab.add_host("ther")
        lab.add_host("pat")
        srv = lab.spawn("srv", ["-m", "companion", "server", "--host", server.address, "--port", "8765",
                                "--data-dir", str(data)], log=tmp_path / "server.log")  # fmt: skip
        url = f"ws://{server.address}:8765/ws"
        assert srv.stdout is not None and "listening" in srv.stdout.readline()
        ther = lab.spawn("ther", ["-m", "tests.call.peer_process", "therapist", url, "--name", "dr-ns",
                                  "--secret", secret, "--seconds", "12"], log=tmp_path / "ther.log")  # fmt: skip
        token = _first(ther, "invite", timeout=20)["token"]
        pat = lab.spawn("pat", ["-m", "tests.call.peer_process", "patient", url, "--invite", token,
                                "--seconds", "10"], log=tmp_path / "pat.log")  # fmt: skip
        _first(pat, "call_state", timeout=15)
        lines = _lines(pat, time.monotonic() + 12)
        assert {"event": "call_state", "state": "connected"} in [
            {k: v for k, v in m.items() if k != "t"} for m in lines if m["event"] == "call_state"
        ], lines
        audio = [m for m in lines if m["event"] == "audio"]
        video = [m for m in lines if m["event"] == "video"]
        assert audio and abs(audio[-1]["hz"] - 660) < 10, audio
        assert video and video[-1]["frames"] > 5, video
        pat.wait(timeout=20)
        ther.wait(timeout=20)
        assert pat.returncode == 0 and ther.returncode == 0
