"""Self-tests: ``companion self-test`` for a person, ``companion --self-test`` for the build.

``companion self-test [--server URL] [--turn URL]`` is what a patient runs the evening
before a session (or what the clinic asks them to run on the phone): camera, microphone
with a level meter, speakers with a soft chime, the clinic server and the TURN relay. Each
check ends with a plain verdict — ok, not found, failed, not configured — and, when it
is not ok, a sentence on what to do. A computer without a camera or microphone is a normal
case, said kindly.

``companion --self-test`` is for the built app (``build_installer.py``) and CI: offscreen,
it checks that Qt draws a widget, the audio engine plays on an output device (the ALSA
null device counts on a machine without a sound card), aiortc completes a call set-up on
loopback, and the bundled music decodes. One line per check; exit 0 only if all pass.

Nothing here logs or prints anything about a person's health or session: only devices,
addresses the person typed, and versions. Qt is imported only inside the app self-test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import os
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from companion.audio.processing import VoiceProcessing
from companion.i18n import N_, _

# -------------------------------------------------------------------------- results


class Verdict(StrEnum):
    """Ids (the JSON report's); ``VERDICT_WORDS`` says them to a person."""

    OK = "ok"
    NOT_FOUND = "not found"  # i18n: not words (an id)
    FAILED = "failed"
    NOT_CONFIGURED = "not configured"  # i18n: not words (an id)


VERDICT_WORDS: dict[Verdict, str] = {
    Verdict.OK: N_("ok"),
    Verdict.NOT_FOUND: N_("not found"),
    Verdict.FAILED: N_("failed"),
    Verdict.NOT_CONFIGURED: N_("not configured"),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    """What was checked, for a person: "Camera", "Clinic server"."""
    verdict: Verdict
    detail: str
    """What we saw, in one plain sentence."""
    advice: str = ""
    """What to do about it (empty when there is nothing to do)."""

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAILED


_NAME_WIDTH = 15
_VERDICT_WIDTH = 15


def format_result(result: CheckResult, width: int = 78) -> str:
    """``Camera         not found      No camera …`` with the advice indented below."""
    verdict = _(VERDICT_WORDS[result.verdict])
    head = f"{result.name:<{_NAME_WIDTH}}{verdict:<{_VERDICT_WIDTH}}"
    indent = " " * (_NAME_WIDTH + _VERDICT_WIDTH)
    lines = textwrap.wrap(result.detail, width, initial_indent=head, subsequent_indent=indent) or [
        head.rstrip()
    ]
    if result.advice:
        lines += textwrap.wrap(
            result.advice, width, initial_indent=indent + "→ ", subsequent_indent=indent + "  "
        )
    return "\n".join(lines)


def format_report(results: Sequence[CheckResult], width: int = 78) -> str:
    """The whole report: one block per check and a closing sentence."""
    blocks = [format_result(r, width) for r in results]
    failed = [r.name for r in results if r.failed]
    if not failed:
        closing = _("Everything needed for your session works. See you there.")
        if any(r.verdict is Verdict.NOT_FOUND for r in results):
            closing = _(
                "Everything needed works; the notes above are about what this computer "
                "does not have, and that is all right."
            )
    else:
        names = ", ".join(failed)
        closing = _(
            "Something needs a look ({names}). Try what is suggested above and run this check again. If it still fails, call your clinic before your session: they can help, and there is time."
        ).format(names=names)
    text = "\n".join(["Companion self-test", "", *blocks, "", *textwrap.wrap(closing, width)])
    return text + "\n"


# -------------------------------------------------------------------------- camera


async def check_camera(device: str | None = None, timeout_s: float = 5.0) -> CheckResult:
    """Open the camera and wait for one picture."""
    name = _("Camera")
    try:
        from companion.call.devices import open_camera

        track = await asyncio.to_thread(open_camera, device)
    except Exception as exc:  # a broken camera driver must not end the whole check
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The camera could not be opened ({name__}).").format(name__=type(exc).__name__),
            _(
                "Unplug the camera and plug it in again, close other apps that may be using "
                "it, then run this check again."
            ),
        )
    if track is None:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There is no camera on this computer."),
            _(
                "That is all right: your therapist can still hear you and you can hear them. "
                "If you would like them to see you, plug in a camera and run this check again."
            ),
        )
    try:
        frame: Any = await asyncio.wait_for(track.recv(), timeout_s)
        size = f"{frame.width}×{frame.height}"
    except Exception:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("A camera is there, but it sent no picture."),
            _(
                "Close other apps that may be using the camera (video calls, the web browser), "
                "check that its cover or switch is open, and run this check again."
            ),
        )
    finally:
        track.stop()
    return CheckResult(name, Verdict.OK, _("The camera works ({size} picture).").format(size=size))


