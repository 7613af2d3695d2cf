"""The clinic server under attack from one address while a clinic's sessions go on.

    .venv/bin/python benchmarks/server_attack.py [--sessions 200] [--seconds 30]
                                                 [--warmup 3] [--slowloris 1050]
                                                 [--ping-flooders 4] [--outbox-flooders 4]
                                                 [--nofile 1024]

Setup. The signaling server runs in its own process as ``benchmarks/signaling_load.py``
runs it (``SignalingServer`` with its default limits, logging as ``companion server``
does), started with ``ulimit -n`` of ``--nofile``. The legitimate clinic is
``signaling_load``'s: ``--sessions`` sessions x 3 members relaying 0.8 events/s per
session; each session's members connect from their own address (127.0.1.N: patients are
at home, not behind the attacker's address). Two more sessions give the attacker four
seats (one leaked invite each).

Attack, from 127.0.0.2 only, for the whole measured window, in a process and session of
its own (so its work does not slow the legitimate clients' loop, which measures, and with
Linux's autogroup scheduling its CPU is not taken from the server's share: an attacker
has a machine of their own):

* slowloris: ``--slowloris`` connections at once, each sending part of a WebSocket
  upgrade and never the rest; one closed (by the server's deadline) or refused (over the
  address's share) is opened again a second later;
* ping flood: ``--ping-flooders`` connections sending WebSocket pings as fast as the
  socket takes them, reconnecting when closed;
* outbox flood: ``--outbox-flooders`` sessions whose support seat never reads while its
  patient seat sends it 48 KB offers as fast as it may, joining again when dropped.

Figures (last line, JSON): ``relay_p99_ms`` (legitimate events, sender to each other
member, measured window), ``join_p95_s`` (fresh legitimate clients from fresh addresses
connecting and joining with an invite, two a second during the attack), ``healthz_max_s``
(``GET /healthz`` on a new connection four times a second), ``server_rss_growth_mb``
(largest RSS during the attack minus RSS just before it), ``log_growth_mb`` (bytes the
server wrote to its log during the attack), ``errors`` (legitimate errors, drops, lost or
unacknowledged events, failed joins and health checks), plus what the attacker achieved.
To tell the server's delays from the machine's: ``server_loop_lag_p99_ms`` and ``_max_ms``
(how late the server's loop woke from 50 ms sleeps in the window), ``server_gc`` (its
collections per generation in the window: count, longest ms), ``client_loop_lag_max_ms``,
the CPU of each process and the load average. On a machine shared with other work the
relay figure follows the load average more than the attack: read it with those.
Targets: relay p99 < 20 ms, join p95 <= 1 s, healthz max <= 1 s, RSS growth < 50 MB, log
growth < 1 MB, 0 errors. The exit code is 0 whether or not they are met. Only
127.0.0.0/8 is used; every loop is bounded by the window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import signaling_load as load

from companion.protocol.messages import CreateSession, Login

SCRIPT = Path(__file__).resolve()
ATTACKER = "127.0.0.2"
LEGIT_ADDRESSES = 64
"""Legitimate members come from 127.0.1.1 … 127.0.1.64 (a session's three share one)."""
OFFER_SDP = "v" * 48_000
PROBE_JOIN_EVERY_S = 0.5
PROBE_HEALTH_EVERY_S = 0.25
PROBE_TIMEOUT_S = 10.0


@dataclass
class Attack:
    """What the attacker managed (for the report, not the targets)."""

    partial_open: int = 0
    partial_attempts: int = 0
    pings_sent: int = 0
    ping_connections: int = 0
    offers_sent: int = 0
    outbox_joins: int = 0


async def next_text(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next server message, past pings (the attacker's sockets answer none)."""
    while True:
        msg = await ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            reply: dict[str, Any] = json.loads(msg.data)
            return reply
        if msg.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            raise ConnectionError(f"closed ({msg.type.name})")


def source(address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, local_addr=(address, 0), force_close=True)
    return aiohttp.ClientSession(connector=connector)


# --------------------------------------------------------------------------- the attacker


async def slowloris_one(host: str, port: int, until: float, attack: Attack) -> None:
    while time.perf_counter() < until:
        attack.partial_attempts += 1
        writer = None
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(ATTACKER, 0))
            writer.write(b"GET /ws HTTP/1.1\r\nHost: clinic\r\nUpgrade: websocket\r\n")
            attack.partial_open += 1
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, until - time.perf_counter())):
                        while await reader.read(4096):
                            pass
            finally:
                attack.partial_open -= 1
        except OSError:
            pass
        finally:
            if writer is not None:
                writer.close()
        await asyncio.sleep(1.0)


