"""Signaling on two nodes over Redis: many sessions spread across both, one node killed.

    .venv/bin/python benchmarks/signaling_cluster.py [--sessions 1000] [--seconds 60]
                                                      [--warmup 5] [--rate-scale 1.0]
                                                      [--kill-at 0.5]

Setup. A real ``redis-server`` and two real ``companion server --redis`` processes (nodes
A and B), all on 127.0.0.1 on free ports, data in a temporary directory. The clinic's
accounts and signing key are made once and each node gets its own copy of that data
directory (as docs/deploy.md says to deploy them). ``ceil(sessions / 10)`` therapists each
sign in on one node and create ten sessions. Every session then seats three WebSocket
clients in this process (``signaling_load``'s plain aiohttp clients): the therapist on one
node, the patient on the other, and the support person on either (alternating), so every
session spans both nodes and each node holds half of the members.

Load. The same events and rates as ``signaling_load`` (patient every 2 s, therapist every
5 s, support person every 10 s, ±20 % jitter: 0.8 events/s per session), sent by one
scheduler. Each client behaves as ``companion.signaling`` does: every event waits in an
outbox until acknowledged, the client remembers the last ``seq`` it applied and ignores
anything at or below it.

Failover. At ``--kill-at`` of the measured window node B is killed with SIGKILL. Its
clients see their socket close, connect to node A at once (then back off 0.25, 0.5, 1, 2 s
while it refuses), ``resume`` with their token and last ``seq``, receive what they missed,
and re-send their unacknowledged events under the same ids. Sending never stops meanwhile
(events made while offline wait in the outbox).

Figures (last line, JSON):

* ``relay_p99_ms``: from just before the sender's ``send_str`` to each other member
  reading the event (one process, one clock), for events sent in the measured window
  outside the failover window (from 0.5 s before the kill until 1 s after the last
  resume); ``cross_node_p99_ms`` the same for sender and reader on different nodes (they
  all happen before the kill). ``failover_relay_p99_ms`` is the figure inside the window.
* ``failover_resume_p95_s``: from the SIGKILL to a moved client's ``joined`` (resumed).
* ``events_lost``: (event, other member) pairs never delivered, 2 s after the last send;
  ``events_doubled``: an event id applied twice by one member (two ``seq``s for it).
* ``errors``: error messages, drops other than those the kill caused, failed resumes,
  events never acknowledged, lost and doubled events, exceptions in the clients.

Bounds: sessions 1-1500, seconds 4-3600; every step has a time limit; the nodes and Redis
(each in a session of its own, as services are, so the clients' CPU is not taken from
theirs under Linux's autogroup scheduling) are stopped when this process ends. Only
127.0.0.1 is used. The exit code is 0 whether or not the targets (relay p99 < 50 ms,
0 errors, failover resume p95 ≤ 5 s, 0 events lost) are met; the line before the JSON
says which were.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import heapq
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import signaling_load as load

from companion.protocol import authority
from companion.protocol.messages import CreateSession, Join, Login, Resume, SendEvent
from companion.server.app import load_or_create_key, open_clinic_db

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.services import free_port, redis_command

NODES = 2
KILLED = 1
"""Node B (index 1) is the one killed."""
RECONNECT_BACKOFF_S = (0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0)
FAILOVER_MARGIN_S = (0.5, 1.0)
"""The failover window runs from this long before the kill to this long after the last resume."""
START_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- processes


@dataclass
class Processes:
    folder: Path
    redis: asyncio.subprocess.Process | None = None
    redis_url: str = ""
    nodes: list[asyncio.subprocess.Process] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def node_log(self, node: int) -> Path:
        return self.folder / f"node-{'AB'[node]}.log"

    async def start_redis(self) -> None:
        port = free_port()
        self.redis = await asyncio.create_subprocess_exec(
            *redis_command(port, self.folder),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # as the nodes: see start_node
        )
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    return
                await asyncio.sleep(0.05)

    async def start_node(self, node: int, data_dir: Path) -> None:
        with self.node_log(node).open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "companion",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                "--redis",
                self.redis_url,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                # A session of its own, as a service has: with Linux's autogroup scheduling
                # the 3,000 clients' CPU (this process) is then not taken from the nodes'
                # share, as it would not be on a clinic's servers.
                start_new_session=True,
            )
        self.nodes.append(proc)
        assert proc.stdout is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)).decode()
            # "companion server listening on ws://127.0.0.1:PORT/ws (data in …)"
            self.urls.append(line.split(" on ", 1)[1].split()[0])
        except (TimeoutError, IndexError) as exc:
            tail = self.node_log(node).read_text(errors="replace")[-3000:]
            raise load.SetupFailed(f"node {'AB'[node]} did not start:\n{tail}") from exc

    def keep_logs(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for node in range(NODES):
            shutil.copy(self.node_log(node), folder)

    def warnings(self, node: int) -> list[str]:
        with contextlib.suppress(OSError):
            lines = self.node_log(node).read_text(errors="replace").splitlines()
            return [line for line in lines if " WARNING " in line or " ERROR " in line]
        return []

    async def stop(self) -> None:
        for proc in [*self.nodes, self.redis]:
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10.0)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


def make_clinic(folder: Path, therapists: int) -> list[tuple[str, str]]:
    """Accounts and the signing key made once, then one copy of the data per node."""
    base = folder / "clinic"
    db = open_clinic_db(base)
    clinic = []
    for i in range(therapists):
        therapist, secret = db.add_therapist(f"bench-{i:03d}")
        clinic.append((therapist.name, secret))
    db.close()
    load_or_create_key(base)
    for node in range(NODES):
        shutil.copytree(base, folder / f"node-{'AB'[node]}")
    return clinic


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Flight(load.InFlight):
    sender_node: int = 0


@dataclass
class Figures(load.Tally):
    samples: list[tuple[float, float, bool]] = field(default_factory=list)
    """(sent_at, latency ms, cross-node) of every measured delivery."""
    kill_at: float | None = None
    resumes_s: list[float] = field(default_factory=list)
    resumed_at: list[float] = field(default_factory=list)
    doubled: int = 0


@dataclass
class Client:
    index: int
    session: int
    role: str
    node: int
    figures: Figures
    urls: list[str]
    link: load.Member | None = None
    member_id: str = ""
    resume_token: str = ""
    last_seq: int = 0
    peers: list[int] = field(default_factory=list)
    outbox: dict[str, str] = field(default_factory=dict)
    """Unacknowledged events (id -> message), re-sent after a resume."""
    applied: set[str] = field(default_factory=set)
    online: bool = False
    closing: bool = False
    moved: bool = False
    """On the node killed, when it was killed: its first resume after is a failover's."""
    watcher: asyncio.Task[None] | None = None
    retries: set[asyncio.Task[None]] = field(default_factory=set)

    async def open(self, http: aiohttp.ClientSession, node: int) -> load.Member:
        """A new socket to ``node`` (signaling_load's client), read by this client."""
        link = await load.connect(
            http, self.urls[node], self.index, self.session, self.role, load.Tally()
        )
        # The reader task has not run yet: it hands every text frame to this client.
        link.on_text = functools.partial(self.on_text, link)  # type: ignore[method-assign]
        self.link, self.node = link, node
        self.watcher = asyncio.create_task(self.watch(http, link))
        return link

    def on_text(self, link: load.Member, data: str, now: float) -> None:
        message = json.loads(data)
        kind = message.get("type")
        figures = self.figures
        if kind == "event":
            seq = message["seq"]
            if seq <= self.last_seq:
                return  # already applied (a replay overlapping what arrived live)
            self.last_seq = seq
            event_id = message["event_id"]
            if event_id in self.applied:
                figures.doubled += 1
            self.applied.add(event_id)
            flight = figures.inflight.get(event_id)
            if not isinstance(flight, Flight) or flight.sender == self.index:
                return
            flight.waiting.discard(self.index)
            if flight.measured:
                cross = flight.sender_node != self.node
                figures.samples.append((flight.sent_at, (now - flight.sent_at) * 1000.0, cross))
        elif kind == "event_ack":
            self.outbox.pop(message["event_id"], None)
            flight = figures.inflight.get(message["event_id"])
            if flight is not None:
                flight.acked = True
        else:
            if kind == "error":
                figures.errors["error_messages"] += 1
                figures.error_codes[str(message.get("code"))] += 1
                if message.get("code") == "unavailable" and not message.get("rid"):
                    # An event refused for now (it carries no rid): retry shortly, same ids.
                    retry = asyncio.create_task(self.retry_outbox(link))
                    self.retries.add(retry)
                    retry.add_done_callback(self.retries.discard)
            future = link.pending.pop(message.get("rid") or "", None)
            if future is not None and not future.done():
                if kind == "error":
                    future.set_exception(load.SetupFailed(f"error {message.get('code')}"))
                else:
                    future.set_result(message)

    def seated(self, joined: dict[str, Any]) -> None:
        self.member_id = joined["member_id"]
        self.resume_token = joined["resume_token"]
        if not joined["resumed"]:  # events after it may have been read already
            self.last_seq = max(self.last_seq, joined["last_seq"])
        self.online = True

    async def watch(self, http: aiohttp.ClientSession, link: load.Member) -> None:
        """When the socket ends: count what should not have happened, then fail over."""
        assert link.reader is not None
        with contextlib.suppress(asyncio.CancelledError):
            await link.reader
        if self.closing or link.closing or link is not self.link:
            return  # closed on purpose, or an older socket
        self.online = False
        figures = self.figures
        expected = figures.kill_at is not None and self.node == KILLED
        if not expected:
            figures.errors["drops"] += 1
            figures.errors["exceptions"] += link.tally.errors["exceptions"]
        await self.fail_over(http)

    async def fail_over(self, http: aiohttp.ClientSession) -> None:
        figures = self.figures
        for attempt, pause in enumerate(RECONNECT_BACKOFF_S):
            await asyncio.sleep(pause)
            if self.closing:
                return
            node = (self.node + 1 + attempt) % NODES
            link = None
            try:
                link = await self.open(http, node)
                joined = await link.request(
                    Resume(type="resume", resume_token=self.resume_token, last_seq=self.last_seq)
                )
            except (OSError, aiohttp.ClientError, load.SetupFailed, TimeoutError):
                if link is not None:
                    await link.close()
                continue
            self.seated(joined)
            now = time.perf_counter()
            if self.moved and figures.kill_at is not None:  # once each; a drop elsewhere is a drop
                self.moved = False
                figures.resumes_s.append(now - figures.kill_at)
                figures.resumed_at.append(now)
            for payload in list(self.outbox.values()):  # same ids: stored once
                await link.ws.send_str(payload)
            return
        figures.errors["resume_failed"] += 1

    async def retry_outbox(self, link: load.Member) -> None:
        await asyncio.sleep(0.5)
        for payload in list(self.outbox.values()) if link is self.link and self.online else []:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await link.ws.send_str(payload)

    async def send(self, payload: str, event_id: str) -> None:
        self.outbox[event_id] = payload
        if self.online and self.link is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.link.ws.send_str(payload)  # a dying socket: the outbox keeps it

    async def close(self) -> None:
        self.closing = True
        if self.link is not None:
            await self.link.close()
        if self.watcher is not None:
            self.watcher.cancel()


