"""Real hosts for network tests: Linux network namespaces joined by veth links to a bridge.

Only addresses inside namespaces made here are used (10.77.x.0/24); everything is torn
down afterwards. Faults are nftables rules and ``ip link`` inside one namespace.
Needs root and iproute2/nftables; ``NetLab.available()`` says whether this machine has them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=20)


@dataclass
class Host:
    name: str
    """Namespace name (unique per lab)."""
    address: str
    veth: str


@dataclass
class NetLab:
    subnet: str = "10.77.0"
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @staticmethod
    def available() -> str | None:
        """None when namespaces can be made here, else the reason they cannot."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        probe = f"cmp-probe-{secrets.token_hex(2)}"
        result = _run("ip", "netns", "add", probe, check=False)
        if result.returncode != 0:
            return f"ip netns add failed: {result.stderr.strip()}"
        _run("ip", "netns", "del", probe, check=False)
        return None

    @property
    def bridge_ns(self) -> str:
        return f"cmp{self.tag}-net"

    def __enter__(self) -> NetLab:
        _run("ip", "netns", "add", self.bridge_ns)
        _run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        _run("ip", "-n", self.bridge_ns, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, role: str) -> Host:
        index = len(self.hosts) + 1
        ns = f"cmp{self.tag}-{role}"
        veth = f"v{self.tag}{index}"
        host = Host(ns, f"{self.subnet}.{index}", veth)
        _run("ip", "netns", "add", ns)
        _run(
            "ip",
            "link",
            "add",
            veth,
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            f"{veth}b",
            "netns",
            self.bridge_ns,
        )
        _run("ip", "-n", ns, "addr", "add", f"{host.address}/24", "dev", veth)
        _run("ip", "-n", ns, "link", "set", veth, "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", self.bridge_ns, "link", "set", f"{veth}b", "master", "br0")
        _run("ip", "-n", self.bridge_ns, "link", "set", f"{veth}b", "up")
        self.hosts[role] = host
        return host

    def spawn(
        self,
        role: str,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        log: Path | None = None,
        stdin: bool = False,
    ) -> subprocess.Popen[str]:
        """Start ``python args…`` inside the host's namespace."""
        host = self.hosts[role]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", host.name, sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=log.open("w") if log else subprocess.DEVNULL,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._procs.append(proc)
        return proc

    def spawn_peer(
        self,
        host: str,
        role: str,
        url: str,
        *args: str,
        log: Path | None = None,
        stdin: bool = False,
    ) -> subprocess.Popen[str]:
        """Start one app's core (``tests.call.peer_process``: call, home link, guardian,
        records) as ``role`` inside ``host``'s namespace, reporting JSON lines."""
        command = ["-m", "tests.call.peer_process", role, url, *args]
        return self.spawn(host, command, log=log, stdin=stdin)

    # -- faults

    def run_in(self, role: str, *command: str, check: bool = True) -> None:
        """``command`` inside the host's namespace."""
        _run("ip", "netns", "exec", self.hosts[role].name, *command, check=check)

    def nft(self, role: str, *rule: str) -> None:
        self.run_in(role, "nft", *rule)

    def _fault(self, role: str, hook: str, *rule: str) -> None:
        """One rule in the host's ``fault`` table, on its ``hook`` chain (both made if
        missing: nft's ``add`` keeps what is there)."""
        self.nft(role, "add", "table", "inet", "fault")
        chain = f"{{ type filter hook {hook} priority 0; }}"
        self.nft(role, "add", "chain", "inet", "fault", hook, chain)
        self.nft(role, "add", "rule", "inet", "fault", hook, *rule)

    def cut(self, role: str, direction: str = "both") -> None:
        """Drop everything the host sends (``out``), receives (``in``) or both."""
        hooks = {"out": ["output"], "in": ["input"], "both": ["output", "input"]}[direction]
        for hook in hooks:
            iface = "iifname" if hook == "input" else "oifname"
            self._fault(role, hook, iface, "!=", "lo", "drop")

    def isolate(self, role: str, reachable: Sequence[str]) -> None:
        """Keep only the hosts in ``reachable`` within reach (a WAN cut, the LAN intact)."""
        keep = ", ".join(self.hosts[r].address for r in reachable)
        for hook, field_ in (("output", "daddr"), ("input", "saddr")):
            others = ["ip", field_, "!=", f"{{ {keep} }}", "ip", field_, "!=", "127.0.0.0/8"]
            self._fault(role, hook, *others, "drop")

    def loss(self, role: str, percent: int) -> None:
        random_drop = ["numgen", "random", "mod", "100", "<", str(percent), "drop"]
        self._fault(role, "output", "oifname", "!=", "lo", *random_drop)

    def rate_limit(self, role: str, kbit: int, burst: str = "16kb", latency: str = "200ms") -> None:
        """A ``tbf`` on what the host sends: ``burst`` leaves at once, the rest queues."""
        tbf = ["tbf", "rate", f"{kbit}kbit", "burst", burst, "latency", latency]
        self.run_in(role, "tc", "qdisc", "add", "dev", self.hosts[role].veth, "root", *tbf)

    def heal(self, role: str) -> None:
        self.run_in(role, "nft", "delete", "table", "inet", "fault", check=False)
        self.run_in(role, "tc", "qdisc", "del", "dev", self.hosts[role].veth, "root", check=False)

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        for host in self.hosts.values():
            _run("ip", "netns", "del", host.name, check=False)
        _run("ip", "netns", "del", self.bridge_ns, check=False)
        self.hosts.clear()


