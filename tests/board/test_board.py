"""The support person's board in a browser (issue 25): served by the clinic server, opened
by the support invite's web link, speaking the protocol with the real apps' cores."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from companion.app import RoleCore
from companion.monitor.ladder import LadderTimings
from companion.protocol.messages import EmergencyCard, SessionPlan
from companion.server.app import SignalingServer
from companion.server.webboard import board_link
from devtools.chromium import DevToolsError
from tests.board.conftest import A11Y_PROBLEMS, BoardRig, Session
from tests.call.conftest import go_silent
from tests.waiting import until


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
        for name, kind in (
            ("board.js", "text/javascript"),
            ("wire.js", "text/javascript"),
            ("board.css", "text/css"),
        ):
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

    plan = SessionPlan(
        kind="plan", instructions="Knock softly, then go in.", emergency_number="112"
    )
    await therapist.set_plan(plan)
    card = EmergencyCard(
        kind="card",
        patient_name="Sam Rivera",
        address="1 Calm Street",
        taken="ketamine 100 mg",
        emergency_number="112",
    )
    await patient.share_card(card)
    await patient.check_in("button")
    await page.wait_for(
        "document.getElementById('checkin').textContent === 'Last check-in: just now'"
    )
    await page.wait_for(
        "document.getElementById('emergency-line').textContent === 'Emergency number: 112'"
    )
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
    await therapist.set_plan(
        SessionPlan(kind="plan", dose_at=dose_at, vitals_at_min=[-5, 40], lookin_every_min=5)
    )
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
    await page.wait_for(
        "document.getElementById('reminder-text').textContent === 'Time to look in on the patient'"
    )
    await page.tap("reminder-done")
    await until(lambda: any(e.kind == "lookin" for e in therapist.facts.timeline))


async def _go_to_patient_after(rig: BoardRig, seconds: float) -> Session:
    """A session with the call up, the patient's ladder calling the support person
    ``seconds`` after its link is lost (the therapist may set 10–120 s; shorter here)."""
    session = await rig.session()
    patient = session.patient
    assert patient.guardian is not None
    patient.guardian.ladder.timings = LadderTimings(go_to_patient_after_s=seconds)
    return session


async def _silence_the_therapist(therapist: RoleCore, patient: RoleCore) -> None:
    await until(lambda: patient.facts.link == "connected", 20)
    assert therapist.guardian is not None and therapist.guardian.call_watch is not None
    await therapist.guardian.call_watch.close()  # the therapist's side goes silent
    assert therapist.call is not None
    await go_silent(therapist.call)


def _open_reasons(core: RoleCore) -> set[str]:
    return {a.reason for a in core.facts.open_alerts.values()}


async def test_go_to_patient_from_the_patients_app_is_shown_and_acknowledged(
    rig: BoardRig, shots: Path
) -> None:
    """No Qt support app runs: the patient's own app raises "go to the patient"; the page
    shows it, sounds it again every 10 s, and one press answers it for everyone."""
    session = await _go_to_patient_after(rig, 2.0)
    therapist, patient = session.therapist, session.patient
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for("document.getElementById('state').textContent === 'Connected'", 20)
    await _silence_the_therapist(therapist, patient)
    await page.wait_for(
        "document.getElementById('call-text').textContent === 'Please go to the patient now'"
        " && !document.getElementById('call').hidden",
        timeout=20,
    )
    assert await page.text("state") == "Therapist disconnected"
    await until(lambda: "go_to_patient" in _open_reasons(therapist))
    await page.screenshot(shots / "board-go-to-patient-phone.png")
    # Sounded, and again 10 s later while nobody answered.
    await page.wait_for(
        "companionBoard.sounds.played.filter(([k]) => k === 'call').length >= 2", timeout=15
    )
    assert await page.evaluate("document.activeElement.id") == "with-patient"

    await page.tap("with-patient")
    await until(lambda: not _open_reasons(therapist) & {"go_to_patient", "link_lost"})
    kinds = [e.kind for e in therapist.facts.timeline]
    assert "alert.ack" in kinds and "with_patient" in kinds
    ack = next(e for e in therapist.facts.timeline if e.kind == "alert.ack")
    assert ack.who == "support"
    await until(lambda: any(e.kind == "with_patient" for e in patient.facts.timeline))
    assert await page.text("message") == (
        "Thank you. The therapist can see you're with the patient."
    )
    assert not await page.visible("call")
    await page.screenshot(shots / "board-with-patient-phone.png")


async def test_a_tab_frozen_in_the_background_gets_the_call_when_it_comes_back(
    rig: BoardRig, shots: Path
) -> None:
    """The phone puts the tab away for a minute (frozen: no script runs); the patient's
    app calls meanwhile. Back in front, the board shows the call at once."""
    session = await _go_to_patient_after(rig, 2.0)
    therapist, patient = session.therapist, session.patient
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for("document.getElementById('state').textContent === 'Connected'", 20)
    lost_before = _support_losses(therapist)
    await page.send("Page.setWebLifecycleState", state="frozen")
    started = time.monotonic()
    await asyncio.sleep(20)  # a while in the background first
    await _silence_the_therapist(therapist, patient)
    await until(lambda: "go_to_patient" in _open_reasons(therapist), 20)
    await asyncio.sleep(max(0.0, 60 - (time.monotonic() - started)))
    await page.send("Page.setWebLifecycleState", state="active")
    await page.wait_for(
        "!document.getElementById('call').hidden && document.getElementById('call-text')"
        ".textContent === 'Please go to the patient now'",
        timeout=10,
    )
    await page.screenshot(shots / "board-back-from-background-phone.png")
    board = await page.evaluate("({up: companionBoard.serverUp, errors: companionBoard.errors})")
    print(f"support lost while frozen: {_support_losses(therapist) - lost_before} time(s)")
    assert board["errors"] == []
    await page.wait_for("companionBoard.serverUp", timeout=10)


def _support_losses(core: RoleCore) -> int:
    return sum(1 for e in core.facts.timeline if e.kind == "member.lost" and "Support" in e.text)


async def test_the_board_resumes_after_a_drop_and_gets_what_it_missed(rig: BoardRig) -> None:
    """The server stops hearing the page and answering it, without closing anything (a
    dead route): the page notices by its own pings, reconnects, resumes its place (the
    same member), and the check-in made meanwhile arrives."""
    session = await rig.session()
    page = await rig.page(session.board_link)
    await rig.join(page)
    member = await page.evaluate("companionBoard.memberId")
    for conn in list(rig.server.connections):
        if conn.member is not None and conn.member.member_id == member:
            transport = conn._transport  # fault injection: a dead route
            assert transport is not None
            transport.pause_reading()  # no close frame, no answer: a dead route
    await session.patient.check_in("key")
    await page.wait_for(
        "document.getElementById('checkin').textContent === 'Last check-in: just now'", timeout=15
    )
    assert await page.evaluate("companionBoard.memberId") == member
    assert await page.evaluate("companionBoard.errors") == []


async def test_what_the_page_may_not_send_or_accept_is_refused(rig: BoardRig) -> None:
    """The support seat asking for a check-in or offering the therapist a call: the page
    refuses to send it, and a raw frame through its socket is refused by the server.
    What arrives is checked against the authority table before anything is shown."""
    session = await rig.session()
    therapist = session.therapist
    page = await rig.page(session.board_link)
    await rig.join(page)
    with pytest.raises(DevToolsError, match=r"may not send checkin\.request"):
        await page.evaluate("companionBoard.publish({kind: 'checkin.request', request_id: 'r1'})")
    therapist_id = therapist.signaling.member_id
    await page.evaluate(
        "companionBoard.send({type: 'event', event_id: crypto.randomUUID(),"
        " event: {kind: 'checkin.request', request_id: 'r1'}})"
        f" && companionBoard.send({{type: 'signal', to: {therapist_id!r},"
        " pc_id: 'call-1-x', data: {kind: 'offer', sdp: 'v=0'}})"
    )
    errors = await page.wait_for("companionBoard.errors.length >= 2 && companionBoard.errors")
    assert errors == ["event_kind_forbidden", "signal_forbidden"]
    await asyncio.sleep(0.5)
    assert not any(e.kind == "checkin.request" for e in therapist.facts.timeline)

    refused = await page.evaluate("""(async () => {
        const b = companionBoard, id = () => crypto.randomUUID();
        await b.receive(id(), {kind: 'session.end'}, 'support', 'home');
        await b.receive(id(), {kind: 'prompt.push', prompt_id: 'box-breathing'}, 'therapist', 'server');
        await b.receive(id(), {kind: 'checkin', source: 'elbow'}, 'patient', 'server');
        await b.receive(id(), {kind: 'checkin', source: 'key', later: 1}, 'patient', 'server');
        await b.receive('a1', {kind: 'alert.raised', alert_id: 'x1', reason: 'help', urgent: true,
                               for_roles: ['support']}, 'patient', 'server');
        await b.receive(id(), {kind: 'alert.resolved', alert_id: 'x1'}, 'therapist', 'server');
        await b.receive(id(), {kind: 'alert.ack', alert_id: 'x1'}, 'patient', 'server');
        const stillOpen = b.openAlerts().map((a) => a.alertId);
        await b.receive(id(), {kind: 'alert.ack', alert_id: 'x1'}, null, 'server');  // a phone
        return {stillOpen, refused: b.refused.map(([kind]) => kind), ended: b.ended,
                checkin: b.lastCheckinAt !== null,
                open: b.openAlerts().map((a) => a.alertId)};
    })()""")
    assert refused == {
        "stillOpen": ["x1"],
        "refused": ["session.end", "prompt.push", "checkin", "alert.resolved", "alert.ack"],
        "ended": False,
        "checkin": True,  # a field of a later version is ignored, the event kept
        "open": [],  # answered from a phone's acknowledge link, written by the server
    }


async def test_every_state_of_the_board_reads_well_on_a_phone(rig: BoardRig, shots: Path) -> None:
    """WCAG AA contrast and 44 px targets on the join page, the steady board, the call,
    a reminder with its vitals, the instructions and the card; nothing wider than the
    phone's 375 px."""
    session = await rig.session(patient=False)
    page = await rig.page(session.board_link)
    wide = "document.documentElement.scrollWidth <= 375"
    assert await page.evaluate(A11Y_PROBLEMS) == [] and await page.evaluate(wide)
    await rig.join(page)
    await page.evaluate(
        "companionBoard.receive(crypto.randomUUID(), {kind: 'alert.raised', alert_id: 'lost1',"
        " reason: 'link_lost', urgent: false, for_roles: ['support']}, 'patient', 'server')"
    )
    await page.screenshot(shots / "board-link-lost-news-phone.png")
    states = {"news": None, "call": "go", "reminder": "vitals", "sheet": "sheet"}
    for name, step in states.items():
        if step == "go":
            await page.evaluate(
                "companionBoard.receive(crypto.randomUUID(), {kind: 'alert.raised',"
                " alert_id: 'go1', reason: 'go_to_patient', urgent: true,"
                " for_roles: ['support', 'therapist']}, 'patient', 'server')"
            )
        elif step == "vitals":
            await page.tap("with-patient")
            await page.tap("record-vitals")
        elif step == "sheet":
            await page.tap("show-card")
        problems = await page.evaluate(A11Y_PROBLEMS)
        assert problems == [] and await page.evaluate(wide), (name, problems)
    await page.screenshot(shots / "board-card-empty-phone.png")
    # The check itself sees a faint line and a small button (styled through the CSSOM:
    # the page's policy refuses inline style attributes).
    await page.evaluate(
        "(() => { const p = document.createElement('p'); p.id = 'faint'; p.textContent = 'x';"
        " Object.assign(p.style, {color: '#aaa', background: '#fff'});"
        " const b = document.createElement('button'); b.id = 'tiny'; b.textContent = 'x';"
        " Object.assign(b.style, {minHeight: '0', height: '20px', minWidth: '0', width: '20px',"
        " padding: '0'}); document.body.append(p, b); })()"
    )
    problems = await page.evaluate(A11Y_PROBLEMS)
    assert [p.split()[0] for p in problems] == ["faint", "tiny"], problems


