"""Signaling load: 200 sessions x 3 members relaying at a realistic rate for 60 s.

    .venv/bin/python benchmarks/signaling_load.py [--sessions 200] [--seconds 60]

The server runs in its own process (``companion server`` on 127.0.0.1), so its CPU and
memory are its own; the 600 clients (real ``SignalingClient``s, answering pings) share
this process. Realistic rates for a live session: the patient's app reports what music
plays every 2 s, the therapist's app its link state every 5 s, the support person's app
something every 10 s; start times are staggered.

relay latency = the sender calls ``send_event`` -> another member's client has parsed the
fanned-out event (both clocks are this process's ``perf_counter``).
errors = error messages + connections that dropped + deliveries missing at the end.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.protocol.messages import EventBody, LinkState, MusicStatus, SessionEvent, Vitals
from companion.signaling.client import SignalingClient

RATES_S = {"patient": 2.0, "therapist": 5.0, "support": 10.0}


def body_for(role: str) -> EventBody:
    if role == "patient":
        return MusicStatus(kind="music.status", playing=True, title="Slow Tide", position_s=61.0,
                           duration_s=300.0, volume_db=-12.0)  # fmt: skip
    if role == "therapist":
        return LinkState(kind="link.state", state="connected")
    return Vitals(kind="vitals", systolic=120, diastolic=80, heart_rate=70)


class Meter:
    def __init__(self) -> None:
        self.sent: dict[str, tuple[float, int]] = {}  # event id -> (sent at, expected deliveries)
        self.delivered: dict[str, int] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.drops = 0
        self.measuring = False

    def on_event(self, message: SessionEvent) -> None:
        sent = self.sent.get(message.event_id)
        if sent is None:
            return
        self.delivered[message.event_id] = self.delivered.get(message.event_id, 0) + 1
        if self.measuring:
            self.latencies.append((time.perf_counter() - sent[0]) * 1000)


async def member(client: SignalingClient, role: str, meter: Meter, stop: asyncio.Event) -> None:
    period = RATES_S[role]
    await asyncio.sleep(random.uniform(0, period))
    while not stop.is_set():
        event_id = await client.send_event(body_for(role))
        # Every member sees it; the sender's own copy does not count as relay.
        meter.sent[event_id] = (time.perf_counter(), 2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


def start_server(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    added = subprocess.run(
        [sys.executable, "-m", "companion", "server", "add-therapist", "bench", "--data-dir", str(data)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "companion", "server", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    url = server.stdout.readline().split(" on ")[1].split()[0]
    return server, url, added.stdout.strip().split()[-1]


async def run(
    url: str, secret: str, server_pid: int, sessions: int, seconds: float
) -> dict[str, object]:
    random.seed(1)
    proc = psutil.Process(server_pid)
    admin = SignalingClient(url)
    await admin.connect()
    token = (await admin.login("bench", secret)).access_token
    meter = Meter()
    stop = asyncio.Event()
    clients: list[SignalingClient] = []
    tasks = []
    for _ in range(sessions):
        created = await admin.create_session("load")
        await asyncio.sleep(0.05)  # one admin connection stays under the server's rate limit
        invites: dict[str, str] = {i.role: i.token for i in created.invites}
        for role in ("therapist", "patient", "support"):
            client = SignalingClient(url)
            await client.connect()
            if role == "therapist":
                await client.login("bench", access_token=token)
                await client.join(session_id=created.session.session_id)
            else:
                await client.join(invite=invites[role])
            client.event_received.connect(meter.on_event)
            client.error_received.connect(lambda _e: setattr(meter, "errors", meter.errors + 1))
            client.state_changed.connect(
                lambda s: setattr(meter, "drops", meter.drops + (s == "reconnecting"))
            )
            clients.append(client)
            tasks.append(asyncio.create_task(member(client, role, meter, stop)))
    await asyncio.sleep(5.0)  # warm-up
    meter.measuring = True
    meter.latencies.clear()
    cpu0, wall0 = proc.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = proc.cpu_times(), time.monotonic()
    rss_mb = proc.memory_info().rss / 2**20
    meter.measuring = False
    stop.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(2.0)  # grace for the last deliveries
    # Each event reaches its two other members and comes back to its sender.
    missing = sum(
        max(0, expected + 1 - meter.delivered.get(event_id, 0))
        for event_id, (_, expected) in meter.sent.items()
    )
    for client in [*clients, admin]:
        await client.close()
    busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    lat = np.array(meter.latencies)
    return {
        "sessions": sessions,
        "members": len(clients),
        "seconds": seconds,
        "events_sent": len(meter.sent),
        "relayed": int(lat.size),
        "relay_p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
        "relay_p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None,
        "errors": meter.errors + meter.drops + missing,
        "server_cpu_pct": round(100 * busy / (wall1 - wall0), 1),
        "server_rss_mb": round(rss_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, url, secret = start_server(Path(tmp))
        try:
            result = asyncio.run(run(url, secret, server.pid, args.sessions, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"{result['sessions']} sessions: relay p50 {result['relay_p50_ms']} ms, p99 {result['relay_p99_ms']} ms, "
        f"errors {result['errors']}, server {result['server_cpu_pct']} % CPU, {result['server_rss_mb']} MB"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