# -------------------------------------------------------------------------- microphone

LevelMeter = Callable[[float], None]
"""Called about ten times a second with the microphone's level in dBFS."""

_QUIET_DBFS = -60.0


def level_bar(dbfs: float, width: int = 20) -> str:
    """``██████░░░░…``: −60 dBFS (silence) to 0 dBFS (as loud as it goes)."""
    filled = round(width * min(1.0, max(0.0, (dbfs - _QUIET_DBFS) / -_QUIET_DBFS)))
    return "█" * filled + "░" * (width - filled)


def _dbfs(pcm: Any) -> float:
    import numpy as np

    samples = np.asarray(pcm, dtype=np.float64) / 32768.0
    rms = math.sqrt(float(np.mean(samples * samples))) if samples.size else 0.0
    return 20 * math.log10(rms) if rms > 1e-6 else -120.0


async def check_microphone(
    seconds: float = 2.0, meter: LevelMeter | None = None, device: int | str | None = None
) -> CheckResult:
    """Listen for ``seconds`` and report the loudest moment (``meter`` sees it live)."""
    name = _("Microphone")
    from companion.call.devices import list_microphones

    microphones = await asyncio.to_thread(list_microphones)
    if not microphones:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There is no microphone on this computer."),
            _(
                "Your therapist needs to hear you: plug in a headset or a microphone (the one "
                "on earphones works too) and run this check again."
            ),
        )
    # Through the call's own processing (echo cancellation, noise suppression), so the check
    # hears what the therapist would, and says whether echo cancellation works here.
    processing = VoiceProcessing()
    processing.start()
    try:
        return await _listen(name, seconds, meter, device, processing)
    finally:
        await asyncio.to_thread(processing.close)


async def _listen(
    name: str,
    seconds: float,
    meter: LevelMeter | None,
    device: int | str | None,
    processing: VoiceProcessing,
) -> CheckResult:
    from companion.call.devices import open_microphone

    # Opened off the loop (PortAudio can block); the blocks still arrive on this loop.
    track = await asyncio.to_thread(
        functools.partial(
            open_microphone, device, loop=asyncio.get_running_loop(), processing=processing
        )
    )
    if track is None:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("A microphone is there, but it could not be opened."),
            _(
                "Close other apps that may be using it, check that it is not switched off in "
                "your system's sound settings, and run this check again."
            ),
        )
    peak = -120.0
    window: list[float] = []
    frames = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(track.recv(), 1.0)
            except Exception:
                break
            frames += 1
            window.append(_dbfs(frame.to_ndarray()))
            if len(window) >= 5:  # 5 × 20 ms: a steady meter
                level = max(window)
                window.clear()
                peak = max(peak, level)
                if meter is not None:
                    meter(level)
    finally:
        track.stop()
    if window:
        peak = max(peak, *window)
    if frames == 0:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The microphone was opened but sent no sound at all."),
            _(
                "Unplug it and plug it in again (or choose another microphone in your system's "
                "sound settings), then run this check again."
            ),
        )
    voice = processing.describe()
    if peak < _QUIET_DBFS:
        return CheckResult(
            name,
            Verdict.OK,
            _("The microphone works, but it heard only silence ({value}). {voice}").format(
                value=level_bar(peak), voice=voice
            ),
            _(
                "If you spoke during the check, it may be muted: look for a mute switch on the "
                "headset or in your system's sound settings, and run this check again."
            ),
        )
    return CheckResult(
        name,
        Verdict.OK,
        _("The microphone works; loudest moment {value} ({peak:.0f} dB). {voice}").format(
            value=level_bar(peak), peak=peak, voice=voice
        ),
    )


# -------------------------------------------------------------------------- speakers