async def test_a_reload_takes_the_same_place_back_without_asking(rig: BoardRig) -> None:
    """The phone reloads the page: it goes straight back to the board as the same member
    (its device, the invite kept for this tab), with fresh keys that open new words, and
    asks for a press to make sounds again."""
    session = await rig.session()
    page = await rig.page(session.board_link)
    await rig.join(page)
    member = await page.evaluate("companionBoard.memberId")
    await page.evaluate("window.beforeReload = true")  # gone with the old document
    await page.send("Page.reload")
    # Mid-session, leaving asks first (the browser's own question); the person says yes.
    async with asyncio.timeout(10):
        while not any(e["method"] == "Page.javascriptDialogOpening" for e in page.events):
            await asyncio.sleep(0.05)
    dialog = next(e for e in page.events if e["method"] == "Page.javascriptDialogOpening")
    assert dialog["params"]["type"] == "beforeunload"
    await page.send("Page.handleJavaScriptDialog", accept=True)
    await page.wait_for(
        "!window.beforeReload && !!window.companionBoard"
        " && !document.getElementById('board').hidden"
    )
    assert await page.evaluate("companionBoard.memberId") == member
    assert await page.visible("sound-on")
    await page.tap("sound-on")
    await page.wait_for("document.getElementById('sound-on').hidden")
    card = EmergencyCard(kind="card", address="2 Quiet Lane", emergency_number="999")
    await session.patient.share_card(card)  # sealed for the new box key
    await page.wait_for("companionBoard.card !== null")
    await page.tap("show-card")
    assert "2 Quiet Lane" in await page.text("card-body")
    supports = [m for m in session.therapist.signaling.members if m.role == "support"]
    assert [m.member_id for m in supports] == [member]


