"""The therapist's console as a therapist uses it (issue 16): sign in with Enter, make a
session and read its code, open it live when the patient is in, ask for a check-in."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from tests.journeys.conftest import patient_core_joined
from tests.journeys.harness import ClinicServer, Screen, journey

pytestmark = pytest.mark.timeout(300)

_CODE = re.compile(r"Patient · code ([A-Z0-9]{4}-[A-Z0-9]{4})")


def _patient_code(screen: Screen) -> str | None:
    found = _CODE.search(screen.text)
    return found.group(1) if found else None


async def test_sign_in_make_a_session_open_it_live_and_ask_for_a_check_in(
    clinic: ClinicServer, shots: Path, tmp_path: Path
) -> None:
    async with journey("therapist", shots) as therapist:
        await therapist.launch("therapist", "--server", clinic.url, "--fake-media")
        await therapist.see_words("Sign in to your clinic", within_s=20)
        assert all(w <= 1366 and h <= 768 for _, _, w, h in await therapist.desktop.window_sizes())
        await therapist.fill("Your name", "dr-journey")
        await therapist.fill("Secret", clinic.secret)
        await therapist.desktop.key("Return")  # Enter signs in (item 8)
        await therapist.see_words("Signed in as dr-journey", within_s=15)
        await therapist.shot("signed in")

        await therapist.fill("New session label", "Tue 10:00")
        await therapist.desktop.key("Return")
        screen = await therapist.see(lambda s: _patient_code(s) is not None, 15, "the code")
        code = _patient_code(screen)
        assert code is not None
        await therapist.shot("a session and its invitations")
        # Its invitations do not push the window past the screen.
        assert all(w <= 1366 and h <= 768 for _, _, w, h in await therapist.desktop.window_sizes())

        # The patient joins with the code read over the phone.
        patient = await patient_core_joined(clinic, code, tmp_path / "patient")
        try:
            screen = await therapist.see(
                lambda s: bool(s.find(role="list item", says="Tue 10:00")), 15, "the session"
            )
            await therapist.desktop.click(screen.find(role="list item", says="Tue 10:00")[0])
            await therapist.click("Open live session")
            # Not read while the live tab builds (PySide6 6.11's AT-SPI bridge crashed in
            # screen changes): wait for the call from the patient's side first.
            deadline = time.monotonic() + 40
            while patient.facts.link != "connected":
                assert time.monotonic() < deadline, "the call did not come up"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)
            await therapist.see_words("Connected", within_s=60)
            assert all(
                w <= 1366 and h <= 768 for _, _, w, h in await therapist.desktop.window_sizes()
            )
            await therapist.shot("live, connected")

            await therapist.click("Request a check-in")
            deadline = time.monotonic() + 15
            while patient.pending_checkin is None:
                assert time.monotonic() < deadline, "the patient was never asked"
                await asyncio.sleep(0.1)
            await patient.check_in()
            await therapist.see_words("Last check-in: just now", within_s=15)
            await therapist.shot("the patient checked in")
            assert "Traceback" not in therapist.log(), therapist.log()[-2000:]
        finally:
            await patient.close()