def _play_test_sound(wait_s: float) -> tuple[str | None, int, bool]:
    """Play the check-in chime through the audio engine: (device name, callbacks, any
    output device listed). Blocking; run it on a thread."""
    from companion.audio import AudioEngine, ChimeKind, EngineOptions
    from companion.audio.device import list_output_devices

    engine = AudioEngine(EngineOptions(fade_in_s=0.2, fade_out_s=0.3, reopen_interval_s=60.0))
    try:
        engine.start(play=False)
        info = engine.device
        if info is None:
            return None, 0, bool(list_output_devices())
        engine.play_chime(ChimeKind.CHECK_IN)
        time.sleep(wait_s)
        return info.name, engine.callback_stats.count, True
    finally:
        engine.close()


async def check_speakers(wait_s: float = 2.5) -> CheckResult:
    """A soft two-note chime through the audio engine (the sound the therapist's
    check-in request makes)."""
    name = _("Speakers")
    try:
        device, callbacks, listed = await asyncio.to_thread(_play_test_sound, wait_s)
    except Exception as exc:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The sound system could not be started ({name__}).").format(
                name__=type(exc).__name__
            ),
            _(
                "Restart the computer and run this check again; if it still fails, tell your clinic."
            ),
        )
    if device is None and not listed:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There are no speakers or headphones on this computer."),
            _(
                "Plug in headphones or speakers (headphones are best for the session) and run "
                "this check again."
            ),
        )
    if device is None:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The speakers could not be opened."),
            _(
                "Close other apps that play sound, check your system's sound settings, and "
                "run this check again."
            ),
        )
    if callbacks == 0:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The output “{device}” opened but did not play.").format(device=device),
            _(
                "Choose other speakers or headphones in your system's sound settings and run "
                "this check again."
            ),
        )
    return CheckResult(
        name,
        Verdict.OK,
        _("We played a soft two-note chime on “{device}”.").format(device=device),
        _(
            "If you did not hear it, turn the volume up, check the headphones are plugged in, "
            "or choose them in your system's sound settings."
        ),
    )


# -------------------------------------------------------------------------- clinic server


def healthz_url(server: str) -> str:
    """The server's health address from what a person may have: ``wss://…/ws``,
    ``https://…``, or an invite link ``companion://join?server=…``."""
    server = server.strip()
    if server.startswith("companion:"):
        query = urllib.parse.urlsplit(server).query
        found = urllib.parse.parse_qs(query).get("server")
        if not found:
            raise ValueError("this invite link names no server")
        server = found[0]
    if "://" not in server:
        server = f"https://{server}"
    parts = urllib.parse.urlsplit(server)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not a server address")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/ws").removesuffix("/healthz")
    return urllib.parse.urlunsplit((scheme, parts.netloc, f"{path}/healthz", "", ""))


@dataclass
class ServerAnswer:
    result: CheckResult
    health: dict[str, Any] = field(default_factory=dict)


async def check_server(server: str | None, timeout_s: float = 8.0) -> ServerAnswer:
    """``GET /healthz`` on the clinic server."""
    name = _("Clinic server")
    if not server:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.NOT_CONFIGURED,
                _("No clinic server was given, so it was not checked."),
                _(
                    "To check it too, run this again with --server and the address from your "
                    "invite (or your whole invite link)."
                ),
            )
        )
    try:
        url = healthz_url(server)
    except ValueError:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.FAILED,
                _("That does not look like a server address."),
                _(
                    "Copy the address (or the whole invite link) from your clinic's message "
                    "exactly, and run this check again."
                ),
            )
        )
    import aiohttp

    host = urllib.parse.urlsplit(url).hostname or _("the server")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            status = response.status
            try:
                body = await response.json(content_type=None)
            except (ValueError, aiohttp.ClientError):
                body = None
    except aiohttp.ClientConnectorCertificateError:
        return ServerAnswer(_server_failed(host, "certificate"))
    except aiohttp.ClientConnectorDNSError:
        return ServerAnswer(_server_failed(host, "dns"))
    except (aiohttp.ClientConnectorError, ConnectionError):
        return ServerAnswer(_server_failed(host, "refused"))
    except TimeoutError:
        return ServerAnswer(_server_failed(host, "timeout"))
    except aiohttp.ClientError:
        return ServerAnswer(_server_failed(host, "other"))
    health = body if isinstance(body, dict) else {}
    if status == 200 and health.get("status") == "ok":
        version = str(health.get("version", "?"))[:20]
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.OK,
                _("{host} answered and is ready (version {version}).").format(
                    host=host, version=version
                ),
            ),
            health,
        )
    if status == 503:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.FAILED,
                _("{host} answered, but it is not ready right now.").format(host=host),
                _(
                    "This is on the clinic's side. Try again in a few minutes; if it stays like "
                    "this, let your clinic know."
                ),
            ),
            health,
        )
    return ServerAnswer(
        CheckResult(
            name,
            Verdict.FAILED,
            _("{host} answered, but not like a Companion server (HTTP {status}).").format(
                host=host, status=status
            ),
            _(
                "Check the address against your clinic's message; if it is right, let your "
                "clinic know."
            ),
        ),
        health,
    )