async def test_a_tab_hidden_behind_another_keeps_its_place_and_sounds_the_call(
    rig: BoardRig, shots: Path
) -> None:
    """The person switches to another tab for a minute (the board hidden, its timers
    throttled, not frozen): the board keeps its place on the server all along, and the
    patient's app's call reaches it and sounds while it is hidden."""
    session = await _go_to_patient_after(rig, 2.0)
    therapist, patient = session.therapist, session.patient
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for("document.getElementById('state').textContent === 'Connected'", 20)
    assert rig.browser is not None
    other = await rig.browser.open("about:blank")
    await other.send("Page.bringToFront")
    await page.wait_for("document.visibilityState === 'hidden'", timeout=5)
    lost_before = _support_losses(therapist)
    started = time.monotonic()
    await asyncio.sleep(20)
    await _silence_the_therapist(therapist, patient)
    await page.wait_for(
        "document.visibilityState === 'hidden' &&"
        " companionBoard.sounds.played.some(([kind]) => kind === 'call')",
        timeout=20,
    )
    await asyncio.sleep(max(0.0, 60 - (time.monotonic() - started)))
    assert _support_losses(therapist) == lost_before  # never dropped while hidden
    await page.send("Page.bringToFront")
    await page.wait_for("document.visibilityState === 'visible'", timeout=5)
    assert await page.visible("call")
    assert await page.text("call-text") == "Please go to the patient now"
    assert await page.evaluate("companionBoard.errors") == []
    await page.screenshot(shots / "board-back-from-another-tab-phone.png")