async def ping_flood_one(url: str, until: float, attack: Attack) -> None:
    async with source(ATTACKER) as http:
        while time.perf_counter() < until:
            try:
                ws = await http.ws_connect(url, autoping=False, heartbeat=None)
            except (OSError, aiohttp.ClientError):
                await asyncio.sleep(1.0)
                continue
            attack.ping_connections += 1
            try:
                while time.perf_counter() < until and not ws.closed:
                    for _ in range(100):
                        await ws.ping(b"flood")
                    attack.pings_sent += 100
                    await asyncio.sleep(0)  # let the loop breathe: one process for all
            except (OSError, aiohttp.ClientError, RuntimeError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)
            await asyncio.sleep(0.2)


async def _seat(
    http: aiohttp.ClientSession, url: str, invite: str, device: str
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A raw seat from the attacker's address: its socket and member id."""
    ws = await http.ws_connect(url, autoping=False, heartbeat=None)
    async with asyncio.timeout(PROBE_TIMEOUT_S):
        await next_text(ws)  # welcome
        await ws.send_str(json.dumps({"type": "join", "invite": invite, "device": device}))
        reply = await next_text(ws)
        while reply.get("type") not in ("joined", "error"):
            reply = await next_text(ws)
    if reply.get("type") != "joined":
        await ws.close()
        raise ConnectionError(reply.get("code"))
    return ws, str(reply["member_id"])


async def outbox_flood_one(url: str, seats: str, until: float, attack: Attack) -> None:
    """Both seats of one session: the support seat never reads, and the patient seat sends
    it large offers along the home link's path (the only signals the table lets it send
    there), so its queue fills with bytes."""
    patient_invite, support_invite = seats.split("+")
    devices = (secrets.token_urlsafe(24), secrets.token_urlsafe(24))  # one install each
    async with source(ATTACKER) as http:
        while time.perf_counter() < until:
            try:
                sink, sink_id = await _seat(http, url, support_invite, devices[1])
            except (OSError, aiohttp.ClientError, TimeoutError, ValueError, ConnectionError):
                await asyncio.sleep(1.0)
                continue
            attack.outbox_joins += 1
            transport = sink._response.connection.transport if sink._response.connection else None
            if transport is not None:
                transport.pause_reading()  # never read again
            sender: aiohttp.ClientWebSocketResponse | None = None
            offer = json.dumps(
                {
                    "type": "signal",
                    "to": sink_id,
                    "pc_id": "home-flood",
                    "data": {"kind": "offer", "sdp": OFFER_SDP},
                }
            )
            try:
                sender, _ = await _seat(http, url, patient_invite, devices[0])
                while time.perf_counter() < until and not sink.closed:
                    await asyncio.wait_for(sender.send_str(offer), 2.0)
                    attack.offers_sent += 1
                    await asyncio.sleep(0.01)
            except (OSError, aiohttp.ClientError, RuntimeError, TimeoutError, ConnectionError):
                pass
            finally:
                for ws in (sender, sink):
                    if ws is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(ws.close(), 1.0)
            await asyncio.sleep(0.5)


async def attack_for(
    url: str,
    invites: list[str],
    seconds: float,
    slowloris: int,
    ping_flooders: int,
    outbox_flooders: int,
) -> Attack:
    attack = Attack()
    until = time.perf_counter() + seconds
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])
    floods = [
        *(asyncio.create_task(ping_flood_one(url, until, attack)) for _ in range(ping_flooders)),
        *(
            asyncio.create_task(outbox_flood_one(url, invites[n], until, attack))
            for n in range(outbox_flooders)
        ),
    ]
    await asyncio.sleep(1.0)  # the floods in first: slowloris then takes the address's share
    await asyncio.gather(*(slowloris_one(host, port, until, attack) for _ in range(slowloris)))
    await asyncio.gather(*floods)
    return attack