def _server_failed(host: str, why: str) -> CheckResult:
    detail, advice = {
        "dns": (
            _("The address {host} could not be found.").format(host=host),
            _(
                "Check that you are online (open any web page) and that the address matches "
                "your clinic's message exactly."
            ),
        ),
        "refused": (
            _("Could not reach {host}: nothing answered there.").format(host=host),
            _(
                "Check that you are online (open any web page). If you are, the clinic's server "
                "may be down: let your clinic know."
            ),
        ),
        "timeout": (
            _("{host} did not answer in time.").format(host=host),
            _(
                "Your connection may be slow, or a firewall (at work, in a hotel) may block it. "
                "Try from your home network, or let your clinic know."
            ),
        ),
        "certificate": (
            _("The connection to {host} is not secure (its certificate was not accepted).").format(
                host=host
            ),
            _("Please do not continue on this network; let your clinic know."),
        ),
        "other": (
            _("The connection to {host} failed.").format(host=host),
            _(
                "Check that you are online and run this check again; if it still fails, let "
                "your clinic know."
            ),
        ),
    }[why]
    return CheckResult(_("Clinic server"), Verdict.FAILED, detail, advice)


# -------------------------------------------------------------------------- TURN relay


@dataclass(frozen=True)
class TurnTarget:
    host: str
    port: int
    transport: str = "udp"
    secure: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port} ({self.transport}{', TLS' if self.secure else ''})"


def parse_turn_url(
    url: str, username: str | None = None, password: str | None = None
) -> TurnTarget:
    """``turn:host[:port][?transport=udp|tcp]`` or ``turns:…`` (RFC 7065)."""
    scheme, sep, rest = url.strip().partition(":")
    if not sep or scheme not in ("turn", "turns"):
        raise ValueError("a TURN address starts with turn: or turns:")
    secure = scheme == "turns"
    rest = rest.removeprefix("//")
    hostport, _sep, query = rest.partition("?")
    transport = urllib.parse.parse_qs(query).get("transport", ["tcp" if secure else "udp"])[0]
    if transport not in ("udp", "tcp"):
        raise ValueError("transport must be udp or tcp")
    if hostport.startswith("["):
        host, _sep, port_text = hostport[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _sep, port_text = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not host:
        raise ValueError("no host")
    port = int(port_text) if port_text else (5349 if secure else 3478)
    return TurnTarget(host, port, transport, secure, username, password)


def turn_from_health(health: dict[str, Any]) -> TurnTarget | None:
    """A TURN server (with credentials) from the server's answer, when it hands one out."""
    servers = health.get("ice_servers")
    if not isinstance(servers, list):
        return None
    for server in servers:
        if not isinstance(server, dict):
            continue
        urls = server.get("urls")
        for url in [urls] if isinstance(urls, str) else urls or []:
            if isinstance(url, str) and url.startswith("turn"):
                with contextlib.suppress(ValueError):
                    return parse_turn_url(url, server.get("username"), server.get("credential"))
    return None


async def check_turn(target: TurnTarget | None, timeout_s: float = 6.0) -> CheckResult:
    """A TURN Allocate (aioice). Without credentials, the relay's "401: who are you?"
    still proves it is reachable from here, which is what a home network can break."""
    name = _("Relay (TURN)")
    if target is None:
        return CheckResult(
            name,
            Verdict.NOT_CONFIGURED,
            _("No relay address was given, so it was not checked."),
            _(
                "That is fine: the app gets the relay from your clinic when you join. To check "
                "it now, run this again with --turn and the address your clinic gave you."
            ),
        )
    import ssl

    from aioice import stun
    from aioice.turn import TurnTransport, create_turn_endpoint

    context = ssl.create_default_context() if target.secure else None
    transport: TurnTransport | None = None
    try:
        turn_transport, _protocol = await asyncio.wait_for(
            create_turn_endpoint(
                asyncio.DatagramProtocol,
                (target.host, target.port),
                target.username,
                target.password,
                lifetime=60,
                ssl=context if context is not None else False,
                transport=target.transport,
            ),
            timeout_s,
        )
        transport = turn_transport
    except stun.TransactionFailed as exc:
        code = int(exc.response.attributes.get("ERROR-CODE", (0, ""))[0])
        if code == 401 and target.username is None:
            return CheckResult(
                name,
                Verdict.OK,
                _(
                    "The relay at {label} answered (it asks for the credentials the app gets when you join, as it should)."
                ).format(label=target.label),
            )
        if code in (401, 403, 438):
            return CheckResult(
                name,
                Verdict.FAILED,
                _("The relay at {label} answered but refused our credentials.").format(
                    label=target.label
                ),
                _(
                    "The credentials may have expired: run this check again from a fresh invite, "
                    "or let your clinic know."
                ),
            )
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The relay at {label} answered with an error ({code}).").format(
                label=target.label, code=code
            ),
            _(
                "This is on the clinic's side; let your clinic know. Calls may still connect directly."
            ),
        )
    except (TimeoutError, stun.TransactionTimeout, OSError, ConnectionError, ValueError):
        return CheckResult(
            name,
            Verdict.FAILED,
            _("Could not reach the relay at {label}.").format(label=target.label),
            _(
                "Calls may still connect directly. If your network blocks it (some work, school or hotel networks do), try from home, or let your clinic know that port {port} ({value}) seems blocked."
            ).format(port=target.port, value=target.transport.upper()),
        )
    finally:
        if transport is not None:
            transport.close()
    return CheckResult(
        name,
        Verdict.OK,
        _(
            "The relay at {label} works: it gave us a relayed address, so calls get through even behind a strict router."
        ).format(label=target.label),
    )