needs_netns = [
    pytest.mark.netns,
    pytest.mark.skipif(NetLab.available() is not None, reason=str(NetLab.available())),
]
"""``pytestmark`` for tests that build hosts: skipped, with the reason, where they cannot."""


# -- the clinic and its apps on lab hosts --------------------------------------------------


def add_therapist(data_dir: Path, name: str) -> str:
    """Create a therapist with the real CLI; returns the one-time secret."""
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "companion",
            "server",
            "add-therapist",
            name,
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return added.stdout.strip().split()[-1]


def start_server(
    lab: NetLab, data_dir: Path, log: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    """The real ``companion server`` on the lab's ``srv`` host; returns it and its URL."""
    address = lab.hosts["srv"].address
    srv = lab.spawn(
        "srv",
        [
            "-m",
            "companion",
            "server",
            "--host",
            address,
            "--port",
            "8765",
            "--data-dir",
            str(data_dir),
        ],
        log=log,
    )
    assert srv.stdout is not None and "listening" in srv.stdout.readline()
    return srv, f"ws://{address}:8765/ws"


@dataclass
class Reports:
    """JSON lines from app processes (``tests.call.peer_process``), stamped on arrival."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, role: str, proc: subprocess.Popen[str]) -> None:
        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                with self.lock:
                    self.lines.append({"role": role, "at": time.monotonic(), **json.loads(line)})

        threading.Thread(target=read, daemon=True).start()

    def matching(
        self, role: str | None, event: str, since: float = 0.0, **match: Any
    ) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m
                for m in self.lines
                if (role is None or m["role"] == role)
                and m["event"] == event
                and m["at"] >= since
                and all(m.get(k) == v for k, v in match.items())
            ]

    def first(
        self, role: str, event: str, since: float, timeout: float, **match: Any
    ) -> dict[str, Any] | None:
        """The first such line since ``since``, waiting up to ``timeout``; None if none came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(role, event, since, **match)
            if found:
                return found[0]
            time.sleep(0.02)
        return None

    def since(self, start: float, event: str = "link") -> list[tuple[str, str, float]]:
        """(role, state, seconds after ``start``) of each state report since ``start``."""
        return [(m["role"], m["state"], m["at"] - start) for m in self.matching(None, event, start)]

    def wait_for(self, start: float, wanted: dict[str, str], timeout: float) -> float:
        """Wait until each role's latest link state is the wanted one; returns when."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            latest = {role: (state, at) for role, state, at in self.since(start)}
            if all(latest.get(r, ("", 0.0))[0] == s for r, s in wanted.items()):
                return max(latest[r][1] for r in wanted)
            time.sleep(0.05)
        raise AssertionError(f"never reached {wanted}: {self.since(start)}")

    def expect(
        self, role: str, event: str, since: float, timeout: float, **match: Any
    ) -> dict[str, Any]:
        found = self.first(role, event, since, timeout, **match)
        if found is None:
            raise AssertionError(f"{role} never reported {event} {match}")
        return found


def first_line(proc: subprocess.Popen[str], event: str, timeout: float) -> dict[str, Any]:
    """Read an app process's JSON lines until one of ``event`` (before anyone follows it)."""
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
