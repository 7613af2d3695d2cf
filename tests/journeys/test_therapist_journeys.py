"""The therapist's console as a therapist uses it (issue 16): sign in with Enter, make a
session and read its code, open it live when the patient is in, ask for a check-in."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from companion.app import CoreOptions, RoleCore
from tests.journeys.conftest import patient_core_joined
from tests.journeys.harness import ClinicServer, Journey, Screen, journey
from tests.waiting import until

pytestmark = pytest.mark.timeout(300)

_CODE = re.compile(r"Patient · code ([A-Z0-9]{4}-[A-Z0-9]{4})")
_SUPPORT_CODE = re.compile(r"Support person · code ([A-Z0-9]{4}-[A-Z0-9]{4})")


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


TITLE = "Companion — therapist"
_SESSION_TIME = re.compile(r"Session time (\d+):(\d\d):(\d\d)")


def _session_seconds(screen: Screen) -> int:
    found = _SESSION_TIME.search(screen.text)
    assert found is not None, screen.text
    hours, minutes, seconds = (int(part) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


CALM_LINE = "Your therapist's connection dropped"


async def _signed_in_with_a_session(therapist: Journey, clinic: ClinicServer) -> tuple[str, str]:
    """Sign in (typing the secret: no keyring here) and make a session; the patient's and
    the support person's codes, as the screen shows them."""
    await therapist.launch("therapist", "--server", clinic.url, "--fake-media")
    await _sign_in(therapist, clinic)
    await therapist.fill("New session label", "Tue 10:00")
    await therapist.desktop.key("Return")
    screen = await therapist.see(lambda s: _patient_code(s) is not None, 15, "the code")
    code, support = _patient_code(screen), _SUPPORT_CODE.search(screen.text)
    assert code is not None and support is not None
    return code, support.group(1)


async def _sign_in(therapist: Journey, clinic: ClinicServer) -> None:
    await therapist.see_words("Sign in to your clinic", within_s=20)
    await therapist.fill("Your name", "dr-journey")

    def typed(screen: Screen) -> bool:
        return any(len(n.text) == len(clinic.secret) for n in screen.find(name="Secret"))

    # Typed in full (masked) before Enter: a busy computer's X server has dropped keys,
    # once all of them (the field focused and empty); a person would type it again.
    for attempt in range(3):
        await therapist.fill("Secret", clinic.secret)
        try:
            await therapist.see(typed, 10, "the secret typed")
            break
        except AssertionError:
            if attempt == 2:
                raise
    await therapist.desktop.key("Return")
    await therapist.see_words("Signed in as dr-journey", within_s=15)


async def _open_live(therapist: Journey, patient: RoleCore) -> None:
    """Opens "Tue 10:00" live; waits for the call from the patient's side before reading
    the screen again (PySide6 6.11's AT-SPI bridge crashed in screen changes)."""
    screen = await therapist.see(
        lambda s: bool(s.find(role="list item", says="Tue 10:00")), 15, "the session"
    )
    await therapist.desktop.click(screen.find(role="list item", says="Tue 10:00")[0])
    await therapist.click("Open live session")
    await until(lambda: patient.facts.link == "connected", 40, "the call")
    await asyncio.sleep(1.5)
    await therapist.see_words("Connected", within_s=60)


def _lost_before_up(timeline: str) -> bool:
    """Whether a line says the call was lost before a line said it was up."""
    for line in timeline.splitlines():
        if line.endswith(("therapist: connected", "therapist: weak")):
            return False
        if line.endswith("therapist: lost"):
            return True
    return False


async def _support_core(clinic: ClinicServer, invite: str, folder: Path) -> RoleCore:
    options = CoreOptions(data_dir=folder, fake_media=True, audio=False)
    support = RoleCore("support", clinic.url, options)
    await support.connect()
    await support.join(invite)
    await support.start()
    return support


async def test_closing_mid_session_asks_then_the_home_is_told_and_a_relaunch_brings_it_back(
    clinic: ClinicServer, shots: Path, tmp_path: Path
) -> None:
    """Issue 16: the therapist closes the console mid-session. Asked inside the window
    (no dialog); "Stay in the session" keeps everything. Leaving anyway, the patient's
    app says its one calm line (shown and spoken, no alarm) and the support person is
    told (never-alone.md, "link lost"). Started again with no keyring, the console signs
    in, opens the same session: the call comes back and the timeline is there."""
    async with journey("therapist", shots) as therapist:
        code, support_code = await _signed_in_with_a_session(therapist, clinic)
        patient = await patient_core_joined(clinic, code, tmp_path / "patient")
        calm: list[str] = []
        patient.patient_line.connect(calm.append)
        support: RoleCore | None = None
        try:
            support = await _support_core(clinic, support_code, tmp_path / "support")
            await _open_live(therapist, patient)
            await therapist.click("Request a check-in")
            await until(lambda: patient.pending_checkin is not None, 15, "the request")
            await patient.check_in()
            screen = await therapist.see_words("Last check-in: just now", within_s=15)
            before_s = _session_seconds(screen)
            await therapist.shot("live, the patient checked in")

            # Closing asks first, inside the window: no dialog, the call goes on. Nothing
            # told the patient the call dropped before it (under load it flapped while the
            # console's audio callback ran unpaced: DevicePace).
            assert not calm, calm
            await therapist.desktop.close_window(TITLE)
            screen = await therapist.see_words("Close the console?", within_s=10)
            assert screen.one(name="Stay in the session").focused
            assert not [n for n in screen.nodes if n.role in ("dialog", "alert")], screen.text
            assert len(await therapist.desktop.window_sizes()) == 1
            await therapist.shot("asked before closing")
            await therapist.click("Stay in the session")
            await asyncio.sleep(2)
            assert patient.facts.link == "connected" and not calm

            # Leaving anyway.
            await therapist.desktop.close_window(TITLE)
            await therapist.see_words("Close the console?", within_s=10)
            await therapist.click("Close the console")
            assert await therapist.exited(within_s=20) == 0
            await until(lambda: any(CALM_LINE in line for line in calm), 30, "the calm line")
            assert support is not None
            told = support
            await until(
                lambda: any(a.reason == "link_lost" for a in told.facts.open_alerts.values()),
                15,
                "the support person told",
            )
            assert told.facts.link == "lost"

            # Started again: no keyring, so the secret is typed; the same session opens.
            await therapist.launch("therapist", "--server", clinic.url, "--fake-media")
            await _sign_in(therapist, clinic)
            await therapist.shot("started again")
            await _open_live(therapist, patient)
            await until(lambda: told.facts.link == "connected", 30, "the support person sees it")
            screen = await therapist.see_words("Last check-in:", within_s=10)
            assert not screen.says("Last check-in: not yet"), screen.text
            assert _session_seconds(screen) > before_s, screen.text  # it counts on
            await therapist.click("Timeline", role="page tab")
            screen = await therapist.see_words("Patient checked in: I'm OK", within_s=15)
            assert screen.says("Therapist asked for a check-in"), screen.text
            assert screen.says("The app was closed, and started again"), screen.text
            # No line says the call was lost before it was first up, in either run.
            runs = screen.text.split("The app was closed, and started again")
            assert len(runs) == 2 and not any(map(_lost_before_up, runs)), screen.text
            await therapist.shot("back in the same session, the timeline there")
            assert "Traceback" not in therapist.log(1), therapist.log(1)[-2000:]
            assert "Traceback" not in therapist.log(), therapist.log()[-2000:]
        finally:
            if support is not None:
                await support.close()
            await patient.close()
