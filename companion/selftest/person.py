"""``companion self-test``: every check for a person, in order, and the report."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from companion.i18n import _
from companion.selftest.devices import (
    LevelMeter,
    check_camera,
    check_microphone,
    check_speakers,
    level_bar,
)
from companion.selftest.report import CheckResult, Verdict, format_report, print_line
from companion.selftest.server import check_server
from companion.selftest.turn import TurnTarget, check_turn, parse_turn_url, turn_from_health


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
            print_line(out, text)

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
    print_line(out, _("Checking this computer for your session. This takes about half a minute.\n"))
    results = asyncio.run(run_person_checks(options, out))
    print_line(out)
    out.write(format_report(results))
    out.flush()
    return 1 if any(r.failed for r in results) else 0