# --------------------------------------------------------------------------- setup


def node_of(session: int, role: str) -> int:
    """Therapist and patient always on different nodes, the support person alternating."""
    return {"therapist": session % 2, "patient": (session + 1) % 2, "support": (session // 2) % 2}[
        role
    ]


async def seat_everyone(
    http: aiohttp.ClientSession,
    procs: Processes,
    clinic: list[tuple[str, str]],
    sessions: int,
    figures: Figures,
) -> list[Client]:
    gate = asyncio.Semaphore(load.SETUP_CONCURRENCY)

    async def sessions_of(t: int, count: int) -> list[tuple[str, dict[str, Any]]]:
        name, secret = clinic[t]
        async with gate:
            admin = await load.connect(http, procs.urls[t % NODES], -1, -1, "admin", load.Tally())
            try:
                ok = await admin.request(Login(type="login", therapist=name, secret=secret))
                return [
                    (
                        ok["access_token"],
                        await admin.request(CreateSession(type="create_session", label="cluster")),
                    )
                    for _ in range(count)
                ]
            finally:
                await admin.close()

    counts = [
        min(load.SESSIONS_PER_THERAPIST, sessions - t * load.SESSIONS_PER_THERAPIST)
        for t in range(len(clinic))
    ]
    batches = await asyncio.gather(*(sessions_of(t, n) for t, n in enumerate(counts)))
    made = [
        (clinic[t][0], token, reply) for t, batch in enumerate(batches) for token, reply in batch
    ]
    clients = [
        Client(s * 3 + r, s, role, node_of(s, role), figures, procs.urls)
        for s in range(sessions)
        for r, role in enumerate(load.ROLES)
    ]

    async def seat(client: Client) -> None:
        name, token, reply = made[client.session]
        async with gate:
            link = await client.open(http, client.node)
            if client.role == "therapist":
                await link.request(Login(type="login", therapist=name, access_token=token))
                request = Join(type="join", session_id=reply["session"]["session_id"])
            else:
                invite = next(i["token"] for i in reply["invites"] if i["role"] == client.role)
                request = Join(type="join", invite=invite, as_role=client.role)  # type: ignore[arg-type]
            client.seated(await link.request(request))

    try:
        await asyncio.gather(*(seat(c) for c in clients))
    except BaseException:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        raise
    for client in clients:
        trio = clients[client.session * 3 : client.session * 3 + 3]
        client.peers = [c.index for c in trio if c is not client]
    return clients


# --------------------------------------------------------------------------- the run


async def schedule(
    clients: list[Client], rate_scale: float, window: tuple[float, float, float], figures: Figures
) -> None:
    """One timer for everyone: each member sends at its role's pace until ``end``."""
    start, measure_from, end = window
    queue = [
        (start + random.uniform(0, load.PERIOD_S[c.role] / rate_scale), c.index, 0) for c in clients
    ]
    heapq.heapify(queue)
    while queue:
        at, index, count = heapq.heappop(queue)
        if at >= end:
            continue
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client = clients[index]
        assert client.link is not None
        patient = clients[client.session * 3 + 1].member_id
        event_id = str(uuid.uuid4())
        event = load.event_body(client.link, count, patient)
        payload = SendEvent(type="event", event_id=event_id, event=event).model_dump_json(
            exclude_none=True
        )
        # Only the members whose role may read it get it (the authority table): the
        # support person's vitals never reach the patient, and were counted lost.
        readers = authority.readers_of(event.kind)
        sent_at = time.perf_counter()
        figures.inflight[event_id] = Flight(
            sent_at,
            index,
            {peer for peer in client.peers if clients[peer].role in readers},
            measure_from <= sent_at < end,
            sender_node=client.node,
        )
        figures.events_sent += 1
        try:
            await client.send(payload, event_id)
        except Exception as exc:
            figures.exception("sender", exc)
        period = load.PERIOD_S[client.role] / rate_scale
        heapq.heappush(queue, (at + period * random.uniform(0.8, 1.2), index, count + 1))


async def run(
    sessions: int,
    seconds: float,
    warmup: float,
    rate_scale: float,
    kill_at: float,
    logs: Path | None,
) -> dict[str, Any]:
    random.seed(20240909)
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="signaling-cluster-") as tmp:
        folder = Path(tmp)
        clinic = make_clinic(folder, math.ceil(sessions / load.SESSIONS_PER_THERAPIST))
        procs = Processes(folder)
        try:
            await procs.start_redis()
            for node in range(NODES):
                await procs.start_node(node, folder / f"node-{'AB'[node]}")
            result = await measure(
                procs, clinic, sessions, seconds, warmup, rate_scale, kill_at, figures
            )
        finally:
            await procs.stop()
        warnings = [line for node in range(NODES) for line in procs.warnings(node)]
        for line in warnings[:5]:
            print(f"signaling_cluster: node: {line}", file=sys.stderr)
        result["node_log_warnings"] = len(warnings)
        if logs is not None:
            procs.keep_logs(logs)
    return result


