"""The patient's journeys, as a person takes them (issue 16)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.journeys.conftest import Session
from tests.journeys.harness import SCREEN, ClinicServer, journey

OK_BUTTON = "I'm OK — check in"
JOIN = "Join my session"
READY = "I'm ready — start the session"


def fits(sizes: list[tuple[int, int, int, int]], screen: tuple[int, int] = SCREEN) -> bool:
    return all(w <= screen[0] and h <= screen[1] for _, _, w, h in sizes)


async def test_first_run_a_code_alone_a_wrong_code_then_in_and_checking_in(
    session: Session, clinic: ClinicServer, shots: Path
) -> None:
    async with journey("patient", shots) as patient:
        # First run: nothing known, no arguments (a double click on the app).
        await patient.launch("patient", "--fake-media")
        screen = await patient.see_words("Welcome to Companion")
        await patient.shot("first run")
        assert screen.one(name="Invitation code or link", role="text").focused
        assert fits(await patient.desktop.window_sizes())

        # The code read over the phone, alone: the app says it needs the server, at once.
        await patient.desktop.type(session.invites["patient"].code)
        await patient.desktop.key("Return")
        started = time.monotonic()
        await patient.see_words("does not know your clinic's server", within_s=8)
        assert time.monotonic() - started < 8
        await patient.shot("code without a server")

        # A wrong code, with the server typed: the server's plain sentence.
        await patient.fill("Clinic server address", clinic.url)
        await patient.fill("Invitation code or link", "ZZZZ-ZZZZ")
        await patient.click(JOIN)
        await patient.see_words("That code was not found", within_s=8)
        await patient.shot("wrong code")

        # The right code: the preparation screen.
        await patient.fill("Invitation code or link", session.invites["patient"].code)
        await patient.click(JOIN)
        await patient.see_words("Before your session", within_s=8)
        await patient.shot("prepare")

        await patient.click(READY)
        screen = await patient.see(lambda s: bool(s.find(name=OK_BUTTON)), 30, "the session")
        await patient.see_words("Your therapist is with you", within_s=30)
        await patient.shot("session")
        assert fits(await patient.desktop.window_sizes())

        # Any key checks in (eyes closed: the space bar).
        await patient.desktop.key("space")
        deadline = time.monotonic() + 10
        while session.therapist.facts.last_checkin_at is None:
            assert time.monotonic() < deadline, "the therapist never saw the check-in"
            await asyncio.sleep(0.1)
        await patient.see_words("your therapist can see you're OK")
        await patient.shot("checked in")
