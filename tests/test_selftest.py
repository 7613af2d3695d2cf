"""``companion self-test`` (a person's check) and the desktop link handler, for real.

The device checks run in subprocesses whose HOME holds an ``.asoundrc`` (PortAudio reads
ALSA's configuration once, at start; the test process itself never starts PortAudio).
The network checks run in the test process against real servers on 127.0.0.1: the
signaling server, small aiohttp servers, and coturn when it is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioice import stun

from companion.selftest import (
    CheckResult,
    PersonOptions,
    TurnTarget,
    Verdict,
    check_server,
    check_turn,
    format_report,
    format_result,
    healthz_url,
    level_bar,
    parse_turn_url,
    run_person_checks,
    turn_from_health,
)
from companion.server.app import SignalingServer
from companion.server.ice import turn_credentials

ROOT = Path(__file__).resolve().parents[1]
NULL_ASOUNDRC = "pcm.!default { type null }\n"


def _closed_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------ the report


def test_report_gives_each_check_a_verdict_and_what_to_do() -> None:
    results = [
        CheckResult("Camera", Verdict.NOT_FOUND, "There is no camera.", "That is all right."),
        CheckResult("Microphone", Verdict.OK, "The microphone works."),
        CheckResult("Clinic server", Verdict.FAILED, "Could not reach it.", "Call the clinic."),
    ]
    text = format_report(results)
    lines = text.splitlines()
    assert lines[0] == "Companion self-test"
    assert "Camera         not found      There is no camera." in lines
    assert "Microphone     ok             The microphone works." in lines
    assert "Clinic server  failed         Could not reach it." in lines
    # The advice sits under its check, behind an arrow.
    at = lines.index("Clinic server  failed         Could not reach it.")
    assert lines[at + 1].strip() == "→ Call the clinic."
    assert "Something needs a look (Clinic server)" in text
    assert all(len(line) <= 78 for line in lines)


def test_report_closing_sentence_is_kind_when_nothing_failed() -> None:
    ok = [CheckResult("Speakers", Verdict.OK, "Played.")]
    assert "Everything needed for your session works" in format_report(ok)
    missing = [*ok, CheckResult("Camera", Verdict.NOT_FOUND, "No camera.", "All right.")]
    assert "that is all right" in format_report(missing)
    assert "Something needs a look" not in format_report(missing)


def test_long_details_wrap_under_their_column() -> None:
    result = CheckResult("Relay (TURN)", Verdict.FAILED, "word " * 40, "more " * 30)
    lines = format_result(result, width=60).splitlines()
    assert len(lines) > 4
    assert all(len(line) <= 60 for line in lines)
    assert all(line.startswith(" " * 30) for line in lines[1:])


def test_level_bar_spans_silence_to_full_scale() -> None:
    assert level_bar(-120) == "░" * 20
    assert level_bar(0) == "█" * 20
    assert level_bar(-30) == "█" * 10 + "░" * 10


# ------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("wss://clinic.example/ws", "https://clinic.example/healthz"),
        ("ws://127.0.0.1:8765/ws", "http://127.0.0.1:8765/healthz"),
        ("https://clinic.example:8443/", "https://clinic.example:8443/healthz"),
        ("clinic.example", "https://clinic.example/healthz"),
        ("wss://clinic.example/companion/ws", "https://clinic.example/companion/healthz"),
        (
            "companion://join?server=wss%3A%2F%2Fclinic.example%2Fws&role=patient&invite=x",
            "https://clinic.example/healthz",
        ),
    ],
)
def test_healthz_url_from_what_a_person_has(given: str, url: str) -> None:
    assert healthz_url(given) == url


@pytest.mark.parametrize("given", ["ftp://clinic.example", "companion://join?invite=x", "wss://"])
def test_healthz_url_refuses_what_is_not_a_server(given: str) -> None:
    with pytest.raises(ValueError):
        healthz_url(given)


def test_turn_urls() -> None:
    assert parse_turn_url("turn:turn.clinic.example") == TurnTarget("turn.clinic.example", 3478)
    assert parse_turn_url("turn:10.0.0.1:3479?transport=tcp") == TurnTarget("10.0.0.1", 3479, "tcp")
    assert parse_turn_url("turns:t.example") == TurnTarget("t.example", 5349, "tcp", True)
    assert parse_turn_url("turn:[::1]:3478").host == "::1"
    for bad in ("stun:t.example", "t.example:3478", "turn:t.example?transport=sctp", "turn:"):
        with pytest.raises(ValueError):
            parse_turn_url(bad)


def test_turn_from_the_servers_ice_config() -> None:
    health = {
        "status": "ok",
        "ice_servers": [
            {"urls": ["stun:t.example:3478"]},
            {"urls": ["turn:t.example:3478?transport=udp"], "username": "u", "credential": "p"},
        ],
    }
    assert turn_from_health(health) == TurnTarget("t.example", 3478, "udp", False, "u", "p")
    assert turn_from_health({"status": "ok"}) is None
    assert turn_from_health({"ice_servers": "nonsense"}) is None


# ------------------------------------------------------------------ the clinic server


async def test_a_running_clinic_server_is_ok(server: SignalingServer) -> None:
    answer = await check_server(server.ws_url)
    assert answer.result.verdict is Verdict.OK, answer.result
    assert "127.0.0.1 answered and is ready" in answer.result.detail
    assert answer.health["status"] == "ok"


async def test_a_closed_port_says_nothing_answered_and_what_to_do() -> None:
    port = _closed_port()
    answer = await check_server(f"ws://127.0.0.1:{port}/ws")
    result = answer.result
    assert result.verdict is Verdict.FAILED
    assert result.detail == "Could not reach 127.0.0.1: nothing answered there."
    assert "Check that you are online" in result.advice
    assert "let your clinic know" in result.advice


async def test_no_server_given_is_not_configured() -> None:
    result = (await check_server(None)).result
    assert result.verdict is Verdict.NOT_CONFIGURED
    assert "--server" in result.advice


async def test_a_garbled_address_says_so() -> None:
    result = (await check_server("ftp://clinic")).result
    assert result.verdict is Verdict.FAILED
    assert result.detail == "That does not look like a server address."


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_an_unhealthy_or_foreign_server_is_failed_with_a_reason() -> None:
    async def unhealthy(request: web.Request) -> web.Response:
        return web.json_response({"status": "unhealthy"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", unhealthy)
    runner, url = await _serve(app)
    try:
        result = (await check_server(url)).result
        assert result.verdict is Verdict.FAILED
        assert "not ready right now" in result.detail
        assert "Try again in a few minutes" in result.advice
        foreign = (await check_server(url + "/elsewhere/ws")).result
        assert foreign.verdict is Verdict.FAILED
        assert "not like a Companion server (HTTP 404)" in foreign.detail
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------ the TURN relay


async def test_no_relay_is_not_configured() -> None:
    result = await check_turn(None)
    assert result.verdict is Verdict.NOT_CONFIGURED
    assert "gets the relay from your clinic when you join" in result.advice


async def test_an_unreachable_relay_is_failed_and_names_the_port() -> None:
    port = _closed_port(socket.SOCK_DGRAM)
    result = await check_turn(parse_turn_url(f"turn:127.0.0.1:{port}"), timeout_s=1.5)
    assert result.verdict is Verdict.FAILED
    assert result.detail == f"Could not reach the relay at 127.0.0.1:{port} (udp)."
    assert f"port {port} (UDP) seems blocked" in result.advice


def _stun_answers(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> bool:
    """Whether coturn answers a STUN Binding request (it takes a moment to open its port)."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline and proc.poll() is None:
            sock.sendto(bytes(request), ("127.0.0.1", port))
            try:
                sock.recvfrom(2048)
                return True
            except OSError:
                continue
    return False


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """coturn on 127.0.0.1 with TURN REST credentials (the clinic server's scheme)."""
    turnserver = shutil.which("turnserver")
    if turnserver is None:
        pytest.skip("coturn (turnserver) is not installed")
    secret = "selftest-shared-secret"
    log = tmp_path / "turn.log"
    for attempt in range(3):  # a port picked free may be taken by the time coturn binds it
        port = _closed_port(socket.SOCK_DGRAM)
        proc = subprocess.Popen(
            [
                turnserver,
                "-n",
                "--listening-ip",
                "127.0.0.1",
                "--relay-ip",
                "127.0.0.1",
                "--listening-port",
                str(port),
                "--use-auth-secret",
                "--static-auth-secret",
                secret,
                "--realm",
                "companion.test",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--no-rfc5780",
                "--userdb",
                str(tmp_path / f"turndb{attempt}"),
                "--log-file",
                str(log),
                "--simple-log",
                "--pidfile",
                str(tmp_path / "turn.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _stun_answers(port, proc):
            break
        proc.terminate()
        proc.wait(timeout=10)
    else:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        pytest.fail(f"coturn did not start:\n{tail}")
    try:
        yield port, secret
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_a_relay_that_asks_for_credentials_counts_as_reached(
    coturn: tuple[int, str],
) -> None:
    port, _ = coturn
    result = await check_turn(parse_turn_url(f"turn:127.0.0.1:{port}"), timeout_s=5)
    assert result.verdict is Verdict.OK, result
    assert "answered (it asks for the credentials" in result.detail


async def test_the_relay_with_the_servers_credentials_grants_an_allocation(
    coturn: tuple[int, str],
) -> None:
    """The ICE config a server hands out (coturn REST credentials) is used when present."""
    port, secret = coturn
    username, credential = turn_credentials(secret, "member1", 600)
    ice = [
        {
            "urls": [f"turn:127.0.0.1:{port}?transport=udp"],
            "username": username,
            "credential": credential,
        }
    ]

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": "0.1.0", "ice_servers": ice})

    app = web.Application()
    app.router.add_get("/healthz", health)
    runner, url = await _serve(app)
    try:
        skip = frozenset({"camera", "microphone", "speakers"})
        results = await run_person_checks(PersonOptions(server=url, skip=skip))
    finally:
        await runner.cleanup()
    assert [r.verdict for r in results] == [Verdict.OK, Verdict.OK], results
    assert "gave us a relayed address" in results[1].detail
    wrong = parse_turn_url(f"turn:127.0.0.1:{port}", username, "not-the-credential")
    refused = await check_turn(wrong, timeout_s=5)
    assert refused.verdict is Verdict.FAILED
    assert "refused our credentials" in refused.detail


# ------------------------------------------------------------------ the devices, for real


def _companion(home: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def null_home(tmp_path: Path) -> Path:
    """A HOME whose ALSA default device is the null plugin (no sound card needed)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(NULL_ASOUNDRC, encoding="utf-8")
    return home


def _verdicts(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {item["check"]: item for item in json.loads(result.stdout)}


@pytest.mark.slow
def test_devices_on_this_machine_no_camera_is_kind(null_home: Path) -> None:
    """This machine has no camera and a null sound device: no crash, plain words."""
    port = _closed_port()
    result = _companion(
        null_home, "self-test", "--json", "--listen", "1", "--server", f"ws://127.0.0.1:{port}/ws"
    )
    assert result.returncode == 1, result.stderr  # the server is unreachable
    assert "Traceback" not in result.stderr
    checks = _verdicts(result)
    assert list(checks) == ["Camera", "Microphone", "Speakers", "Clinic server", "Relay (TURN)"]
    camera = checks["Camera"]
    assert camera["verdict"] == "not found"
    assert camera["detail"] == "There is no camera on this computer."
    assert camera["advice"].startswith("That is all right")
    assert checks["Microphone"]["verdict"] == "ok"
    assert "Echo cancellation on, noise suppression on" in checks["Microphone"]["detail"]
    assert checks["Speakers"]["verdict"] == "ok"
    assert "soft two-note chime" in checks["Speakers"]["detail"]
    assert checks["Clinic server"]["verdict"] == "failed"
    assert checks["Relay (TURN)"]["verdict"] == "not configured"


@pytest.mark.slow
def test_no_sound_devices_at_all_is_not_found_not_a_crash(tmp_path: Path) -> None:
    """A HOME without ALSA configuration on a machine without a sound card: PortAudio
    sees no device at all."""
    home = tmp_path / "bare"
    home.mkdir()
    result = _companion(home, "self-test", "--json", "--skip", "server", "--skip", "turn")
    assert "Traceback" not in result.stderr
    checks = _verdicts(result)
    if checks["Speakers"]["verdict"] == "ok":
        pytest.skip("this machine has a sound device")
    assert checks["Microphone"]["verdict"] == "not found"
    assert "plug in a headset" in checks["Microphone"]["advice"]
    assert checks["Speakers"]["verdict"] == "not found"
    assert result.returncode == 0  # nothing *failed*: the computer lacks devices


@pytest.mark.slow
def test_the_printed_report_for_a_person(null_home: Path) -> None:
    result = _companion(null_home, "self-test", "--listen", "0.5", "--skip", "turn")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Listening to the microphone for 0.5 seconds: say a few words…" in out
    assert "Camera         not found      There is no camera on this computer." in out
    assert "Speakers       ok" in out
    assert "Clinic server  not configured" in out
    assert "that is all right" in out


@pytest.mark.slow
def test_app_self_test_from_source(null_home: Path) -> None:
    result = _companion(null_home, "--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("qt", "audio", "aiortc", "music", "voice"):
        assert f"\n{name}: ok — " in result.stdout
    assert result.stdout.rstrip().endswith("self-test passed")


def test_help_lists_both_self_tests() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "companion", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "--self-test" in result.stdout
    assert "self-test" in result.stdout.split("--self-test", 1)[1]


@pytest.mark.slow
def test_app_self_test_fails_with_one_line_per_check_when_there_is_no_sound(
    tmp_path: Path,
) -> None:
    home = tmp_path / "bare"
    home.mkdir()
    result = _companion(home, "--self-test")
    if "\naudio: ok" in result.stdout:
        pytest.skip("this machine has a sound device")
    assert result.returncode == 1
    assert "\naudio: FAILED — RuntimeError: no output device could be opened" in result.stdout
    assert "\nmusic: ok — " in result.stdout  # the others still run and say so
    assert result.stdout.rstrip().endswith("self-test FAILED")
    assert "Traceback" not in result.stderr
