"""The home link from the board in a browser to the patient's app (peer-protocol.md):
data channels over the home network, heartbeats both ways, signed events, no server."""

from __future__ import annotations

from pathlib import Path

from tests.board.conftest import BoardRig, until


async def test_the_home_link_holds_with_the_server_killed(rig: BoardRig, shots: Path) -> None:
    """The page answers the patient's app's offer; with the clinic's server gone, the
    patient's call for help still reaches the board, and the board's answer (alert.ack,
    with_patient, signed by its session key) reaches the patient's app."""
    session = await rig.session()
    patient = session.patient
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for("companionBoard.homeState === 'connected'", timeout=20)
    await until(lambda: patient.facts.home_link == "connected", 10)
    answer = await page.evaluate("companionBoard.homeLink.answerSdp")
    candidates = [line for line in answer.splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" typ host" in line for line in candidates)

    await rig.server.stop()  # the clinic's server dies; the home network does not
    await page.wait_for("document.getElementById('server-line').textContent"
                        " === 'Reconnecting to the clinic…'")  # fmt: skip
    await patient.help_held()
    await page.wait_for(
        "!document.getElementById('call').hidden && document.getElementById('call-text')"
        ".textContent === 'The patient is asking for help — please go to them now'"
    )
    await page.screenshot(shots / "board-help-without-server-phone.png")
    answered: list[str] = []
    patient.help_answered.connect(answered.append)
    await page.tap("with-patient")
    await until(lambda: set(answered) == {"support"})
    kinds = [(e.who, e.kind) for e in patient.facts.timeline]
    assert ("support", "alert.ack") in kinds and ("support", "with_patient") in kinds
    await patient.check_in("button")
    await page.wait_for("document.getElementById('checkin').textContent"
                        " === 'Last check-in: just now'")  # fmt: skip
    assert await page.evaluate("companionBoard.homeState") == "connected"
    assert await page.evaluate("companionBoard.refused") == []
