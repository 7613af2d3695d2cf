"""The home link from the board in a browser to the patient's app (peer-protocol.md):
data channels over the home network, heartbeats both ways, signed events, no server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

from companion.app import RoleCore
from companion.call.control import ControlEvent
from companion.protocol.identity import MemberKey
from companion.protocol.messages import CheckIn, LadderConfig, SessionEnd
from tests.board.conftest import BoardRig
from tests.waiting import until

HIDE_WITH_MDNS = "WebRtcHideLocalIpsWithMdns"
_MDNS_HOST = re.compile(r"^a=candidate:\S+ \d+ udp \d+ [0-9a-f-]{36}\.local \d+ typ host")


async def _home_link_without_the_server(
    rig: BoardRig, shots: Path, mdns: bool, check: Callable[[RoleCore], None] | None = None
) -> None:
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
    hidden = [line for line in candidates if _MDNS_HOST.match(line)]
    assert hidden == (candidates if mdns else []), candidates
    if check is not None:
        check(patient)

    await rig.server.stop()  # the clinic's server dies; the home network does not
    await page.wait_for(
        "document.getElementById('server-line').textContent === 'Reconnecting to the clinic…'"
    )
    await patient.help_held()
    await page.wait_for(
        "!document.getElementById('call').hidden && document.getElementById('call-text')"
        ".textContent === 'The patient is asking for help — please go to them now'"
    )
    await page.screenshot(shots / f"board-help-without-server{'-mdns' if mdns else ''}.png")
    answered: list[str] = []
    patient.help_answered.connect(answered.append)
    await page.tap("with-patient")
    answers = {("support", "alert.ack"), ("support", "with_patient")}
    await until(lambda: answers <= {(e.who, e.kind) for e in patient.facts.timeline})
    assert set(answered) == {"support"}
    await patient.check_in("button")
    await page.wait_for(
        "document.getElementById('checkin').textContent === 'Last check-in: just now'"
    )
    assert await page.evaluate("companionBoard.homeState") == "connected"
    assert await page.evaluate("companionBoard.refused") == []


async def test_the_home_link_holds_with_the_server_killed(rig: BoardRig, shots: Path) -> None:
    """Raw host addresses in the browser's answer (its mDNS names switched off)."""
    rig.browser_flags = (f"--disable-features={HIDE_WITH_MDNS}",)
    await _home_link_without_the_server(rig, shots, mdns=False)


async def test_the_patients_app_resolves_the_browsers_mdns_names(
    home_rig: BoardRig, shots: Path
) -> None:
    """As a browser on a phone does it: the answer names its host only as <uuid>.local; the
    patient's app asks the home network for it (multicast DNS) and connects to the address
    it learned, not only to whatever address the browser's own checks came from."""
    home_rig.browser_flags = (f"--enable-features={HIDE_WITH_MDNS}",)
    await _home_link_without_the_server(home_rig, shots, mdns=True, check=_resolved_host)


def _resolved_host(patient: RoleCore) -> None:
    assert patient.home is not None
    pc = patient.home.peer_connection
    assert pc is not None and pc.sctp is not None
    connection = pc.sctp.transport.transport._connection  # third-party: aioice's candidates
    remote = [(c.type, c.host) for c in connection.remote_candidates]
    assert ("host", "10.89.0.1") in remote, remote


async def test_a_silent_home_link_calls_the_support_person(rig: BoardRig, shots: Path) -> None:
    """The patient's computer goes quiet on the home network while the server still
    works (it may be off entirely): after the therapist's go_to_patient_after_s the board
    calls its person itself, and the therapist sees the call; one press answers it."""
    session = await rig.session()
    therapist, patient = session.therapist, session.patient
    await therapist.set_ladder(LadderConfig(kind="ladder.config", go_to_patient_after_s=10))
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for(
        "companionBoard.homeState === 'connected' && companionBoard.goAfterS === 10", timeout=20
    )
    assert patient.home is not None
    await patient.home.close()  # nothing more from the patient's computer at home
    await page.wait_for("companionBoard.homeState === 'lost'", timeout=5)
    await page.wait_for(
        "!document.getElementById('call').hidden && document.getElementById('call-text')"
        ".textContent === 'Please go to the patient now'",
        timeout=20,
    )
    await until(lambda: "go_to_patient" in {a.reason for a in therapist.facts.open_alerts.values()})
    raised = next(a for a in therapist.facts.open_alerts.values() if a.reason == "go_to_patient")
    assert raised.raised_by == "support" and raised.urgent
    await page.screenshot(shots / "board-home-link-silent-phone.png")
    await page.tap("with-patient")
    await until(lambda: raised.alert_id not in therapist.facts.open_alerts)


async def test_the_board_believes_only_signed_events_the_patient_may_send(rig: BoardRig) -> None:
    """Over the home link no server vouches: an event signed by a key the server never
    vouched for is dropped, and so is one the patient really signed but may not send (a
    session.end); a real check-in right after them is shown."""
    session = await rig.session()
    patient = session.patient
    page = await rig.page(session.board_link)
    await rig.join(page)
    await page.wait_for("companionBoard.homeState === 'connected'", timeout=20)
    await rig.server.stop()  # only the home link carries anything now
    assert patient.home is not None and patient.signaling.identity is not None
    channel = patient.home._channel  # fault injection: forged messages go on the real channel
    assert channel is not None
    session_id, member = patient.session_id, patient.signaling.member_id
    assert member is not None
    for key, event in (
        (MemberKey.generate(), CheckIn(kind="checkin", source="key")),  # not the vouched key
        (patient.signaling.identity, SessionEnd(kind="session.end")),  # not the patient's kind
        (patient.signaling.identity, CheckIn(kind="checkin", source="key")),
    ):
        message = ControlEvent.seal(key, session_id, member, str(uuid.uuid4()), event)
        channel.send(message.model_dump_json())
    await page.wait_for(
        "document.getElementById('checkin').textContent === 'Last check-in: just now'"
    )
    refused = await page.evaluate("companionBoard.refused")
    assert [r[0] for r in refused] == ["event", "session.end"], refused
    assert refused[0][1] == "the signature does not verify"
    assert not await page.evaluate("companionBoard.ended")
