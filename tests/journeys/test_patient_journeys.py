"""The patient's journeys, as a person takes them (issue 16)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from companion.app import RoleCore
from companion.protocol.messages import CreateSession, SessionCreated
from tests.journeys.conftest import Session
from tests.journeys.harness import SCREEN, ClinicServer, journey
from tests.waiting import until

# A journey launches each app as its own process, several times: minutes, not seconds.
pytestmark = pytest.mark.timeout(300)

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
        await _settled_in_session(session.therapist)
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


async def test_no_keyring_relaunch_mid_session_and_the_sessions_end(
    session: Session, shots: Path
) -> None:
    therapist = session.therapist
    async with journey("patient", shots) as patient:
        # The link from the clinic's email (it names the server, which is remembered).
        await patient.launch("patient", "--fake-media", "--join", session.invites["patient"].link)
        await patient.see_words("Before your session", within_s=15)
        # An intention, on a computer with no keyring: the passphrase is asked here, on
        # the screen, before the session (never in a dialog over "I'm OK").
        await patient.fill("Your intention", "To rest, and to listen.")
        await patient.click(READY)
        screen = await patient.see_words("no keyring", within_s=10)
        assert not any("modal" in n.states for n in screen.nodes)
        await asyncio.sleep(0.5)  # the scroll to the new rows
        screen = await patient.desktop.read()
        field = screen.one(name="Passphrase for your private words")
        assert field.focused
        # On the screen, not scrolled away under the window's edge.
        _, y, _, height = field.extents
        assert y >= 0 and y + height <= SCREEN[1], field.extents
        await patient.shot("passphrase asked before the session")
        await patient.desktop.type("a quiet passphrase")
        await patient.click(READY)
        await _settled_in_session(therapist)
        await patient.see(lambda s: bool(s.find(name=OK_BUTTON)), 30, "the session")
        await patient.shot("session")

        # Closing the window mid-session asks inside it; "Close Companion" really ends
        # the process.
        await patient.desktop.close_window("Companion")
        screen = await patient.see_words("Close Companion?", within_s=10)
        assert screen.one(name="Stay in the session").focused
        await patient.shot("asked before closing")
        await patient.click("Close Companion")
        assert await patient.exited(within_s=15) == 0
        first_log = patient.log()
        assert "Traceback" not in first_log, first_log[-2000:]
        await patient.shot("closed")

        # Opened again with no arguments: back in the same session, asking nothing.
        await until(lambda: therapist.facts.link != "connected", 15, "the therapist sees it")
        relaunched = time.monotonic()
        await patient.launch("patient", "--fake-media")
        await _settled_in_session(therapist)
        assert time.monotonic() - relaunched < 20 + CALL_SETTLES_S
        await patient.see(lambda s: bool(s.find(name=OK_BUTTON)), 10, "the session again")
        await patient.see_words("Your therapist is with you", within_s=30)
        await patient.shot("back in the session")

        # The therapist ends the session: the gentle after screen.
        await therapist.end_session()
        await patient.see_words("Thank you. Rest now.", within_s=15)
        await patient.see_words("Your therapist has ended the session")
        await patient.shot("after the session")
        await patient.desktop.close_window("Companion")
        assert await patient.exited(within_s=15) == 0
        assert "Traceback" not in patient.log(), patient.log()[-2000:]

        # Next week, same computer: opened with nothing, the code read over the phone is
        # all it takes (the server was remembered from last week's link).
        created = await therapist.signaling.create_session("next week")
        code = next(i.code for i in created.invites if i.role == "patient")
        await patient.launch("patient", "--fake-media")
        screen = await patient.see_words("Welcome to Companion", within_s=20)
        assert not screen.find(name="Clinic server address", role="text")
        await patient.desktop.type(code)
        await patient.desktop.key("Return")
        await patient.see_words("Before your session", within_s=10)
        await patient.shot("next week, the code alone")


async def test_the_server_down_then_up(session: Session, clinic: ClinicServer, shots: Path) -> None:
    async with journey("patient", shots) as patient:
        clinic.stop()
        await patient.launch("patient", "--fake-media", "--join", session.invites["patient"].link)
        started = time.monotonic()
        await patient.see_words("could not be reached", within_s=10)
        assert time.monotonic() - started < 10
        await patient.shot("server down")
        await asyncio.to_thread(clinic.start)
        await patient.click(JOIN)
        await patient.see_words("Before your session", within_s=15)
        await patient.shot("server up again")


FULL_HD = (1920, 1080)


async def test_a_withdrawn_and_an_expired_code_at_1920x1080(
    session: Session, clinic: ClinicServer, shots: Path
) -> None:
    """Each bad code gets the server's plain sentence and what to do, said once; on a large
    screen too (the window is not stretched to the corners: it fits and reads)."""
    signaling = session.therapist.signaling
    # An invitation that lives the shortest time the server allows (60 s), and one withdrawn.
    # forged: a 60 s invitation, which the app never asks for
    expiring: SessionCreated = await signaling._request(
        CreateSession(type="create_session", label="expiring", invite_ttl_s=60)
    )
    expires = time.monotonic() + 60
    expired_code = next(i.code for i in expiring.invites if i.role == "patient")
    withdrawn = await signaling.create_session("withdrawn")
    invite = next(i for i in withdrawn.invites if i.role == "patient")
    await signaling.revoke_invite(invite.invite_id)

    async with journey("patient", shots, FULL_HD) as patient:
        await patient.launch("patient", "--fake-media")
        await patient.see_words("Welcome to Companion")
        assert fits(await patient.desktop.window_sizes(), FULL_HD)
        await patient.desktop.type(invite.code)
        await patient.desktop.key("Return")
        await patient.see_words("does not know your clinic's server", within_s=8)
        await patient.fill("Clinic server address", clinic.url)
        await patient.click(JOIN)
        screen = await patient.see_words("This invitation was withdrawn", within_s=8)
        assert screen.text.lower().count("new one") == 1, screen.text
        # Ready for the next code: the code field has the focus, not the server address
        # (which the Join button, disabled while trying, had passed it to).
        await asyncio.sleep(0.5)
        screen = await patient.desktop.read()
        assert screen.one(name="Invitation code or link", role="text").focused
        await patient.shot("a withdrawn code")

        await asyncio.sleep(max(0.0, expires - time.monotonic()) + 1.0)
        await patient.desktop.type(expired_code)  # replaces the code, as it is selected
        await patient.desktop.key("Return")
        screen = await patient.see_words("This invitation has expired", within_s=8)
        assert screen.text.lower().count("new one") == 1, screen.text
        await patient.shot("an expired code")
        assert "Traceback" not in patient.log(), patient.log()[-2000:]


CALL_SETTLES_S = 1.5


async def _settled_in_session(therapist: RoleCore) -> None:
    """The call is up (seen from the therapist's side), then a moment for the window.

    The screen is not read while the patient's window goes from preparation to the
    session: PySide6 6.11's AT-SPI bridge has crashed the app (SIGSEGV in
    QAccessibleCache::idForObject, answering a reader's query) in that moment, now and
    then, here. Reported, not worked around in the app; see the issue's notes."""
    await until(lambda: therapist.facts.link == "connected", 30, "the call")
    await asyncio.sleep(CALL_SETTLES_S)
