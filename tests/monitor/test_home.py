"""The home: patient and support person on one LAN, therapist and server across the WAN.

Four real hosts (network namespaces). What each person sees when the home's internet
goes down, and when the clinic's server dies — and that nothing is lost or doubled.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from companion.records import RecordStore
from devtools.netlab import NetLab, Reports, add_therapist, first_line, needs_netns, start_server

pytestmark = needs_netns


@dataclass
class Home:
    lab: NetLab
    reports: Reports
    procs: dict[str, subprocess.Popen[str]]
    records: dict[str, Path]
    data: Path
    tmp: Path

    def first(
        self, role: str, event: str, since: float, timeout: float, **match: Any
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.reports.lock:
                for m in self.reports.lines:
                    if (
                        m["role"] == role
                        and m["event"] == event
                        and m["at"] >= since
                        and all(m.get(k) == v for k, v in match.items())
                    ):
                        return m
            time.sleep(0.05)
        raise AssertionError(f"{role} never saw {event} {match}")

    def command(self, role: str, line: str) -> None:
        stdin = self.procs[role].stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def start_server(self) -> str:
        self.procs["srv"], url = start_server(self.lab, self.data, self.tmp / "server.log")
        return url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    tmp = tmp_path_factory.mktemp("home")
    data = tmp / "server"
    secret = add_therapist(data, "dr-h")
    reports = Reports()
    with NetLab() as lab:
        for role in ("srv", "ther", "pat", "sup"):
            lab.add_host(role)
        home = Home(
            lab, reports, {}, {r: tmp / f"records-{r}" for r in ("ther", "pat", "sup")}, data, tmp
        )
        url = home.start_server()
        common = ["--seconds", "900", "--commands"]
        ther = lab.spawn_peer(
            "ther",
            "therapist",
            url,
            "--name",
            "dr-h",
            f"--secret={secret}",
            "--records",
            str(home.records["ther"]),
            *common,
            log=tmp / "ther.log",
            stdin=True,
        )
        invite = first_line(ther, "invite", timeout=20)
        reports.follow("therapist", ther)
        sup = lab.spawn_peer(
            "sup",
            "support",
            url,
            "--invite",
            invite["support"],
            "--records",
            str(home.records["sup"]),
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
            "--records",
            str(home.records["pat"]),
            *common,
            log=tmp / "pat.log",
            stdin=True,
        )
        reports.follow("patient", pat)
        home.procs.update({"ther": ther, "sup": sup, "pat": pat})
        home.first("patient", "link", 0, 30, state="connected")
        home.first("support", "home", 0, 30, state="connected")
        yield home


def _recorded_ids(folder: Path, kind: str) -> list[str]:
    with RecordStore.open(folder) as store:
        return [
            e.event_id
            for sid in store.events.session_ids()
            for e in store.events.for_session(sid)
            if e.kind == kind
        ]


def test_wan_down_the_support_person_still_hears_over_the_home_network(home: Home) -> None:
    start = time.monotonic()
    home.lab.isolate("pat", ["pat", "sup"])
    home.lab.isolate("sup", ["pat", "sup"])
    lost = home.first("patient", "link", start, 10, state="lost")
    line = home.first("patient", "line", start, 5)
    assert "Music keeps playing" in line["text"]
    alert = home.first("support", "alert", start, 10, reason="link_lost")
    assert alert["at"] - start < 5.0  # the benchmark measures it (target ≤ 3 s)
    home.first("support", "sound", start, 5, kind="soft_chime")
    # The therapist's own monitor tells them, across the WAN cut.
    home.first("therapist", "alert", start, 10, reason="link_lost")
    assert lost["at"] - start < 4.0
    # 30 s on, the support person is called to the patient, until they answer.
    call = home.first("support", "alert", start, 45, reason="go_to_patient")
    home.first("support", "sound", call["at"], 2, kind="call")
    home.command("sup", f"ack {call['alert_id']}")
    home.first("support", "cleared", call["at"], 5, alert_id=call["alert_id"])
    # The internet comes back: the call heals, and the therapist learns what happened.
    healed = time.monotonic()
    home.lab.heal("pat")
    home.lab.heal("sup")
    home.first("patient", "link", healed, 20, state="connected")
    home.first("therapist", "timeline", healed, 20, kind="with_patient")
    time.sleep(2)
    # Every event the support person sent while the WAN was down arrived exactly once.
    for kind in ("with_patient", "alert.ack"):
        sent = _recorded_ids(home.records["sup"], kind)
        got = _recorded_ids(home.records["ther"], kind)
        assert sent and sorted(sent) == sorted(got), kind


def test_server_killed_and_restarted_the_call_goes_on(home: Home) -> None:
    start = time.monotonic()
    home.procs["srv"].kill()
    home.procs["srv"].wait(timeout=10)
    for role in ("patient", "therapist", "support"):
        home.first(role, "signaling", start, 10, state="reconnecting")
    time.sleep(3)
    # Media and the home link are peer to peer: nobody lost anybody.
    with home.reports.lock:
        states = [
            (m["role"], m["state"])
            for m in home.reports.lines
            if m["at"] >= start and m["event"] in ("link", "home")
        ]
    assert all(state != "lost" for _, state in states), states
    restarted = time.monotonic()
    home.start_server()
    for role in ("patient", "therapist", "support"):
        home.first(role, "signaling", restarted, 20, state="online")
    # Events flow through the new server again, to everyone, once.
    home.command("pat", "checkin")
    check = home.first("therapist", "timeline", restarted, 10, kind="checkin")
    time.sleep(1.5)
    with home.reports.lock:
        copies = [
            m for m in home.reports.lines if m["event"] == "timeline" and m.get("id") == check["id"]
        ]
    assert len(copies) == 2  # the therapist and the support person, once each
