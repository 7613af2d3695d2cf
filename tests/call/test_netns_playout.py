"""The therapist's voice through our playout between real hosts (network namespaces), the
faults made by the kernel on the therapist's host: 5 % random loss (nftables ``numgen``),
jitter (a ``tbf`` rate limit the video's bursts queue the voice behind), a 300 ms burst
loss (an nftables drop rule added, then removed) and a therapist whose microphone clock
runs 300 ppm fast. The patient's app saves what its voice output received; the 660 Hz
tone is checked by FFT, silent stretches by a gap detector, and the playout's delay
(sampled every second) stays bounded for the whole run.

Reordering is not made here: ``tbf`` is one FIFO, nftables only passes or drops, and
this kernel has no ``netem`` and no classful qdisc that holds packets back for a fixed
time (a shaper delays only a saturated queue). Reordering is covered through the UDP
relay in ``test_playout_call.py``.

Bounds are generous: each app is a process of its own on a shared machine, so each
reports the longest time it was not scheduled, and the bounds allow twice their sum.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from devtools.netlab import NetLab, Reports, add_therapist, first_line, needs_netns, start_server
from tests.call.listening import RATE, silent_runs_ms, tone_share

pytestmark = needs_netns

TONE = 660.0
RUN_S = 10.0
"""Seconds of voice listened to once the fault is on."""


def _fault_rule(lab: NetLab, *rule: str) -> None:
    """A rule on the therapist's output toward the patient's host: the call's media only
    (signaling goes to the server's host)."""
    lab.nft(
        "ther",
        "add",
        "rule",
        "inet",
        "fault",
        "output",
        "ip",
        "daddr",
        lab.hosts["pat"].address,
        "meta",
        "l4proto",
        "udp",
        *rule,
    )


def _prepare_faults(lab: NetLab) -> None:
    lab.nft("ther", "add", "table", "inet", "fault")
    lab.nft(
        "ther", "add", "chain", "inet", "fault", "output", "{ type filter hook output priority 0; }"
    )


@pytest.mark.parametrize("fault", ["loss", "jitter", "burst", "clock"])
def test_voice_stays_continuous_across_real_faults(tmp_path: Path, fault: str) -> None:
    secret = add_therapist(tmp_path / "server", "dr-playout")
    audio_file = tmp_path / "heard.npy"
    with NetLab() as lab:
        for role in ("srv", "ther", "pat"):
            lab.add_host(role)
        _, url = start_server(lab, tmp_path / "server", tmp_path / "server.log")
        clock = ["--clock-ppm", "300"] if fault == "clock" else []
        ther = lab.spawn_peer(
            "ther",
            "therapist",
            url,
            "--name",
            "dr-playout",
            f"--secret={secret}",
            "--seconds",
            str(RUN_S + 16),
            *clock,
            log=tmp_path / "ther.log",
        )
        token = first_line(ther, "invite", timeout=20)["token"]
        pat = lab.spawn_peer(
            "pat",
            "patient",
            url,
            "--invite",
            token,
            "--seconds",
            str(RUN_S + 12),
            "--audio-out",
            str(audio_file),
            log=tmp_path / "pat.log",
        )
        reports = Reports()
        reports.follow("patient", pat)
        reports.follow("therapist", ther)
        reports.expect("patient", "call_state", 0, 20, state="connected")
        # Two seconds of voice heard before the fault.
        deadline = time.monotonic() + 15
        while len(reports.matching("patient", "audio")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        start = reports.matching("patient", "audio")[-1]
        _prepare_faults(lab)
        burst_s = 0.0
        if fault == "loss":
            _fault_rule(lab, "numgen", "random", "mod", "100", "<", "5", "drop")
        elif fault == "jitter":
            # Each video frame (a few kB) leaves at this rate; the voice waits behind it.
            lab.rate_limit("ther", 1200, burst="3000", latency="150ms")
        elif fault == "burst":
            time.sleep(2.0)
            began = time.monotonic()
            _fault_rule(lab, "drop")
            time.sleep(0.3)
            lab.nft("ther", "flush", "chain", "inet", "fault", "output")
            burst_s = time.monotonic() - began  # at most this long (the commands included)
        pat.wait(timeout=RUN_S + 40)
        ther.wait(timeout=30)
        time.sleep(0.2)
    assert pat.returncode == 0 and ther.returncode == 0
    done = {r["role"]: r for r in reports.matching(None, "done")}
    stall_ms = sum(r["stall_ms"] for r in done.values())
    audio = np.load(audio_file)[start["heard"] :]
    assert len(audio) > (RUN_S - 2) * RATE, len(audio)
    peak, share = tone_share(audio, TONE)
    assert abs(peak - TONE) < 5, peak
    assert share > 0.8, share
    runs = sorted(silent_runs_ms(audio))
    after = [r for r in reports.matching("patient", "audio") if r["heard"] > start["heard"]]
    delays = [r["delay"] for r in after]
    why = (runs[-5:], f"stalls {stall_ms:.0f} ms", delays, done)
    allowance = 2 * stall_ms
    print(fault, f"burst {1000 * burst_s:.0f} ms" if burst_s else "", why)
    if fault == "burst":
        # Concealment bridges the start, then silence until packets are back: never the
        # burst plus a refill, and no other gap.
        assert runs[-1] <= 1000 * burst_s + allowance, why
        assert len(runs) < 2 or runs[-2] <= 20 + allowance, why
    else:
        assert max(runs, default=0.0) <= 20 + allowance, why
    assert max(delays) < 150 + allowance, why
    if fault == "clock":
        assert done["patient"]["late"] == 0, why
        # The surplus did not pile up as delay.
        assert max(delays[-3:]) < 60 + allowance, why