def timeline(warmup: float, seconds: float, kill_fraction: float) -> tuple[float, ...]:
    """When sending starts, measuring starts, everything ends and node B dies."""
    start = time.perf_counter() + 0.2
    measure_from = start + warmup
    return start, measure_from, measure_from + seconds, measure_from + seconds * kill_fraction


async def measure(
    procs: Processes,
    clinic: list[tuple[str, str]],
    sessions: int,
    seconds: float,
    warmup: float,
    rate_scale: float,
    kill_fraction: float,
    figures: Figures,
) -> dict[str, Any]:
    node_ps = [psutil.Process(p.pid) for p in procs.nodes]
    assert procs.redis is not None
    redis_ps, me = psutil.Process(procs.redis.pid), psutil.Process()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        setup_started = time.perf_counter()
        try:
            async with asyncio.timeout(60.0 + sessions * 0.3):
                clients = await seat_everyone(http, procs, clinic, sessions, figures)
        except TimeoutError as exc:
            raise load.SetupFailed("setup took too long") from exc
        setup_s = time.perf_counter() - setup_started
        errors_in_setup = sum(figures.errors.values())
        gc.collect()  # the clients' long-lived objects: no more scans of them
        gc.freeze()
        start, measure_from, end, kill_at = timeline(warmup, seconds, kill_fraction)
        lags: list[tuple[float, float]] = []
        sender = asyncio.create_task(
            schedule(clients, rate_scale, (start, measure_from, end), figures)
        )
        lag = asyncio.create_task(load.loop_lag(lags, end))
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        lags.clear()
        cpu0 = [load.cpu_seconds(p) for p in (*node_ps, redis_ps, me)]
        wall0 = time.perf_counter()
        await asyncio.sleep(max(0.0, kill_at - time.perf_counter()))
        cpu_kill = [load.cpu_seconds(p) for p in (*node_ps, redis_ps, me)]
        wall_kill = time.perf_counter()
        for c in clients:
            c.moved = c.node == KILLED
        moved = sum(c.moved for c in clients)
        figures.kill_at = time.perf_counter()
        os.kill(procs.nodes[KILLED].pid, signal.SIGKILL)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu1 = [load.cpu_seconds(p) for p in (*node_ps, redis_ps, me)]
        wall1 = time.perf_counter()
        async with asyncio.timeout(60.0):
            await asyncio.gather(sender, lag)
        # Everyone still moving gets up to 30 s more, then the grace period.
        give_up = time.perf_counter() + 30.0
        while len(figures.resumes_s) + figures.errors["resume_failed"] < moved:
            if time.perf_counter() > give_up:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(load.GRACE_S)

        lost = sum(len(f.waiting) for f in figures.inflight.values())
        unacked = sum(len(c.outbox) for c in clients)
        for key, count in (
            ("events_lost", lost),
            ("unacknowledged", unacked),
            ("events_doubled", figures.doubled),
            ("not_resumed", moved - len(figures.resumes_s)),
        ):
            if count:
                figures.errors[key] += count
        errors = dict(figures.errors)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    window_from = figures.kill_at - FAILOVER_MARGIN_S[0]
    window_to = max(figures.resumed_at, default=figures.kill_at) + FAILOVER_MARGIN_S[1]
    steady = [s for s in figures.samples if not window_from <= s[0] < window_to]
    during = [ms for at, ms, _ in figures.samples if window_from <= at < window_to]
    relay = [ms for _, ms, _ in steady]
    before = [ms for at, ms, _ in steady if at < window_from]
    after = [ms for at, ms, _ in steady if at >= window_to]
    cross = [ms for _, ms, is_cross in steady if is_cross]

    def cpu(i: int, before: list[float | None], after: list[float | None], wall: float) -> Any:
        return load.percent_of_core(before[i], after[i], wall)

    both_wall, one_wall = wall_kill - wall0, wall1 - wall_kill
    return {
        "sessions": sessions,
        "nodes": NODES,
        "relay_p99_ms": load.rounded(load.percentile(relay, 99)),
        "cross_node_p99_ms": load.rounded(load.percentile(cross, 99)),
        "errors": sum(errors.values()),
        "failover_resume_p95_s": load.rounded(load.percentile(figures.resumes_s, 95)),
        "events_lost": lost,
        "relay_p50_ms": load.rounded(load.percentile(relay, 50)),
        "cross_node_p50_ms": load.rounded(load.percentile(cross, 50)),
        "failover_resume_max_s": load.rounded(max(figures.resumes_s, default=None)),
        "resumed_within_s": {
            f"{s:g}": sum(r <= s for r in figures.resumes_s) for s in (0.5, 1, 2, 5, 10)
        },
        "failover_window_s": round(window_to - window_from, 2),
        "failover_relay_p99_ms": load.rounded(load.percentile(during, 99)),
        "relay_p99_ms_before_kill": load.rounded(load.percentile(before, 99)),
        "relay_p99_ms_after_failover": load.rounded(load.percentile(after, 99)),
        "events_doubled": figures.doubled,
        "members": len(clients),
        "moved": moved,
        "events_sent": figures.events_sent,
        "relays_measured": len(relay),
        "cross_node_measured": len(cross),
        "seconds": seconds,
        "warmup_s": warmup,
        "rate_scale": rate_scale,
        "events_per_s": round(0.8 * rate_scale * sessions, 1),
        "node_cpu_pct_both_up": [cpu(i, cpu0, cpu_kill, both_wall) for i in range(NODES)],
        "node_a_cpu_pct_alone": cpu(0, cpu_kill, cpu1, one_wall),
        "redis_cpu_pct": cpu(NODES, cpu0, cpu1, wall1 - wall0),
        "client_cpu_pct": cpu(NODES + 1, cpu0, cpu1, wall1 - wall0),
        "client_loop_lag_p99_ms": load.rounded(load.percentile([ms for _, ms in lags], 99)),
        "setup_s": round(setup_s, 1),
        "errors_during_setup": errors_in_setup,
        "error_detail": errors,
        "error_codes": dict(figures.error_codes),
    }


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = load.command_line(__doc__, sessions=(1500, 1000), seconds=(4, 3600, 60.0), warmup=5.0)
    parser.add_argument(
        "--kill-at",
        type=load.bounded(0.1, 0.9, float),
        default=0.5,
        help="when node B is killed, as a share of the measured window",
    )
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the nodes' logs here")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print(
            "signaling_cluster: redis-server is not installed (script/bootstrap)", file=sys.stderr
        )
        return 1
    result = asyncio.run(
        run(args.sessions, args.seconds, args.warmup, args.rate_scale, args.kill_at, args.logs)
    )
    return load.report(
        "signaling_cluster",
        result,
        f"{result['sessions']} sessions x 3 members on {NODES} nodes, {result['events_sent']} "
        f"events; relay p99 {result['relay_p99_ms']} ms (cross-node "
        f"{result['cross_node_p99_ms']} ms); {result['moved']} clients moved, resume p95 "
        f"{result['failover_resume_p95_s']} s; lost {result['events_lost']}; errors "
        f"{result['errors']}",
        relay_p99_ms=50,
        more={
            "failover resume p95 ≤ 5 s": (result["failover_resume_p95_s"] or math.inf) <= 5,
            "0 events lost": result["events_lost"] == 0,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
