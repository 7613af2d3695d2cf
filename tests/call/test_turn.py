"""Calls through a real coturn relay, between hosts that cannot reach each other.

Five namespaces: the signaling server (``srv``), coturn (``turn``, ``use-auth-secret``,
relay ports 49160-49200), the therapist and the patient. nftables on the patient's and the
therapist's hosts drop everything not to or from ``srv`` and ``turn``, so a direct path
between them does not exist. The server hands each member TURN REST credentials made
from coturn's shared secret; the call must connect through the relay.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from companion.server.ice import turn_credentials
from devtools.netlab import NetLab, Reports, add_therapist, first_line, needs_netns

pytestmark = [
    *needs_netns,
    pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn is not installed"),
]

TURN_PORT = 3478
TURN_SECRET = "lab-only-turn-secret-4b1d"  # a throwaway secret for this lab's coturn
SERVER_PORT = 8765


@dataclass
class TurnLab:
    lab: NetLab
    url: str
    secret: str
    """The therapist's sign-in secret."""
    tmp: Path

    @property
    def turn_address(self) -> str:
        return self.lab.hosts["turn"].address


def _coturn_config(address: str, folder: Path) -> Path:
    """The same settings docs/deploy.md gives, on this lab's address."""
    config = folder / "turnserver.conf"
    config.write_text(
        "\n".join(
            [
                f"listening-ip={address}",
                f"relay-ip={address}",
                f"listening-port={TURN_PORT}",
                "realm=turn.companion.test",
                "use-auth-secret",
                f"static-auth-secret={TURN_SECRET}",
                "min-port=49160",
                "max-port=49200",
                "fingerprint",
                "no-cli",
                "no-tls",
                "no-dtls",
                "no-multicast-peers",
                f"pidfile={folder / 'turnserver.pid'}",
                f"userdb={folder / 'turndb'}",
                f"log-file={folder / 'coturn.log'}",
                "simple-log",
                "no-stdout-log",
            ]
        )
        + "\n"
    )
    config.chmod(0o600)
    return config


def _allocate(lab: NetLab, username: str, password: str) -> dict[str, object]:
    """One TURN allocation from the patient's host (aioice's TURN client)."""
    proc = lab.spawn(
        "pat",
        [
            "-m",
            "tests.call.turn_peer",
            "allocate",
            lab.hosts["turn"].address,
            str(TURN_PORT),
            username,
            password,
        ],
    )
    line = first_line(proc, "allocate", timeout=20)
    proc.wait(timeout=10)
    return line


@pytest.fixture(scope="module")
def turn_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnLab]:
    tmp = tmp_path_factory.mktemp("turn")
    secret = add_therapist(tmp / "server", "dr-turn")
    (tmp / "turn.secret").write_text(TURN_SECRET + "\n")
    with NetLab() as lab:
        for role in ("srv", "turn", "ther", "pat"):
            lab.add_host(role)
        for role in ("ther", "pat"):
            lab.isolate(role, reachable=["srv", "turn"])  # no direct path between them
        turn = lab.hosts["turn"]
        coturn = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                turn.name,
                "turnserver",
                "-c",
                str(_coturn_config(turn.address, tmp)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "coturn.err").open("w"),
        )
        try:
            srv = lab.hosts["srv"].address
            server = lab.spawn(
                "srv",
                [
                    "-m",
                    "companion",
                    "server",
                    "--host",
                    srv,
                    "--port",
                    str(SERVER_PORT),
                    "--data-dir",
                    str(tmp / "server"),
                    "--turn",
                    f"turn:{turn.address}:{TURN_PORT}?transport=udp",
                    "--turn-secret-file",
                    str(tmp / "turn.secret"),
                ],
                log=tmp / "server.log",
            )
            assert server.stdout is not None and "listening" in server.stdout.readline()
            # coturn is ready when it grants an allocation with valid credentials.
            username, password = turn_credentials(TURN_SECRET, "probe", ttl_s=600)
            deadline = time.monotonic() + 15
            while not _allocate(lab, username, password)["ok"]:
                assert time.monotonic() < deadline, (tmp / "coturn.log").read_text()[-2000:]
                time.sleep(0.3)
            yield TurnLab(lab, f"ws://{srv}:{SERVER_PORT}/ws", secret, tmp)
        finally:
            coturn.kill()
            coturn.wait(timeout=10)