async def start_attacker(
    url: str, invites: list[str], args: argparse.Namespace
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--attack",
        url,
        "--attack-invites",
        ",".join(invites),
        "--seconds",
        str(args.seconds + args.warmup),
        "--slowloris",
        str(args.slowloris),
        "--ping-flooders",
        str(args.ping_flooders),
        "--outbox-flooders",
        str(args.outbox_flooders),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        # A session of its own: with Linux's autogroup scheduling the attacker's CPU is
        # then not taken from the server's and clients' share, as on a machine of its own.
        start_new_session=True,
    )


# --------------------------------------------------------------------------- the probes


async def probe_joins(
    url: str, invites: list[str], until: float, seconds: list[float], failures: list[str]
) -> None:
    """Fresh clients from fresh addresses join (then leave) while the attack runs."""
    addresses = itertools.cycle(f"127.0.2.{n}" for n in range(1, 250))
    tasks = []

    async def one(address: str, invite: str) -> None:
        started = time.perf_counter()
        try:
            async with source(address) as http, asyncio.timeout(PROBE_TIMEOUT_S):
                ws = await http.ws_connect(url, heartbeat=None)
                await next_text(ws)  # welcome
                await ws.send_str(json.dumps({"type": "join", "invite": invite}))
                while True:
                    reply = await next_text(ws)
                    if reply.get("type") == "joined":
                        break
                    if reply.get("type") == "error":
                        raise ConnectionError(reply.get("code"))
                seconds.append(time.perf_counter() - started)
                await ws.send_str(json.dumps({"type": "leave"}))
                await ws.close()
        except Exception as exc:
            failures.append(f"join: {type(exc).__name__} {exc}")

    for n in itertools.count():
        if time.perf_counter() >= until:
            break
        tasks.append(asyncio.create_task(one(next(addresses), invites[n % len(invites)])))
        await asyncio.sleep(PROBE_JOIN_EVERY_S)
    await asyncio.gather(*tasks)


async def probe_health(
    http_url: str, until: float, seconds: list[float], failures: list[str]
) -> None:
    async with source("127.0.3.1") as http:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S), http.get(f"{http_url}/healthz") as r:
                    await r.read()
                    if r.status != 200:
                        failures.append(f"healthz: {r.status}")
            except Exception as exc:
                failures.append(f"healthz: {type(exc).__name__}")
            seconds.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_HEALTH_EVERY_S)


# --------------------------------------------------------------------------- the run


async def extra_sessions(server: load.ServerProcess, count: int) -> list[dict[str, Any]]:
    """Sessions outside the measured clinic: the attacker's seats and the probes' invites."""
    async with source("127.0.0.1") as http:
        admin = await load.connect(http, server.url, -1, -1, "admin", load.Tally())
        name, secret = server.therapists[0]
        await admin.request(Login(type="login", therapist=name, secret=secret))
        created = [await admin.request(CreateSession(type="create_session")) for _ in range(count)]
        await admin.close()
        return created