# -------------------------------------------------------------------------- the person's run


@dataclass
class PersonOptions:
    server: str | None = None
    turn: str | None = None
    turn_username: str | None = None
    turn_password: str | None = None
    listen_s: float = 2.0
    camera: str | None = None
    skip: frozenset[str] = frozenset()
    """Checks to leave out: "camera", "microphone", "speakers", "server", "turn"."""


def _print(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _live_meter(out: TextIO) -> LevelMeter | None:
    if not out.isatty():
        return None

    def show(dbfs: float) -> None:
        out.write(f"\r    level {level_bar(dbfs)} ")
        out.flush()

    return show


async def run_person_checks(options: PersonOptions, out: TextIO | None = None) -> list[CheckResult]:
    """Every check in order, saying what happens while it happens (when ``out`` is given)."""
    results: list[CheckResult] = []

    def say(text: str) -> None:
        if out is not None:
            _print(out, text)

    async def step(key: str, intro: str, check: Callable[[], Awaitable[CheckResult]]) -> None:
        if key in options.skip:
            return
        say(intro)
        results.append(await check())

    await step("camera", _("Looking for a camera…"), lambda: check_camera(options.camera))
    meter = _live_meter(out) if out is not None else None

    async def microphone() -> CheckResult:
        result = await check_microphone(options.listen_s, meter)
        if meter is not None and out is not None:
            out.write("\n")
        return result

    await step(
        "microphone",
        _("Listening to the microphone for {listen_s:g} seconds: say a few words…").format(
            listen_s=options.listen_s
        ),
        microphone,
    )
    await step("speakers", _("Playing a soft chime…"), check_speakers)
    health: dict[str, Any] = {}
    if "server" not in options.skip:
        say(_("Reaching the clinic server…"))
        answer = await check_server(options.server)
        results.append(answer.result)
        health = answer.health
    if "turn" not in options.skip:
        target: TurnTarget | None = None
        bad_url = False
        if options.turn:
            try:
                target = parse_turn_url(options.turn, options.turn_username, options.turn_password)
            except ValueError:
                bad_url = True
            from_server = turn_from_health(health)
            if (
                target is not None
                and target.username is None
                and from_server is not None
                and (from_server.host, from_server.port) == (target.host, target.port)
            ):
                target = from_server
        else:
            target = turn_from_health(health)
        if bad_url:
            results.append(
                CheckResult(
                    _("Relay (TURN)"),
                    Verdict.FAILED,
                    _("That does not look like a relay address (it starts with turn:)."),
                    _("Copy it exactly from your clinic's message and run this check again."),
                )
            )
        else:
            say(_("Reaching the relay…"))
            results.append(await check_turn(target))
    return results


def run_person_selftest(options: PersonOptions, out: TextIO | None = None) -> int:
    """Run, print the report; 1 if any check failed (not found is not a failure)."""
    out = out or sys.stdout
    _print(out, _("Checking this computer for your session. This takes about half a minute.\n"))
    results = asyncio.run(run_person_checks(options, out))
    _print(out)
    out.write(format_report(results))
    out.flush()
    return 1 if any(r.failed for r in results) else 0


# -------------------------------------------------------------------------- the build's run


@dataclass(frozen=True)
class AppCheck:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.passed else 'FAILED'} — {self.detail}"


