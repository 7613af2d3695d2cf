"""The support person's board in a browser (issue 25): served by the clinic server, opened
by the support invite's web link, speaking the protocol with the real apps' cores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from companion.protocol.messages import EmergencyCard, SessionPlan
from companion.server.app import SignalingServer
from companion.server.webboard import board_link
from tests.board.conftest import BoardRig, until


def test_the_board_link_carries_the_invite_in_its_fragment() -> None:
    assert board_link("wss://clinic.example/ws", "ci1.a.b") == (
        "https://clinic.example/board#invite=ci1.a.b"
    )
    assert board_link("ws://127.0.0.1:8765/ws", "t") == "http://127.0.0.1:8765/board#invite=t"
    assert board_link("wss://h.example/companion/ws", "t") == (
        "https://h.example/companion/board#invite=t"
    )


async def test_the_server_serves_the_board_and_only_its_own_files(
    server: SignalingServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.http_url}/board") as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert "Join the session" in await page.text()
            policy = page.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "default-src 'none'" in policy
            assert page.headers["Referrer-Policy"] == "no-referrer"
        for name, kind in (("board.js", "text/javascript"), ("wire.js", "text/javascript"),
                           ("board.css", "text/css")):  # fmt: skip
            async with http.get(f"{server.http_url}/board/{name}") as asset:
                assert asset.status == 200 and asset.content_type == kind, name
        for name in ("../app.py", "index.html.bak", "%2e%2e%2fwebboard.py"):
            async with http.get(f"{server.http_url}/board/{name}") as missing:
                assert missing.status == 404, name


async def test_join_and_a_steady_board(rig: BoardRig, shots: Path) -> None:
    """The link opens the page; one press joins; the board shows the call's state, the
    last check-in, the therapist's instructions and the patient's card (their words
    sealed through the server and opened in the page), and holds steady."""
    session = await rig.session()
    therapist, patient = session.therapist, session.patient
    page = await rig.page(session.board_link)
    assert await page.evaluate("location.hash") == ""  # the token left the address bar
    await page.screenshot(shots / "board-join-phone.png")
    await rig.join(page)
    await until(lambda: patient.facts.link == "connected", 20)
    await page.wait_for("document.getElementById('state').textContent === 'Connected'", 20)

    plan = SessionPlan(kind="plan", instructions="Knock softly, then go in.",
                       emergency_number="112")  # fmt: skip
    await therapist.set_plan(plan)
    card = EmergencyCard(kind="card", patient_name="Sam Rivera", address="1 Calm Street",
                         taken="ketamine 100 mg", emergency_number="112")  # fmt: skip
    await patient.share_card(card)
    await patient.check_in("button")
    await page.wait_for("document.getElementById('checkin').textContent"
                        " === 'Last check-in: just now'")  # fmt: skip
    await page.wait_for("document.getElementById('emergency-line').textContent"
                        " === 'Emergency number: 112'")  # fmt: skip
    await page.screenshot(shots / "board-steady-phone.png")

    await page.tap("show-instructions")
    assert await page.text("instructions-text") == "Knock softly, then go in."
    await page.screenshot(shots / "board-instructions-phone.png")
    await page.tap("instructions-panel-close")
    await page.tap("show-card")
    body = await page.text("card-body")
    assert "1 Calm Street" in body and "Sam Rivera" in body and "ketamine 100 mg" in body
    await page.screenshot(shots / "board-card-phone.png")
    await page.tap("card-panel-close")

    # Steady: 8 s of pings, no drop, no refusal, the server's member list says online.
    await asyncio.sleep(8)
    board = await page.evaluate(
        "({up: companionBoard.serverUp, errors: companionBoard.errors,"
        " refused: companionBoard.refused, sent: companionBoard.rid})"
    )
    assert board["up"] and board["errors"] == [] and board["refused"] == []
    assert board["sent"] >= 6  # pings went out every second
    support = [m for m in therapist.signaling.members if m.role == "support"]
    assert [m.status for m in support] == ["online"]
    assert support[0].public_key and support[0].box_key  # made in the page by WebCrypto


async def test_vitals_and_look_ins_reach_the_therapist(rig: BoardRig, shots: Path) -> None:
    """The plan's paced checks: a vitals reminder due, three numbers typed, sent sealed and
    read by the therapist's core; then a look-in."""
    session = await rig.session(patient=False)
    therapist = session.therapist
    page = await rig.page(session.board_link)
    await rig.join(page)
    dose_at = time.time() - 6 * 60  # vitals at -5 min are due; the first look-in is not
    await therapist.set_plan(SessionPlan(kind="plan", dose_at=dose_at, vitals_at_min=[-5, 40],
                                         lookin_every_min=5))  # fmt: skip
    await page.wait_for("!document.getElementById('reminder').hidden")
    assert await page.text("reminder-text") == "Time to take blood pressure and heart rate"
    assert await page.evaluate("document.getElementById('reminder-done').disabled")
    for box, value in (("systolic", "128"), ("diastolic", "82"), ("heart-rate", "71")):
        await page.tap(box)
        await page.type_text(value)
    assert not await page.evaluate("document.getElementById('reminder-done').disabled")
    await page.screenshot(shots / "board-vitals-phone.png")
    await page.tap("reminder-done")
    await until(lambda: any(e.kind == "vitals" for e in therapist.facts.timeline))
    entry = next(e for e in therapist.facts.timeline if e.kind == "vitals")
    assert entry.text == "Vitals recorded: 128/82 mmHg, 71 bpm"  # opened by the therapist
    assert "Vitals sent to the therapist at" in await page.text("message")
    # The look-in due at +5 min comes next (its time has come too).
    await page.wait_for("document.getElementById('reminder-text').textContent"
                        " === 'Time to look in on the patient'")  # fmt: skip
    await page.tap("reminder-done")
    await until(lambda: any(e.kind == "lookin" for e in therapist.facts.timeline))