async def measure(server: load.ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    tally = load.Tally()
    server_ps = psutil.Process(server.proc.pid)
    legit = [source(f"127.0.1.{n}") for n in range(1, LEGIT_ADDRESSES + 1)]
    async with source("127.0.0.1") as http:
        try:
            async with asyncio.timeout(60.0 + args.sessions * 0.3):
                by_session = await load.seat_clinic(
                    http,
                    server,
                    args.sessions,
                    tally,
                    http_for=lambda s: legit[s % LEGIT_ADDRESSES],
                )
            probe_count = max(2, math.ceil(PROBE_TIMEOUT_S / PROBE_JOIN_EVERY_S))
            flooders = args.outbox_flooders
            extra = await extra_sessions(server, flooders + math.ceil(probe_count / 2))
        except TimeoutError as exc:
            raise load.SetupFailed("setup took too long") from exc
        # Each flooder holds one session's two seats: "patient-invite+support-invite".
        attacker_invites = [
            "+".join(
                i["token"] for r in ("patient", "support") for i in s["invites"] if i["role"] == r
            )
            for s in extra[:flooders]
        ]
        probe_invites = [i["token"] for s in extra[flooders:] for i in s["invites"]]
        members = [m for trio in by_session for m in trio]
        errors_in_setup = sum(tally.errors.values())
        gc.collect()
        gc.freeze()

        start = time.perf_counter() + 0.2
        measure_from = start + args.warmup
        end = measure_from + args.seconds
        rss0 = server_ps.memory_info().rss / 2**20
        log0 = server.log_path.stat().st_size
        rss_mb: list[float] = []
        lags: list[tuple[float, float]] = []
        senders = [
            asyncio.create_task(
                load.send_loop(m, trio[1].member_id, 1.0, (start, measure_from, end))
            )
            for trio in by_session
            for m in trio
        ]
        http_url = server.url.replace("ws://", "http://", 1).removesuffix("/ws")
        attacker = await start_attacker(server.url, attacker_invites, args)
        attacker_ps = psutil.Process(attacker.pid)
        cpu0 = [load.cpu_seconds(p) for p in (server_ps, attacker_ps)]
        wall0 = time.perf_counter()
        join_s: list[float] = []
        health_s: list[float] = []
        failures: list[str] = []
        probes = [
            asyncio.create_task(probe_joins(server.url, probe_invites, end, join_s, failures)),
            asyncio.create_task(probe_health(http_url, end, health_s, failures)),
            asyncio.create_task(load.sample_rss(server_ps, rss_mb, start, end)),
            asyncio.create_task(load.loop_lag(lags, end)),
        ]
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu1 = [load.cpu_seconds(p) for p in (server_ps, attacker_ps)]
        wall = time.perf_counter() - wall0
        async with asyncio.timeout(60.0):
            await asyncio.gather(*senders, *probes)
            out, _ = await attacker.communicate()
        attack = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
        await asyncio.sleep(load.GRACE_S)
        with contextlib.suppress(psutil.Error):
            rss_mb.append(server_ps.memory_info().rss / 2**20)
        log_growth = server.log_path.stat().st_size - log0

        tally.count_undelivered()
        if failures:
            tally.errors["probe_failures"] += len(failures)
            for failure in failures[:5]:
                print(f"server_attack: {failure}", file=sys.stderr)
        if server.proc.returncode is not None:
            tally.errors["server_exited"] += 1
        errors = dict(tally.errors)
        await asyncio.gather(*(m.close() for m in members), return_exceptions=True)
    for session in legit:
        await session.close()

    lat = tally.latencies_ms
    return {
        "relay_p99_ms": load.rounded(load.percentile(lat, 99)),
        "join_p95_s": load.rounded(load.percentile(join_s, 95), 3),
        "healthz_max_s": load.rounded(max(health_s) if health_s else None, 3),
        "server_rss_growth_mb": round(max(rss_mb) - rss0, 1) if rss_mb else None,
        "log_growth_mb": round(log_growth / 2**20, 3),
        "errors": sum(errors.values()),
        "sessions": args.sessions,
        "seconds": args.seconds,
        "relay_p50_ms": load.rounded(load.percentile(lat, 50)),
        "relays_measured": len(lat),
        "joins_measured": len(join_s),
        "health_checks": len(health_s),
        "error_detail": errors,
        "error_codes": dict(tally.error_codes),
        "errors_during_setup": errors_in_setup,
        "attack": attack,
        "server_nofile": args.nofile,
        "server_cpu_pct": load.percent_of_core(cpu0[0], cpu1[0], wall),
        "attacker_cpu_pct": load.percent_of_core(cpu0[1], cpu1[1], wall),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "client_loop_lag_max_ms": load.rounded(
            max(load.lag_in(lags, measure_from, end), default=None)
        ),
        "window": (measure_from, end),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="server-attack-") as tmp:
        therapists = math.ceil(args.sessions / load.SESSIONS_PER_THERAPIST)
        lifetime = 180.0 + args.sessions * 0.3 + args.warmup + args.seconds
        server = await load.start_server(
            Path(tmp) / "server", therapists, None, lifetime, nofile=args.nofile
        )
        try:
            result = await measure(server, args)
        except BaseException:
            print(f"server_attack: server log tail:\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            await load.stop_server(server)
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                shutil.copy(server.log_path, args.logs / "server.log")
        window = result.pop("window")
        with contextlib.suppress(OSError, ValueError):
            stats = json.loads((Path(tmp) / load.LAG_FILE).read_text())
            server_lag = load.lag_in(stats["lags"], *window)
            result["server_loop_lag_p99_ms"] = load.rounded(load.percentile(server_lag, 99))
            result["server_loop_lag_max_ms"] = load.rounded(max(server_lag, default=None))
            gcs = [(gen, ms) for at, gen, ms in stats["gc"] if window[0] <= at < window[1]]
            result["server_gc"] = {
                f"gen{g}": [
                    len(ms := [m for gen, m in gcs if gen == g]),
                    load.rounded(max(ms, default=None)),
                ]
                for g in range(3)
            }
        for line in server.log_tail(20).splitlines()[-5:]:
            print(f"server_attack: server: {line}", file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = load.command_line(
        __doc__, sessions=(500, 200), seconds=(2, 600, 30.0), warmup=3.0, rate_scale=False
    )
    parser.add_argument("--slowloris", type=load.bounded(0, 5000, int), default=1050)
    parser.add_argument("--ping-flooders", type=load.bounded(0, 64, int), default=4)
    parser.add_argument("--outbox-flooders", type=load.bounded(0, 4, int), default=4)
    parser.add_argument(
        "--nofile",
        type=load.bounded(256, 1_048_576, int),
        default=1024,
        help="the server's ulimit -n",
    )
    parser.add_argument("--logs", type=Path, metavar="DIR", help="keep the server's log here")
    parser.add_argument("--attack", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--attack-invites", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:  # the attacker's own process
        attack = asyncio.run(
            attack_for(
                args.attack,
                args.attack_invites.split(","),
                args.seconds,
                args.slowloris,
                args.ping_flooders,
                args.outbox_flooders,
            )
        )
        print(json.dumps({k: v for k, v in vars(attack).items() if k != "counters"}))
        return 0
    result = asyncio.run(run(args))
    return load.report(
        "server_attack",
        result,
        f"{result['sessions']} sessions under attack for {result['seconds']} s: relay p99 "
        f"{result['relay_p99_ms']} ms, join p95 {result['join_p95_s']} s, healthz max "
        f"{result['healthz_max_s']} s, RSS +{result['server_rss_growth_mb']} MB, log "
        f"+{result['log_growth_mb']} MB, errors {result['errors']}",
        relay_p99_ms=20,
        more={
            "join p95 <= 1 s": (result["join_p95_s"] or math.inf) <= 1,
            "healthz max <= 1 s": (result["healthz_max_s"] or math.inf) <= 1,
            "RSS growth < 50 MB": (result["server_rss_growth_mb"] or 0) < 50,
            "log growth < 1 MB": result["log_growth_mb"] < 1,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
