"""At 256 kbit/s up, video gives way first and speech stays whole (real namespaces, tbf)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.call.test_netns_call import _first
from tests.netlab import NetLab

UNAVAILABLE = NetLab.available()
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or ""),
]


def _collect(proc: subprocess.Popen[str], into: list[dict[str, Any]]) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            into.append(json.loads(line))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_video_pauses_and_speech_stays_whole_at_256_kbit(tmp_path: Path) -> None:
    data = tmp_path / "server"
    added = subprocess.run(
        [sys.executable, "-m", "companion", "server", "add-therapist", "dr-bw", "--data-dir", str(data)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    secret = added.stdout.strip().split()[-1]
    with NetLab() as lab:
        server = lab.add_host("srv")
        lab.add_host("ther")
        lab.add_host("pat")
        srv = lab.spawn("srv", ["-m", "companion", "server", "--host", server.address, "--port", "8765",
                                "--data-dir", str(data)])  # fmt: skip
        assert srv.stdout is not None and "listening" in srv.stdout.readline()
        url = f"ws://{server.address}:8765/ws"
        lab.rate_limit("pat", 256)  # the patient's home uplink
        ther = lab.spawn("ther", ["-m", "tests.call.peer_process", "therapist", url, "--name", "dr-bw",
                                  "--secret", secret, "--seconds", "28", "--camera-like"])  # fmt: skip
        token = _first(ther, "invite", timeout=20)["token"]
        pat = lab.spawn("pat", ["-m", "tests.call.peer_process", "patient", url, "--invite", token,
                                "--seconds", "26", "--camera-like"])  # fmt: skip
        heard: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        readers = [_collect(ther, heard), _collect(pat, sent)]
        pat.wait(timeout=60)
        ther.wait(timeout=60)
        for reader in readers:
            reader.join(timeout=5)
    audio = [m for m in heard if m["event"] == "audio"]
    quality = [m for m in sent if m["event"] == "quality"]
    # The patient's app paused its video...
    assert any(not q["video_sending"] for q in quality), quality
    # ...and once it had, the therapist heard the patient's tone whole, second after second.
    paused_at = next(q["t"] for q in quality if not q["video_sending"])
    settled = [a for a in audio if a["t"] > paused_at + 3]
    assert len(settled) >= 8, audio
    assert all(abs(a["hz"] - 440) < 15 for a in settled), settled
    continuity = sum(a["continuity"] for a in settled) / len(settled)
    assert continuity > 0.9, settled
    # The therapist's video still reaches the patient (their uplink is not limited).
    assert [m for m in sent if m["event"] == "video"][-1]["frames"] > 10
