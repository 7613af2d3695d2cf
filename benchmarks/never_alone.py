"""Never-alone benchmark: how fast a cut is noticed, how fast it heals, and no false alarms.

Four real hosts (network namespaces: server, therapist, patient, support person) running
the real apps' cores (``tests.call.peer_process``: call, home link, guardian, records).

* detect_p95_s: total cut of the patient's network -> ``lost`` at *both* ends (>= 20 trials).
* recover_p95_s: network back -> media flowing again at both ends (``recovering``).
* false_lost_events: ``lost`` said at either end during ``--soak-minutes`` (default 10)
  at 10 % random loss plus a 256 kbit/s limit on the patient's uplink;
  soak_interrupted_events: the same for the milder ``interrupted`` (the patient reads
  "catching its breath"), which such a link should not cause either.
* lan_alert_s: the home's WAN cut (LAN intact) -> the support person's app shows the alert,
  over the home link (median of 5 trials).
* events_lost / events_duplicated: every check-in the patient sends (one every 5 s, through
  all of the above) reaches the therapist and the support person exactly once.

Needs root (ip netns, nftables, tc). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.netlab import NetLab, Reports, add_therapist, first_line, start_server


class Lab:
    def __init__(
        self, lab: NetLab, reports: Reports, procs: dict[str, subprocess.Popen[str]]
    ) -> None:
        self.lab = lab
        self.reports = reports
        self.procs = procs

    def first(
        self, role: str, event: str, since: float, timeout: float, **match: Any
    ) -> float | None:
        found = self.reports.first(role, event, since, timeout, **match)
        return float(found["at"]) if found else None

    def command(self, role: str, line: str) -> None:
        stdin = self.procs[role].stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def wait_connected(self, since: float, timeout: float = 30) -> None:
        for role in ("patient", "therapist"):
            self.first(role, "link", since, timeout, state="connected")


def start(lab: NetLab, tmp: Path) -> Lab:
    secret = add_therapist(tmp / "server", "bench")
    for role in ("srv", "ther", "pat", "sup"):
        lab.add_host(role)
    _, url = start_server(lab, tmp / "server", tmp / "server.log")
    reports = Reports()
    common = ["--seconds", "100000", "--commands"]
    ther = lab.spawn_peer(
        "ther",
        "therapist",
        url,
        "--name",
        "bench",
        f"--secret={secret}",
        *common,
        log=tmp / "ther.log",
        stdin=True,
    )
    invite = first_line(ther, "invite", timeout=30)
    reports.follow("therapist", ther)
    sup = lab.spawn_peer(
        "sup",
        "support",
        url,
        "--invite",
        invite["support"],
        *common,
        log=tmp / "sup.log",
        stdin=True,
    )
    reports.follow("support", sup)
    pat = lab.spawn_peer(
        "pat",
        "patient",
        url,
        "--invite",
        invite["token"],
        "--camera-like",
        *common,
        log=tmp / "pat.log",
        stdin=True,
    )
    reports.follow("patient", pat)
    out = Lab(lab, reports, {"therapist": ther, "support": sup, "patient": pat})
    out.wait_connected(0, 60)
    assert out.first("support", "home", 0, 30, state="connected") is not None
    return out


def checkin_ticker(lab: Lab, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(5.0):
            lab.command("patient", "checkin")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--cut-s", type=float, default=3.0)
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--lan-trials", type=int, default=5)
    args = parser.parse_args()
    reason = NetLab.available()
    if reason:
        raise SystemExit(f"never_alone needs network namespaces: {reason}")

    detect: list[float] = []
    recover: list[float] = []
    lan: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name, NetLab() as netlab:
        lab = start(netlab, Path(tmp_name))
        stop = threading.Event()
        ticker = checkin_ticker(lab, stop)

        for trial in range(args.trials):
            cut = time.monotonic()
            netlab.cut("pat", "both")
            ends = [lab.first(r, "link", cut, 15, state="lost") for r in ("patient", "therapist")]
            time.sleep(max(0.0, args.cut_s - (time.monotonic() - cut)))
            healed = time.monotonic()
            netlab.heal("pat")
            back = [
                lab.first(r, "link", healed, 20, state="recovering")
                for r in ("patient", "therapist")
            ]
            if None not in ends:
                detect.append(max(e for e in ends if e is not None) - cut)
            if None not in back:
                recover.append(max(b for b in back if b is not None) - healed)
            lab.wait_connected(healed)
            time.sleep(1.0)
            print(
                f"trial {trial + 1}: detect {detect[-1] if detect else None:.2f} s, "
                f"recover {recover[-1] if recover else None:.2f} s",
                file=sys.stderr,
            )

        for _ in range(args.lan_trials):
            cut = time.monotonic()
            netlab.isolate("pat", ["pat", "sup"])
            netlab.isolate("sup", ["pat", "sup"])
            alerted = lab.first("support", "alert", cut, 15, reason="link_lost")
            if alerted is not None:
                lan.append(alerted - cut)
            time.sleep(2.0)
            healed = time.monotonic()
            netlab.heal("pat")
            netlab.heal("sup")
            lab.wait_connected(healed)
            time.sleep(2.0)

        soak_start = time.monotonic()
        netlab.loss("pat", 10)
        netlab.rate_limit("pat", 256)
        time.sleep(args.soak_minutes * 60)
        netlab.heal("pat")
        false_lost = len(lab.reports.matching(None, "link", soak_start, state="lost"))
        interrupted = len(lab.reports.matching(None, "link", soak_start, state="interrupted"))
        lab.wait_connected(time.monotonic())
        stop.set()
        ticker.join()
        time.sleep(5.0)  # let the last check-ins land

        received = {
            role: Counter(m["id"] for m in lab.reports.matching(role, "timeline", kind="checkin"))
            for role in ("therapist", "support")
        }
        sent_ids = {m["id"] for m in lab.reports.matching("patient", "sent")}
        sent = max(len(sent_ids), 1)
        lost = sum(1 for role in received for event_id in sent_ids if received[role][event_id] == 0)
        duplicated = sum(
            count - 1 for role in received for count in received[role].values() if count > 1
        )
        for proc in lab.procs.values():
            proc.kill()

    result = {
        "detect_p95_s": round(float(np.percentile(detect, 95)), 3) if detect else None,
        "detect_median_s": round(float(np.median(detect)), 3) if detect else None,
        "recover_p95_s": round(float(np.percentile(recover, 95)), 3) if recover else None,
        "trials": len(detect),
        "false_lost_events": false_lost,
        "soak_interrupted_events": interrupted,
        "soak_minutes": args.soak_minutes,
        "lan_alert_s": round(float(np.median(lan)), 3) if lan else None,
        "lan_alert_max_s": round(max(lan), 3) if lan else None,
        "checkins_sent": sent,
        "events_lost": lost,
        "events_duplicated": duplicated,
    }
    print(
        f"detect p95 {result['detect_p95_s']} s, recover p95 {result['recover_p95_s']} s, "
        f"false lost {false_lost} (interrupted {interrupted}), LAN alert {result['lan_alert_s']} s, lost/dup {lost}/{duplicated}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