def _app_check(name: str, run: Callable[[], str]) -> AppCheck:
    try:
        return AppCheck(name, True, run())
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        return AppCheck(name, False, f"{type(exc).__name__}: {message}")


def app_check_qt() -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    app = QApplication.instance() or QApplication(["companion", "-platform", "offscreen"])
    assert isinstance(app, QApplication)
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.addWidget(QLabel(_("Companion self-test")))
    widget.resize(320, 200)
    widget.show()
    app.processEvents()
    pixmap = widget.grab()
    widget.close()
    widget.deleteLater()
    app.processEvents()
    if pixmap.isNull() or pixmap.width() < 1:
        raise RuntimeError("the widget could not be drawn")
    platforms = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    plugins = sorted(
        p.name.removeprefix("libq").removesuffix(".so")
        for p in platforms.glob("libq*.so")
        if p.name in ("libqxcb.so", "libqoffscreen.so", "libqwayland.so")
    )
    if sys.platform.startswith("linux") and "xcb" not in plugins:
        raise RuntimeError(f"Qt's xcb platform plugin is missing from {platforms}")
    return _(
        "PySide6 {pyside_version} on {value}, a widget drawn ({value2}×{value3}); platform plugins: {value4}"
    ).format(
        pyside_version=pyside_version,
        value=app.platformName(),
        value2=pixmap.width(),
        value3=pixmap.height(),
        value4=", ".join(plugins) or "-",
    )


def _engine_plays(device: str | None) -> tuple[str | None, int]:
    from companion.audio import AudioEngine, ChimeKind, DeviceOptions, EngineOptions

    options = EngineOptions(
        device=DeviceOptions(device=device), fade_in_s=0.05, fade_out_s=0.1, reopen_interval_s=60
    )
    engine = AudioEngine(options)
    try:
        engine.start(play=False)
        info = engine.device
        if info is None:
            return None, 0
        engine.play_chime(ChimeKind.NOTICE)
        deadline = time.monotonic() + 3.0
        while engine.callback_stats.count < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        return info.name, engine.callback_stats.count
    finally:
        engine.close()


def app_check_audio() -> str:
    import sounddevice as sd

    from companion.audio.device import list_output_devices

    library = str(getattr(sd, "_libname", "?"))
    version = sd.get_portaudio_version()[1]
    names = [d.name for d in list_output_devices()]
    name, callbacks = _engine_plays(None)
    how = _("the default output")
    if name is None and "null" in names:
        # No sound card: ALSA's null device takes the samples at a real device's pace.
        name, callbacks = _engine_plays("null")
        how = _("the ALSA null device (no sound card)")
    if name is None:
        listed = ", ".join(names) or "none"
        raise RuntimeError(f"no output device could be opened (devices: {listed})")
    if callbacks == 0:
        raise RuntimeError(f"the output device “{name}” opened but never asked for audio")
    return _(
        "the audio engine played on {how} “{name}” ({callbacks} callbacks); {version} from {library}"
    ).format(how=how, name=name, callbacks=callbacks, version=version, library=library)


