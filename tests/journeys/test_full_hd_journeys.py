"""The support person's board and the therapist's console on a 1920×1080 screen (issue
16): each main screen fits, nothing on it is cut off, at the window's own size and
maximised. Screenshots of each, to look at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.journeys.conftest import Session, patient_core_joined
from tests.journeys.harness import ClinicServer, Journey, Screen, journey
from tests.journeys.test_therapist_journeys import TITLE as CONSOLE
from tests.journeys.test_therapist_journeys import _open_live, _signed_in_with_a_session
from tests.waiting import until

pytestmark = pytest.mark.timeout(300)

FULL_HD = (1920, 1080)
BOARD = "Companion — support person"


def cut_off(screen: Screen, size: tuple[int, int] = FULL_HD) -> list[str]:
    """Every showing object not wholly on the screen and inside its window."""
    frames = [n for n in screen.nodes if n.role == "frame" and "/" not in n.path]
    out = []
    for node in screen.nodes:
        x, y, w, h = node.extents
        if "showing" not in node.states or w <= 0 or h <= 0 or node in frames:
            continue
        inside = any(
            fx <= x and fy <= y and x + w <= fx + fw and y + h <= fy + fh
            for fx, fy, fw, fh in (f.extents for f in frames)
        )
        on_screen = x >= 0 and y >= 0 and x + w <= size[0] and y + h <= size[1]
        if not (inside and on_screen):
            out.append(f"{node.role} {node.words[:60]!r} at {node.extents}")
    return out


async def _fits_then_maximised(person: Journey, title: str, what: str) -> None:
    sizes = await person.desktop.window_sizes()
    assert sizes and all(w <= FULL_HD[0] and h <= FULL_HD[1] for _, _, w, h in sizes), sizes
    screen = await person.desktop.read()
    assert cut_off(screen) == [], cut_off(screen)
    await person.shot(f"{what} at 1920x1080")
    await person.desktop.run("wmctrl", "-r", title, "-b", "add,maximized_vert,maximized_horz")
    await asyncio.sleep(1.5)  # the window manager, then the layout
    screen = await person.desktop.read()
    assert cut_off(screen) == [], cut_off(screen)
    await person.shot(f"{what} maximised at 1920x1080")


async def test_the_support_board_at_1920x1080(
    session: Session, clinic: ClinicServer, shots: Path, tmp_path: Path
) -> None:
    patient = await patient_core_joined(clinic, session.invites["patient"].code, tmp_path / "p")
    try:
        async with journey("support", shots, FULL_HD) as support:
            await support.launch("support", "--join", session.invites["support"].link)
            await until(lambda: session.therapist.facts.link == "connected", 40, "the call")
            await support.see_words("Connected", within_s=30)
            await asyncio.sleep(1.5)
            await _fits_then_maximised(support, BOARD, "the board")
            assert "Traceback" not in support.log(), support.log()[-2000:]
    finally:
        await patient.close()


async def test_the_therapist_console_at_1920x1080(
    clinic: ClinicServer, shots: Path, tmp_path: Path
) -> None:
    async with journey("therapist", shots, FULL_HD) as therapist:
        code, _ = await _signed_in_with_a_session(therapist, clinic)
        await _fits_then_maximised(therapist, CONSOLE, "sessions and invitations")
        patient = await patient_core_joined(clinic, code, tmp_path / "patient")
        try:
            await _open_live(therapist, patient)
            await _fits_then_maximised(therapist, CONSOLE, "the live session")
            assert "Traceback" not in therapist.log(), therapist.log()[-2000:]
        finally:
            await patient.close()
