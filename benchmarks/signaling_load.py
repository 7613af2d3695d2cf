"""Signaling load: many live sessions x 3 members relaying events at a realistic rate.

    .venv/bin/python benchmarks/signaling_load.py [--sessions 200] [--seconds 60]
                                                   [--rate-scale 1.0] [--warmup 5]
                                                   [--profile-server FILE]

Setup. The signaling server runs in its own process (this file re-run with ``--serve``:
the same ``SignalingServer`` that ``companion server`` runs, bound to 127.0.0.1 on a free
port, data in a temporary directory, logging as ``companion server`` logs), so its CPU
and memory are measured for it alone. A clinic of ``ceil(sessions / 10)`` therapists is
added to its database before it starts; each therapist signs in once and creates ten
sessions. Every session then gets three WebSocket clients in this process, on one asyncio
loop: the therapist (access token + session id), the patient and the support person
(their invite tokens). The clients are plain aiohttp WebSockets speaking the protocol
(``companion.protocol.messages`` builds what they send), lighter than ``SignalingClient``,
and they answer the server's pings (``autoping=True``) because every one of them is always
reading.

Rates (``--rate-scale`` multiplies them; each interval is jittered by ±20 % and every
member starts at a random offset within its first interval):

* patient: every 2 s — ``music.status`` (what plays), every 10th one a ``checkin``;
* therapist: every 5 s — ``link.state`` (its monitor's link to the patient);
* support person: every 10 s — ``link.state``, every 3rd one ``vitals``.

That is 0.8 events/s per session, 160 events/s and 480 fanned-out copies/s for 200
sessions (the server also echoes each event to its sender and acknowledges it).

Figures. ``relay`` latency runs from just before the sender's ``send_str`` to the moment
each *other* member of the session has read the fanned-out event (matched by event id;
one process, one ``time.perf_counter``); only events sent inside the measured window
count, which starts after ``--warmup`` seconds of sending and lasts ``--seconds``.
``server_cpu_pct`` is the server process's CPU time (user + system, all threads) over the
measured window / wall time x 100, i.e. % of one core; ``server_rss_mb`` the largest RSS
sampled (every 0.5 s) in the window. ``errors`` adds up: error messages received,
connections that dropped, deliveries to other members still missing 2 s after the last
send, duplicate deliveries, events never acknowledged, and exceptions in the clients.

Bounds: sessions 1-1000, seconds 1-3600, rate scale 0.05-20 (the server allows 30
messages/s per connection); every setup step and the whole run have time limits, and the
server exits when this process closes its stdin (or dies). Only 127.0.0.1 is used.

The exit code is 0 whether or not the targets (relay p99 < 20 ms, errors = 0) are met;
it is non-zero only if the benchmark itself fails. The last line printed is one JSON
object; the line before it is a short human summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import itertools
import json
import logging
import math
import os
import random
import resource
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from companion.protocol import authority
from companion.protocol.messages import (
    CheckIn,
    CreateSession,
    EventBody,
    Join,
    LinkState,
    Login,
    MusicStatus,
    SendEvent,
    Vitals,
)

SCRIPT = Path(__file__).resolve()
ROLES = ("therapist", "patient", "support")
PERIOD_S = {"patient": 2.0, "therapist": 5.0, "support": 10.0}
SESSIONS_PER_THERAPIST = 10
GRACE_S = 2.0
"""After the last send: deliveries still missing then count as errors."""
REQUEST_TIMEOUT_S = 15.0
SETUP_CONCURRENCY = 40
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 10.0


class SetupFailed(RuntimeError):
    pass


# --------------------------------------------------------------------------- server process


def serve(data_dir: Path, therapists: int, profile: Path | None, max_lifetime_s: float) -> None:
    """The server process: add the clinic's therapists, start, print one JSON line, serve
    until stdin closes, SIGTERM, or ``max_lifetime_s``."""
    from companion.server.app import ServerConfig, SignalingServer

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("companion").setLevel(logging.INFO)  # as `companion server` does

    async def run() -> None:
        config = ServerConfig(data_dir=data_dir, host="127.0.0.1", port=0, own_process=True)
        server = SignalingServer(config)
        clinic = []
        for i in range(therapists):
            therapist, secret = server.db.add_therapist(f"bench-{i:03d}")
            clinic.append([therapist.name, secret])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        stdin = sys.stdin.fileno()

        def stdin_readable() -> None:
            if not os.read(stdin, 4096):  # EOF: the benchmark is done (or gone)
                loop.remove_reader(stdin)
                stop.set()

        loop.add_reader(stdin, stdin_readable)
        lags: list[tuple[float, float]] = []
        pauses: list[tuple[float, int, float]] = []
        gc.callbacks.append(functools.partial(_gc_pause, pauses, {}))
        async with server:
            print(json.dumps({"url": server.ws_url, "therapists": clinic}), flush=True)
            lag = asyncio.create_task(loop_lag(lags, math.inf))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max_lifetime_s)
            lag.cancel()
        # For the benchmark: when this loop woke late (one clock for all processes here).
        (data_dir.parent / LAG_FILE).write_text(json.dumps({"lags": lags, "gc": pauses}))

    if profile is None:
        asyncio.run(run())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(run())
    finally:
        profiler.disable()
        profiler.dump_stats(str(profile))


@dataclass
class ServerProcess:
    proc: asyncio.subprocess.Process
    url: str
    therapists: list[tuple[str, str]]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


async def start_server(
    data_dir: Path,
    therapists: int,
    profile: Path | None,
    max_lifetime_s: float,
    nofile: int | None = None,
) -> ServerProcess:
    """``nofile``: the server's file-descriptor limit (``ulimit -n``), if not inherited."""
    log_path = data_dir.parent / "server.log"
    args = [
        sys.executable,
        str(SCRIPT),
        "--serve",
        str(data_dir),
        "--therapists",
        str(therapists),
        "--max-lifetime",
        str(max_lifetime_s),
    ]
    if profile is not None:
        args += ["--profile-server", str(profile)]
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            preexec_fn=None if nofile is None else functools.partial(_limit_files, nofile),
            # A session of its own, as a service has: with Linux's autogroup scheduling the
            # load generator's CPU is then not taken from the server's share.
            start_new_session=True,
        )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), SERVER_START_TIMEOUT_S)
        hello = json.loads(line)
    except (TimeoutError, ValueError) as exc:
        proc.kill()
        await proc.wait()
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SetupFailed(f"server did not start ({type(exc).__name__}):\n{tail}") from exc
    return ServerProcess(
        proc, hello["url"], [(name, secret) for name, secret in hello["therapists"]], log_path
    )