async def test_a_later_piece_of_news_never_hides_a_call(rig: BoardRig) -> None:
    """The patient asks for help; then their call drops (news, amber): the board still
    says to go to them. Once the therapist answers the help, the news shows."""
    session = await rig.session(patient=False)
    page = await rig.page(session.board_link)
    await rig.join(page)
    raised = (
        "companionBoard.receive(crypto.randomUUID(), {kind: 'alert.raised', alert_id: '%s',"
        " reason: '%s', urgent: %s, for_roles: ['therapist', 'support']}, 'patient', 'server')"
    )
    await page.evaluate(raised % ("help1", "help", "true"))
    await page.evaluate(raised % ("lost1", "link_lost", "false"))
    words = "The patient is asking for help — please go to them now"
    assert await page.text("call-text") == words
    assert not await page.evaluate("document.getElementById('call').classList.contains('news')")
    await page.evaluate(
        "companionBoard.receive(crypto.randomUUID(), {kind: 'alert.ack', alert_id: 'help1'},"
        " 'therapist', 'server')"
    )
    assert await page.text("call-text") == (
        "The therapist's connection dropped. They are reconnecting."
    )
    assert await page.evaluate("document.getElementById('call').classList.contains('news')")


async def test_an_old_copy_from_the_home_links_queue_does_not_undo_a_newer_state(
    rig: BoardRig,
) -> None:
    """The patient's app queued a "connected" for the home link before the board joined;
    it arrives after the server said "lost". The board keeps what each path said last."""
    session = await rig.session(patient=False)
    page = await rig.page(session.board_link)
    await rig.join(page)
    state = (
        "companionBoard.receive('%s', {kind: 'link.state', state: '%s'}, 'patient', '%s')"
        ".then(() => document.getElementById('state').textContent)"
    )
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert await page.evaluate(state % (ids[0], "connected", "server")) == "Connected"
    assert await page.evaluate(state % (ids[1], "lost", "server")) == "Therapist disconnected"
    assert await page.evaluate(state % (ids[2], "connected", "home")) == "Therapist disconnected"
    # With the server gone, the home link's own order counts: its copy of "lost" is last.
    await rig.server.stop()
    await page.wait_for("!companionBoard.serverUp")
    assert await page.text("state") == "Connected"  # the home link has not caught up yet
    assert await page.evaluate(state % (ids[1], "lost", "home")) == "Therapist disconnected"