async def _loopback_call(timeout_s: float) -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    config = RTCConfiguration(iceServers=[])
    caller, callee = RTCPeerConnection(config), RTCPeerConnection(config)
    loop = asyncio.get_running_loop()
    echoed: asyncio.Future[str] = loop.create_future()
    try:
        channel = caller.createDataChannel("selftest")

        def on_datachannel(remote: Any) -> None:
            remote.on("message", lambda message: remote.send(f"echo:{message}"))

        def on_echo(message: Any) -> None:
            if not echoed.done():
                echoed.set_result(str(message))

        callee.on("datachannel", on_datachannel)
        channel.on("open", lambda: channel.send("hello"))
        channel.on("message", on_echo)
        caller.addTransceiver("audio", direction="sendrecv")
        caller.addTransceiver("video", direction="sendrecv")
        await caller.setLocalDescription(await caller.createOffer())
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)
        reply = await asyncio.wait_for(echoed, timeout_s)
        if reply != "echo:hello":
            raise RuntimeError(f"unexpected reply {reply!r}")
        sdp = callee.localDescription.sdp
        codecs = [c for c in ("opus", "VP8") if c in sdp]
        return _("ICE {iceConnectionState}, data channel echoed, codecs {value}").format(
            iceConnectionState=caller.iceConnectionState, value="+".join(codecs)
        )
    finally:
        await caller.close()
        await callee.close()


def _encode_one_frame_each() -> None:
    """Opus and VP8 through aiortc's native codec libraries (one frame each)."""
    import fractions

    import av
    import numpy as np
    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    opus = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    audio = av.AudioFrame.from_ndarray(
        np.zeros((1, 960 * 2), dtype=np.int16), format="s16", layout="stereo"
    )
    audio.sample_rate, audio.pts, audio.time_base = 48000, 0, fractions.Fraction(1, 48000)
    packets, _extra = opus.encode(audio)
    vp8 = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
    video = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), dtype=np.uint8), format="rgb24")
    video.pts, video.time_base = 0, fractions.Fraction(1, 90000)
    vpackets, _vextra = vp8.encode(video)
    if not packets or not vpackets:
        raise RuntimeError("a codec produced nothing")


def app_check_aiortc(timeout_s: float = 20.0) -> str:
    import aiortc
    import av

    _encode_one_frame_each()
    result = asyncio.run(_loopback_call(timeout_s))
    return _("aiortc {version__} (PyAV {version__2}): {result}; Opus and VP8 encode").format(
        version__=aiortc.__version__, version__2=av.__version__, result=result
    )


def app_check_music(seconds: float = 1.0) -> str:
    from companion.audio.decoder import Decoder
    from companion.audio.playlist import bundled_music_folder, bundled_playlist

    folder = bundled_music_folder()
    tracks = [t for t in bundled_playlist().tracks if not t.is_generative]
    if not tracks:
        raise RuntimeError(f"no bundled music in {folder}")
    rate = 48_000
    for track in tracks:
        decoder = Decoder(Path(track.location), rate)
        try:
            got = len(decoder.read(int(seconds * rate)))
        finally:
            decoder.close()
        if got < int(seconds * rate):
            raise RuntimeError(f"“{Path(track.location).name}” gave only {got} frames")
    return _("{n} tracks in {folder} decode ({seconds:g} s of each)").format(
        n=len(tracks), folder=folder, seconds=seconds
    )


def app_check_voice(seconds: float = 2.0) -> str:
    """The microphone's echo canceller from the bundle: an echo of noise, cancelled."""
    import importlib.resources

    import numpy as np

    processing = VoiceProcessing()
    if not processing.active:
        raise RuntimeError("libwebrtc's audio processing (livekit) could not be loaded")
    sent: list[np.ndarray] = []
    processing.sink = sent.append
    rng = np.random.default_rng(1)
    n, delay = int(seconds * 48_000), 2_400  # 50 ms
    far = (rng.standard_normal(n) * 0.1).astype(np.float32)
    echo = np.concatenate([np.zeros(delay, np.float32), far[:-delay]]) * 0.5 * 32767
    try:
        for start in range(0, n, 960):
            block = far[start : start + 960]
            processing.played(np.repeat(block[:, None], 2, axis=1))
            processing.capture(echo[start : start + 960].astype(np.int16))
            processing.process_pending()
    finally:
        processing.close()
    out = np.concatenate(sent).astype(np.float64)
    tail = slice(n // 2, len(out))
    erle = 10 * math.log10(
        float(np.mean(echo[tail] ** 2)) / max(float(np.mean(out[tail] ** 2)), 1e-9)
    )
    if erle < 10:
        raise RuntimeError(f"an echo was reduced by only {erle:.1f} dB")
    library = importlib.resources.files("livekit.rtc.resources")
    return _("echo cancelled by {erle:.0f} dB; libwebrtc audio processing from {library}").format(
        erle=erle, library=library
    )


APP_CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("qt", app_check_qt),
    ("audio", app_check_audio),
    ("aiortc", app_check_aiortc),
    ("music", app_check_music),
    ("voice", app_check_voice),
)