def test_expired_turn_credentials_are_refused(turn_lab: TurnLab) -> None:
    fresh = turn_credentials(TURN_SECRET, "member1", ttl_s=600)
    expired = turn_credentials(TURN_SECRET, "member1", ttl_s=-60)  # correctly signed, but past
    forged = (fresh[0], turn_credentials("not-the-secret", "member1", ttl_s=600)[1])
    assert _allocate(turn_lab.lab, *fresh)["ok"] is True
    refused = _allocate(turn_lab.lab, *expired)
    assert refused["ok"] is False and "401" in str(refused["error"]), refused
    assert _allocate(turn_lab.lab, *forged)["ok"] is False


def _call(turn: TurnLab, relay_only: bool) -> Reports:
    """A call between the therapist's and the patient's hosts; returns their reports once
    both are connected and have heard each other."""
    lab, reports = turn.lab, Reports()
    extra = ["--relay-only"] if relay_only else []
    # --secret=…: a one-time secret may begin with "-".
    ther = lab.spawn(
        "ther",
        [
            "-m",
            "tests.call.turn_peer",
            "call",
            "therapist",
            turn.url,
            "--name",
            "dr-turn",
            f"--secret={turn.secret}",
            "--seconds",
            "25",
            *extra,
        ],
        log=turn.tmp / f"ther-{relay_only}.log",
    )
    invite = first_line(ther, "invite", timeout=20)
    assert invite["relay_only"] is relay_only
    reports.follow("therapist", ther)
    pat = lab.spawn(
        "pat",
        [
            "-m",
            "tests.call.turn_peer",
            "call",
            "patient",
            turn.url,
            "--invite",
            str(invite["token"]),
            "--seconds",
            "25",
        ],
        log=turn.tmp / f"pat-{relay_only}.log",
    )
    reports.follow("patient", pat)
    try:
        for role in ("patient", "therapist"):
            reports.expect(role, "call_state", 0, 20, state="connected")
            reports.expect(role, "pair", 0, 5)
        for role, hz in (("patient", 660.0), ("therapist", 440.0)):
            heard = reports.expect(role, "audio", time.monotonic(), 6)  # media flows now
            assert abs(float(heard["hz"]) - hz) < 20, heard
    finally:
        for proc in (pat, ther):
            proc.terminate()
            proc.wait(timeout=15)
    return reports


def test_call_connects_through_the_relay(turn_lab: TurnLab) -> None:
    reports = _call(turn_lab, relay_only=False)
    for role in ("patient", "therapist"):
        joined = reports.matching(role, "joined")[0]
        assert joined["policy"] == "all" and joined["turn"] is True, joined
        pair = reports.matching(role, "pair")[0]
        # The only working path runs through coturn: one end of the pair is its relay.
        assert "relay" in (pair["local_type"], pair["remote_type"]), pair
        relay_end = pair["local"] if pair["local_type"] == "relay" else pair["remote"]
        assert relay_end == turn_lab.turn_address, pair


def test_relay_only_hides_the_addresses(turn_lab: TurnLab) -> None:
    reports = _call(turn_lab, relay_only=True)
    hosts = turn_lab.lab.hosts
    for role, other in (("patient", "ther"), ("therapist", "pat")):
        assert reports.matching(role, "joined")[0]["policy"] == "relay"
        descriptions = reports.matching(role, "sdp")
        assert descriptions, f"{role} received no offer/answer"
        received = [c for d in descriptions for c in d["candidates"]]
        assert received and {c["typ"] for c in received} == {"relay"}, received
        addresses = {c["address"] for c in received}
        assert addresses == {turn_lab.turn_address}, addresses
        # Nowhere in what it received (candidates, c= lines, related addresses) is the
        # other side's address.
        assert not any(hosts[other].address in d["ips"] for d in descriptions), descriptions
        pair = reports.matching(role, "pair")[0]
        assert (pair["local_type"], pair["remote_type"]) == ("relay", "relay"), pair
        assert pair["local"] == pair["remote"] == turn_lab.turn_address, pair
