"""The support person's journey (issue 16): joining late, closing mid-session, coming
back, the session's end."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.app import RoleCore
from companion.protocol.messages import EmergencyCard, SessionPlan
from tests.journeys.conftest import Session, patient_core_joined
from tests.journeys.harness import ClinicServer, journey
from tests.waiting import until

# A journey launches each app as its own process, several times: minutes, not seconds.
pytestmark = pytest.mark.timeout(300)

TITLE = "Companion — support person"


def _support_online(core: RoleCore) -> bool:
    presence = core.signaling.presence
    return presence is not None and any(
        m.role == "support" and m.status == "online" for m in presence.members
    )


async def test_support_joins_late_closes_mid_session_comes_back_and_sees_the_end(
    session: Session, clinic: ClinicServer, shots: Path, tmp_path: Path
) -> None:
    therapist = session.therapist
    patient = await patient_core_joined(clinic, session.invites["patient"].code, tmp_path / "p")
    try:
        # Before the support person ever opens the app: the card and the plan are sent.
        await patient.share_card(
            EmergencyCard(kind="card", address="1 Quiet Lane", emergency_number="112")
        )
        await therapist.set_plan(SessionPlan(kind="plan", emergency_number="112"))
        async with journey("support", shots) as support:
            await support.launch("support", "--join", session.invites["support"].link)
            await support.see_words("Emergency number: 112", within_s=20)
            await support.shot("joined late, the plan is there")
            await support.click("Emergency card")
            await support.see_words("1 Quiet Lane", within_s=10)
            await support.shot("the emergency card")
            await support.click("Close")

            # Closing mid-session asks first; the board stays with "Stay on the board".
            await support.desktop.close_window(TITLE)
            screen = await support.see_words("Close the board?", within_s=10)
            assert screen.one(name="Stay on the board").focused
            await support.shot("asked before closing")
            await support.click("Stay on the board")
            await support.desktop.close_window(TITLE)
            await support.see_words("Close the board?", within_s=10)
            await support.click("Close the board")
            assert await support.exited(within_s=15) == 0
            await until(lambda: not _support_online(therapist), 15, "the therapist sees them go")

            # Opened again with no arguments: the same session's board, card and all.
            await support.launch("support")
            await support.see_words("Emergency number: 112", within_s=25)
            await until(lambda: _support_online(therapist), 15, "the therapist sees them back")
            await support.shot("back on the board")

            await therapist.end_session()
            await support.see_words("The session has ended", within_s=15)
            await support.shot("the session has ended")
            await support.desktop.close_window(TITLE)
            assert await support.exited(within_s=15) == 0
            assert "Traceback" not in support.log(), support.log()[-2000:]
    finally:
        await patient.close()
