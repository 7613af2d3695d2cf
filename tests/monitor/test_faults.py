"""Real faults between real hosts: what each end's monitor says, and that it heals.

One call between a patient and a therapist namespace (server on a third) serves every
scenario in turn; each scenario ends with the network healed and the link connected.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.netlab import NetLab

UNAVAILABLE = NetLab.available()
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or ""),
]


@dataclass
class Reports:
    lines: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, role: str, proc: subprocess.Popen[str]) -> None:
        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                with self.lock:
                    self.lines.append({"role": role, "at": time.monotonic(), **json.loads(line)})

        threading.Thread(target=read, daemon=True).start()

    def since(self, start: float, event: str = "link") -> list[tuple[str, str, float]]:
        with self.lock:
            return [(m["role"], m["state"], m["at"] - start) for m in self.lines
                    if m["event"] == event and m["at"] >= start]  # fmt: skip

    def wait_for(self, start: float, wanted: dict[str, str], timeout: float) -> float:
        """Wait until each role's latest link state is the wanted one; returns when."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            latest: dict[str, tuple[str, float]] = {}
            for role, state, at in self.since(start):
                latest[role] = (state, at)
            if all(latest.get(r, ("", 0))[0] == s for r, s in wanted.items()):
                return max(latest[r][1] for r in wanted)
            time.sleep(0.05)
        raise AssertionError(f"never reached {wanted}: {self.since(start)}")


@dataclass
class CallLab:
    lab: NetLab
    reports: Reports


@pytest.fixture(scope="module")
def call_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallLab]:
    tmp = tmp_path_factory.mktemp("faults")
    data = tmp / "server"
    added = subprocess.run(
        [sys.executable, "-m", "companion", "server", "add-therapist", "dr-f", "--data-dir", str(data)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    secret = added.stdout.strip().split()[-1]
    reports = Reports()
    with NetLab() as lab:
        server = lab.add_host("srv")
        lab.add_host("ther")
        lab.add_host("pat")
        srv = lab.spawn("srv", ["-m", "companion", "server", "--host", server.address, "--port", "8765",
                                "--data-dir", str(data)], log=tmp / "server.log")  # fmt: skip
        assert srv.stdout is not None and "listening" in srv.stdout.readline()
        url = f"ws://{server.address}:8765/ws"
        ther = lab.spawn("ther", ["-m", "tests.call.peer_process", "therapist", url, "--name", "dr-f",
                                  "--secret", secret, "--seconds", "600"], log=tmp / "ther.log")  # fmt: skip
        assert ther.stdout is not None
        token = next(json.loads(l)["token"] for l in ther.stdout if '"invite"' in l)  # noqa: E741
        reports.follow("therapist", ther)
        pat = lab.spawn("pat", ["-m", "tests.call.peer_process", "patient", url, "--invite", token,
                                "--seconds", "600"], log=tmp / "pat.log")  # fmt: skip
        reports.follow("patient", pat)
        reports.wait_for(0, {"patient": "connected", "therapist": "connected"}, timeout=30)
        yield CallLab(lab, reports)


BOTH = {"patient": "connected", "therapist": "connected"}


def test_total_cut_is_lost_at_both_ends_then_heals(call_lab: CallLab) -> None:
    start = time.monotonic()
    call_lab.lab.cut("pat", "both")
    lost = call_lab.reports.wait_for(start, {"patient": "lost", "therapist": "lost"}, timeout=10)
    assert lost < 4.0  # the benchmark measures the real figure (target ≤ 2 s)
    time.sleep(2)
    healed = time.monotonic()
    call_lab.lab.heal("pat")
    call_lab.reports.wait_for(healed, BOTH, timeout=20)
    states = {(r, s) for r, s, _ in call_lab.reports.since(healed)}
    assert ("patient", "recovering") in states and ("therapist", "recovering") in states


def test_one_direction_cut_is_lost_at_both_ends(call_lab: CallLab) -> None:
    """Only the patient's outgoing packets die. The therapist hears nothing; the patient
    still receives, but its heartbeats are never echoed — the link is not a link."""
    start = time.monotonic()
    call_lab.lab.cut("pat", "out")
    call_lab.reports.wait_for(start, {"patient": "lost", "therapist": "lost"}, timeout=10)
    healed = time.monotonic()
    call_lab.lab.heal("pat")
    call_lab.reports.wait_for(healed, BOTH, timeout=20)


def test_ten_percent_loss_is_never_lost(call_lab: CallLab) -> None:
    start = time.monotonic()
    call_lab.lab.loss("pat", 10)
    time.sleep(20)
    call_lab.lab.heal("pat")
    states = {s for _, s, _ in call_lab.reports.since(start)}
    assert "lost" not in states and "interrupted" not in states, call_lab.reports.since(start)


def test_flapping_link_heals_every_time(call_lab: CallLab) -> None:
    start = time.monotonic()
    for _ in range(3):
        call_lab.lab.cut("pat", "both")
        time.sleep(2.5)
        call_lab.lab.heal("pat")
        call_lab.reports.wait_for(time.monotonic(), BOTH, timeout=20)
    changes = call_lab.reports.since(start)
    assert sum(1 for r, s, _ in changes if r == "patient" and s == "lost") == 3