def run_app_selftest(out: TextIO | None = None) -> int:
    """Offscreen checks of the build, one line each; 0 only if all pass."""
    out = out or sys.stdout
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from companion import __version__

    frozen = _("built app") if getattr(sys, "frozen", False) else _("from source")
    _print(
        out,
        _("companion {version__} self-test ({frozen}, Python {value})").format(
            version__=__version__, frozen=frozen, value=sys.version.split()[0]
        ),
    )
    results: list[AppCheck] = []
    for name, run in APP_CHECKS:
        result = _run_bounded(name, run, timeout_s=60.0)
        results.append(result)
        _print(out, result.line())
    passed = all(r.passed for r in results)
    _print(out, _("self-test passed") if passed else _("self-test FAILED"))
    return 0 if passed else 1


def _run_bounded(name: str, run: Callable[[], str], timeout_s: float) -> AppCheck:
    """A hung check (a device that never answers) fails instead of hanging the test.
    Qt must stay on the main thread, so that one runs directly."""
    if name == "qt":
        return _app_check(name, run)
    box: list[AppCheck] = []
    worker = threading.Thread(target=lambda: box.append(_app_check(name, run)), daemon=True)
    worker.start()
    worker.join(timeout_s)
    return (
        box[0]
        if box
        else AppCheck(
            name, False, _("did not finish within {timeout_s:g} s").format(timeout_s=timeout_s)
        )
    )


# -------------------------------------------------------------------------- command line


class _AppSelfTestAction(argparse.Action):
    """``--self-test``: runs at parse time and exits, like ``--version``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser.exit(run_app_selftest())


def add_selftest_commands(
    subparsers: argparse._SubParsersAction[Any], parser: argparse.ArgumentParser | None = None
) -> None:
    """``companion self-test`` (the person's check) and, given the top-level ``parser``,
    ``companion --self-test`` (the build's check). The command runs through
    ``args.run(args)``."""
    if parser is not None:
        parser.add_argument(
            "--self-test",
            action=_AppSelfTestAction,
            help=_("check that this build works (Qt, audio, calls, music), offscreen, and exit"),
        )
    check = subparsers.add_parser(
        "self-test",
        help=_("check camera, microphone, speakers and the connection before a session"),
        description=(
            _(
                "Check this computer before a session: camera, microphone (speak for a moment), "
                "speakers (a soft chime), the clinic server and the relay. Each gets a plain "
                "verdict and, if something is wrong, what to do."
            )
        ),
    )
    check.add_argument("--server", metavar="URL|LINK",
                       help=_("the clinic server (wss://…/ws) or your invite link"))  # fmt: skip
    check.add_argument("--turn", metavar="URL",
                       help=_("the relay, e.g. turn:turn.clinic.example:3478?transport=udp"))  # fmt: skip
    check.add_argument("--turn-username", help=argparse.SUPPRESS)
    check.add_argument("--turn-password", help=argparse.SUPPRESS)
    check.add_argument("--listen", type=float, default=2.0, metavar="SECONDS",
                       help=_("how long to listen to the microphone (default %(default)s)"))  # fmt: skip
    check.add_argument("--skip", action="append", default=[],
                       choices=["camera", "microphone", "speakers", "server", "turn"],
                       help=_("leave a check out (repeatable)"))  # fmt: skip
    check.add_argument("--json", action="store_true", help=_("print the results as JSON"))
    check.set_defaults(run=run_selftest_command)


def run_selftest_command(args: argparse.Namespace) -> int:
    options = PersonOptions(
        server=args.server,
        turn=args.turn,
        turn_username=args.turn_username,
        turn_password=args.turn_password,
        listen_s=max(0.2, min(30.0, args.listen)),
        skip=frozenset(args.skip),
    )
    if args.json:
        results = asyncio.run(run_person_checks(options))
        print(json.dumps([_as_dict(r) for r in results], indent=2, ensure_ascii=False))
        return 1 if any(r.failed for r in results) else 0
    return run_person_selftest(options)


def _as_dict(result: CheckResult) -> dict[str, str]:
    return {
        "check": result.name,
        "verdict": result.verdict.value,
        "detail": result.detail,
        "advice": result.advice,
    }