def _limit_files(nofile: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


async def stop_server(server: ServerProcess) -> None:
    proc = server.proc
    if proc.returncode is None and proc.stdin is not None:
        proc.stdin.close()  # EOF: the server stops itself (and writes its profile)
    try:
        await asyncio.wait_for(proc.wait(), SERVER_STOP_TIMEOUT_S)
    except TimeoutError:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class InFlight:
    sent_at: float
    sender: int
    waiting: set[int]
    """Other members of the session that have not read it yet."""
    measured: bool
    acked: bool = False


@dataclass
class Tally:
    inflight: dict[str, InFlight] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    events_sent: int = 0

    def count_undelivered(self) -> None:
        """Deliveries still missing and events never acknowledged count as errors."""
        missing = sum(len(f.waiting) for f in self.inflight.values())
        unacked = sum(not f.acked for f in self.inflight.values())
        if missing:
            self.errors["missing_deliveries"] += missing
        if unacked:
            self.errors["unacknowledged"] += unacked

    def exception(self, where: str, exc: BaseException) -> None:
        self.errors["exceptions"] += 1
        if self.errors["exceptions"] <= 5:
            print(f"signaling_load: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)


@dataclass
class Member:
    index: int
    session: int
    role: str
    ws: aiohttp.ClientWebSocketResponse
    tally: Tally
    peers: dict[int, str] = field(default_factory=dict)
    """The session's other members: index -> role."""
    member_id: str = ""
    closing: bool = False
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    def on_text(self, data: str, now: float) -> None:
        message = json.loads(data)
        kind = message.get("type")
        if kind == "event":
            flight = self.tally.inflight.get(message["event_id"])
            if flight is None or flight.sender == self.index:
                return  # not ours (member changes) or the sender's own copy
            if self.index in flight.waiting:
                flight.waiting.discard(self.index)
                if flight.measured:
                    self.tally.latencies_ms.append((now - flight.sent_at) * 1000.0)
            else:
                self.tally.errors["duplicates"] += 1
        elif kind == "event_ack":
            flight = self.tally.inflight.get(message["event_id"])
            if flight is not None:
                flight.acked = True
        elif kind == "error":
            future = self.pending.pop(message.get("rid") or "", None)
            if future is not None and not future.done():
                future.set_exception(SetupFailed(f"{self.role}: error {message.get('code')}"))
            self.tally.errors["error_messages"] += 1
            self.tally.error_codes[str(message.get("code"))] += 1
        else:
            future = self.pending.pop(message.get("rid") or "", None)
            if future is not None and not future.done():
                future.set_result(message)

    async def read(self) -> None:
        ws = self.ws
        try:
            while True:
                msg = await ws.receive()
                now = time.perf_counter()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self.on_text(msg.data, now)
                elif msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue  # autoping answers; not normally surfaced
                else:
                    break
        except Exception as exc:
            self.tally.exception(f"reader {self.role}", exc)
        finally:
            if not self.closing:
                self.tally.errors["drops"] += 1
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self.pending.clear()

    async def request(self, message: Any) -> dict[str, Any]:
        rid = f"r{next(_rids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = future
        await self.ws.send_str(
            message.model_copy(update={"rid": rid}).model_dump_json(exclude_none=True)
        )
        return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


_rids = itertools.count(1)


async def connect(
    http: aiohttp.ClientSession, url: str, index: int, session: int, role: str, tally: Tally
) -> Member:
    ws = await http.ws_connect(
        url,
        autoping=True,
        heartbeat=None,
        compress=0,
        max_msg_size=1024 * 1024,
        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
    )
    first = await ws.receive(timeout=REQUEST_TIMEOUT_S)
    if first.type is not aiohttp.WSMsgType.TEXT or json.loads(first.data).get("type") != "welcome":
        await ws.close()
        raise SetupFailed("server did not greet")
    member = Member(index, session, role, ws, tally)
    member.reader = asyncio.create_task(member.read(), name=f"reader-{index}")
    return member


# --------------------------------------------------------------------------- the load


def event_body(member: Member, count: int, patient_id: str) -> EventBody:
    if member.role == "patient":
        if count % 10 == 9:
            return CheckIn(kind="checkin", source="button")
        position = float((count * 2) % 300)
        return MusicStatus(
            kind="music.status",
            playing=True,
            title="Slow Tide",
            position_s=position,
            duration_s=300.0,
            volume_db=-12.0,
        )
    if member.role == "support" and count % 3 == 2:
        return Vitals(kind="vitals", systolic=118, diastolic=78, heart_rate=72)
    return LinkState(kind="link.state", state="connected", peer=patient_id)


async def send_loop(
    member: Member, patient_id: str, rate_scale: float, window: tuple[float, float, float]
) -> None:
    """Send at this member's rate from ``start`` until ``end``; the events sent inside
    [``measure_from``, ``end``) are measured."""
    start, measure_from, end = window
    tally = member.tally
    period = PERIOD_S[member.role] / rate_scale
    next_at = start + random.uniform(0.0, period)
    try:
        for count in itertools.count():
            if next_at >= end:
                return
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event_id = str(uuid.uuid4())
            event = event_body(member, count, patient_id)
            payload = SendEvent(type="event", event_id=event_id, event=event).model_dump_json(
                exclude_none=True
            )
            # Only the members whose role may read it get it (the authority table).
            readers = authority.readers_of(event.kind)
            waiting = {i for i, role in member.peers.items() if role in readers}
            sent_at = time.perf_counter()
            tally.inflight[event_id] = InFlight(
                sent_at, member.index, waiting, measure_from <= sent_at < end
            )
            tally.events_sent += 1
            await member.ws.send_str(payload)
            next_at += period * random.uniform(0.8, 1.2)
    except Exception as exc:
        tally.exception(f"sender {member.role}", exc)


LAG_FILE = "server-lag.json"
LAG_TICK_S = 0.05


async def loop_lag(samples: list[tuple[float, float]], until: float) -> None:
    """How late this loop wakes up from a short sleep: (when, ms late) for each tick. For
    the load generator, a check on itself; for the server, where its time goes."""
    while (before := time.perf_counter()) < until:
        await asyncio.sleep(LAG_TICK_S)
        now = time.perf_counter()
        samples.append((now, (now - before - LAG_TICK_S) * 1000.0))


def _gc_pause(
    pauses: list[tuple[float, int, float]],
    started: dict[str, float],
    phase: str,
    info: dict[str, int],
) -> None:
    """``gc.callbacks`` entry: (when it ended, generation, ms) of each collection."""
    now = time.perf_counter()
    if phase == "start":
        started["at"] = now
    elif "at" in started:
        pauses.append((now, info["generation"], (now - started.pop("at")) * 1000.0))


def lag_in(samples: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [ms for at, ms in samples if start <= at < end]


async def sample_rss(proc: psutil.Process, samples: list[float], start: float, end: float) -> None:
    while (now := time.perf_counter()) < end:
        if now >= start:
            with contextlib.suppress(psutil.Error):
                samples.append(proc.memory_info().rss / 2**20)
        await asyncio.sleep(0.5)


def cpu_seconds(proc: psutil.Process) -> float | None:
    """User + system CPU time of all the process's threads (None once it has gone)."""
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def percent_of_core(before: float | None, after: float | None, wall: float) -> float | None:
    if before is None or after is None or wall <= 0:
        return None
    return round(100.0 * (after - before) / wall, 1)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --------------------------------------------------------------------------- setup


async def seat_clinic(
    http: aiohttp.ClientSession,
    server: ServerProcess,
    sessions: int,
    tally: Tally,
    http_for: Callable[[int], aiohttp.ClientSession] | None = None,
) -> list[list[Member]]:
    """Create the sessions and seat three members in each; returns members by session.
    ``http_for(session)``: the client session (its source address) a session's members
    connect through; ``http`` for all when not given."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    members: list[Member] = []  # everything connected, to close it if setup fails

    async def create_for(
        therapist: tuple[str, str], count: int
    ) -> list[tuple[str, dict[str, Any]]]:
        name, secret = therapist
        async with gate:
            admin = await connect(http, server.url, -1, -1, "admin", tally)
            members.append(admin)
            ok = await admin.request(Login(type="login", therapist=name, secret=secret))
            created = []
            for _ in range(count):
                reply = await admin.request(CreateSession(type="create_session", label="load"))
                created.append((ok["access_token"], reply))
            await admin.close()
            return created

    per_therapist = [
        min(SESSIONS_PER_THERAPIST, sessions - i * SESSIONS_PER_THERAPIST)
        for i in range(len(server.therapists))
    ]
    created_lists = await asyncio.gather(
        *(create_for(t, n) for t, n in zip(server.therapists, per_therapist, strict=True))
    )
    created = [
        (name, token, reply)
        for (name, _secret), batch in zip(server.therapists, created_lists, strict=True)
        for token, reply in batch
    ]

    async def seat(session: int, role: str, name: str, token: str, reply: dict[str, Any]) -> Member:
        async with gate:
            member = await connect(
                http_for(session) if http_for else http,
                server.url,
                session * 3 + ROLES.index(role),
                session,
                role,
                tally,
            )
            members.append(member)
            if role == "therapist":
                await member.request(Login(type="login", therapist=name, access_token=token))
                joined = await member.request(
                    Join(type="join", session_id=reply["session"]["session_id"])
                )
            else:
                invite = next(i["token"] for i in reply["invites"] if i["role"] == role)
                joined = await member.request(Join(type="join", invite=invite, as_role=role))  # type: ignore[arg-type]
            member.member_id = joined["member_id"]
            return member

    try:
        seated = await asyncio.gather(
            *(
                seat(s, role, name, token, reply)
                for s, (name, token, reply) in enumerate(created)
                for role in ROLES
            )
        )
    except BaseException:
        await asyncio.gather(*(m.close() for m in members), return_exceptions=True)
        raise
    by_session = [list(seated[s * 3 : s * 3 + 3]) for s in range(sessions)]
    for trio in by_session:
        for member in trio:
            member.peers = {m.index: m.role for m in trio if m is not member}
    return by_session


# --------------------------------------------------------------------------- the run


async def run(
    sessions: int, seconds: float, rate_scale: float, warmup: float, profile: Path | None
) -> dict[str, Any]:
    random.seed(20240607)
    tally = Tally()
    setup_budget = 60.0 + sessions * 0.3
    max_lifetime = setup_budget + warmup + seconds + GRACE_S + 120.0
    with tempfile.TemporaryDirectory(prefix="signaling-load-") as tmp:
        therapists = math.ceil(sessions / SESSIONS_PER_THERAPIST)
        server = await start_server(Path(tmp) / "server", therapists, profile, max_lifetime)
        try:
            result = await measure(
                server, sessions, seconds, rate_scale, warmup, setup_budget, tally
            )
        except BaseException:
            tail = server.log_tail()
            if tail:
                print(f"signaling_load: server log tail:\n{tail}", file=sys.stderr)
            raise
        finally:
            await stop_server(server)
        log_problems = [
            line
            for line in server.log_tail(10_000).splitlines()
            if " WARNING " in line or " ERROR " in line or " CRITICAL " in line
        ]
        result["server_log_warnings"] = len(log_problems)
        for line in log_problems[:5]:
            print(f"signaling_load: server: {line}", file=sys.stderr)
        if server.proc.returncode not in (0, None):
            print(f"signaling_load: server exited with {server.proc.returncode}", file=sys.stderr)
    return result


async def measure(
    server: ServerProcess,
    sessions: int,
    seconds: float,
    rate_scale: float,
    warmup: float,
    setup_budget: float,
    tally: Tally,
) -> dict[str, Any]:
    server_ps = psutil.Process(server.proc.pid)
    me = psutil.Process()
    connector = aiohttp.TCPConnector(limit=0)  # the default limit (100) would queue sockets
    async with aiohttp.ClientSession(connector=connector) as http:
        setup_started = time.perf_counter()
        try:
            async with asyncio.timeout(setup_budget):
                by_session = await seat_clinic(http, server, sessions, tally)
        except TimeoutError as exc:
            raise SetupFailed(f"setup took longer than {setup_budget:.0f} s") from exc
        setup_s = time.perf_counter() - setup_started
        members = [m for trio in by_session for m in trio]
        errors_in_setup = sum(tally.errors.values())
        # The clients' long-lived objects need no more collecting; spare the loop the scans.
        gc.collect()
        gc.freeze()

        start = time.perf_counter() + 0.2
        measure_from = start + warmup
        end = measure_from + seconds
        lags: list[tuple[float, float]] = []
        rss_mb: list[float] = []
        senders = [
            asyncio.create_task(
                send_loop(member, trio[1].member_id, rate_scale, (start, measure_from, end))
            )
            for trio in by_session
            for member in trio
        ]
        monitors = [
            asyncio.create_task(loop_lag(lags, end)),
            asyncio.create_task(sample_rss(server_ps, rss_mb, measure_from, end)),
        ]
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu0, my0, wall0 = cpu_seconds(server_ps), cpu_seconds(me), time.perf_counter()
        lags.clear()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu1, my1, wall1 = cpu_seconds(server_ps), cpu_seconds(me), time.perf_counter()
        with contextlib.suppress(psutil.Error):
            rss_mb.append(server_ps.memory_info().rss / 2**20)
        async with asyncio.timeout(30.0):
            await asyncio.gather(*senders, *monitors)
        await asyncio.sleep(GRACE_S)

        tally.count_undelivered()
        if server.proc.returncode is not None:
            tally.errors["server_exited"] += 1
        errors = dict(tally.errors)  # before closing: our own closes are not drops
        await asyncio.gather(*(m.close() for m in members), return_exceptions=True)

    wall = wall1 - wall0
    lat = tally.latencies_ms
    lag_ms = [ms for _, ms in lags]
    return {
        "sessions": sessions,
        "relay_p50_ms": rounded(percentile(lat, 50)),
        "relay_p99_ms": rounded(percentile(lat, 99)),
        "errors": sum(errors.values()),
        "server_cpu_pct": percent_of_core(cpu0, cpu1, wall),
        "server_rss_mb": round(max(rss_mb), 1) if rss_mb else None,
        "members": len(members),
        "seconds": seconds,
        "warmup_s": warmup,
        "rate_scale": rate_scale,
        "events_sent": tally.events_sent,
        "relays_measured": len(lat),
        "server_rss_growth_mb": round(rss_mb[-1] - rss_mb[0], 1) if rss_mb else None,
        "relay_p999_ms": rounded(percentile(lat, 99.9)),
        "relay_max_ms": rounded(max(lat)) if lat else None,
        "error_detail": errors,
        "error_codes": dict(tally.error_codes),
        "errors_during_setup": errors_in_setup,
        "setup_s": round(setup_s, 1),
        "client_cpu_pct": percent_of_core(my0, my1, wall),
        "client_loop_lag_p99_ms": rounded(percentile(lag_ms, 99)),
        "client_loop_lag_max_ms": rounded(max(lag_ms)) if lag_ms else None,
    }


# --------------------------------------------------------------------------- command line


def bounded(low: float, high: float, kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def command_line(
    doc: str | None,
    sessions: tuple[int, int],
    seconds: tuple[float, float, float],
    warmup: float,
    rate_scale: bool = True,
) -> argparse.ArgumentParser:
    """The options every signaling benchmark takes: ``sessions`` is (most, default),
    ``seconds`` (least, most, default); ``rate_scale``: whether it has ``--rate-scale``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=bounded(1, sessions[0], int), default=sessions[1])
    parser.add_argument(
        "--seconds",
        type=bounded(*seconds[:2], float),
        default=seconds[2],
        help="length of the measured window",
    )
    parser.add_argument(
        "--warmup",
        type=bounded(0, 60, float),
        default=warmup,
        help="seconds of sending before the measured window",
    )
    if rate_scale:
        parser.add_argument(
            "--rate-scale",
            type=bounded(0.05, 20, float),
            default=1.0,
            help="multiplies every member's event rate",
        )
    return parser


def report(
    name: str,
    result: dict[str, Any],
    summary: str,
    relay_p99_ms: float,
    more: dict[str, bool] | None = None,
) -> int:
    """The last two lines of every signaling benchmark: a short summary with the targets
    missed (relay p99 below ``relay_p99_ms``, no errors, and ``more``), then the figures as
    one JSON object. The exit code is 0 whether or not the targets were met."""
    targets = {
        f"relay p99 < {relay_p99_ms:g} ms": (result["relay_p99_ms"] or math.inf) < relay_p99_ms,
        "0 errors": result["errors"] == 0,
        **(more or {}),
    }
    missed = [target for target, met in targets.items() if not met]
    verdict = f"MISSED: {', '.join(missed)}" if missed else "all targets met"
    print(f"{name}: {summary}; {verdict}")
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = command_line(__doc__, sessions=(1000, 200), seconds=(1, 3600, 60.0), warmup=5.0)
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="FILE",
        help="run the server under cProfile and write its stats here",
    )
    # The server process (this file, re-run).
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--therapists", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--max-lifetime", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve is not None:
        serve(args.serve, args.therapists, args.profile_server, args.max_lifetime)
        return 0

    profile = args.profile_server.resolve() if args.profile_server else None
    result = asyncio.run(run(args.sessions, args.seconds, args.rate_scale, args.warmup, profile))
    if profile is not None and profile.exists():
        import pstats

        stats = pstats.Stats(str(profile), stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
    return report(
        "signaling_load",
        result,
        f"{result['sessions']} sessions x 3 members, {result['events_sent']} events; relay p50 "
        f"{result['relay_p50_ms']} ms, p99 {result['relay_p99_ms']} ms; errors "
        f"{result['errors']}; server {result['server_cpu_pct']} % of a core, "
        f"{result['server_rss_mb']} MB",
        relay_p99_ms=20,
    )


if __name__ == "__main__":
    sys.exit(main())
