"""Three apps' guardians over a real server, a real call and a real home link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from companion.call.homelink import HomeLink
from companion.call.peer import PeerLink
from companion.monitor.guardian import Guardian
from companion.monitor.ladder import Alert, LadderTimings
from companion.protocol.messages import AlertRaised, CheckIn, SessionEvent
from companion.records import RecordStore
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient
from tests.call.conftest import go_silent, make_side
from tests.waiting import until


@dataclass
class App:
    role: str
    guardian: Guardian
    records: RecordStore
    links: list[PeerLink]
    signaling: SignalingClient
    shown: list[Alert] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    sounds: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.guardian.alert_shown.connect(self.shown.append)
        self.guardian.alert_cleared.connect(lambda alert_id, how: self.cleared.append(alert_id))
        self.guardian.sound.connect(self.sounds.append)
        self.guardian.patient_line.connect(self.lines.append)


@pytest.fixture
async def home(server: SignalingServer, tmp_path: Path) -> AsyncIterator[dict[str, App]]:
    _, secret = server.db.add_therapist("dr-g")
    therapist = await make_side(server.ws_url, "therapist", (170, 110), 660.0)
    await therapist.signaling.login("dr-g", secret)
    created = await therapist.signaling.create_session()
    invites = {i.role: i for i in created.invites}
    await therapist.signaling.join(session_id=created.session.session_id)
    patient = await make_side(server.ws_url, "patient", (90, 170), 440.0)
    await patient.signaling.join(invite=invites["patient"].token)
    support_signaling = SignalingClient(server.ws_url)
    await support_signaling.connect()
    await support_signaling.join(invite=invites["support"].token)

    patient_home, support_home = (
        HomeLink(patient.signaling, "patient"),
        HomeLink(support_signaling, "support"),
    )
    apps: dict[str, App] = {}
    for role, signaling, call, link in (
        ("therapist", therapist.signaling, therapist.engine, None),
        ("patient", patient.signaling, patient.engine, patient_home),
        ("support", support_signaling, None, support_home),
    ):
        records = RecordStore.open(tmp_path / role)
        links = [x for x in (call, link) if x is not None]
        app = App(role, Guardian(role, signaling, call, link, records), records, links, signaling)  # type: ignore[arg-type]
        app.watch()
        apps[role] = app
    for app in apps.values():
        for peer in app.links:
            await peer.start()
        await app.guardian.start()
    await until(lambda: patient.engine.state == "connected" and patient_home.state == "connected")
    yield apps
    for app in apps.values():
        await app.guardian.close()
        for peer in app.links:
            await peer.close()
        await app.signaling.close()
        app.records.close()
    await patient.engine.media.aclose()
    await therapist.engine.media.aclose()


async def test_help_reaches_both_and_one_acknowledge_quiets_everyone(home: dict[str, App]) -> None:
    patient, therapist, support = home["patient"], home["therapist"], home["support"]
    await patient.guardian.help_held()
    await until(lambda: bool(therapist.shown) and bool(support.shown), within_s=5)
    assert therapist.shown[0].reason == support.shown[0].reason == "help"
    assert "alert" in therapist.sounds and "call" in support.sounds
    assert patient.sounds == []  # never an alarm on the patient's side
    alert_id = therapist.shown[0].alert_id
    await therapist.guardian.acknowledge(alert_id)
    await until(lambda: alert_id in support.cleared, within_s=5)

    # Each app recorded the alert exactly once, though it came by two or three paths.
    await asyncio.sleep(0.3)
    for app in (therapist, support):
        raised = [
            e
            for e in app.records.events.for_session(app.guardian.session_id)
            if e.kind == "alert.raised"
        ]
        assert len(raised) == 1, app.role


async def test_checkin_request_is_answered_over_every_path(home: dict[str, App]) -> None:
    patient, therapist, support = home["patient"], home["therapist"], home["support"]
    seen: list[str] = []
    patient.guardian.event_received.connect(lambda eid, ev, role: seen.append(ev.kind))
    request_id = await therapist.guardian.request_checkin()
    await until(lambda: "checkin.request" in seen, within_s=5)
    await patient.guardian.publish(CheckIn(kind="checkin", source="key", request_id=request_id))
    await until(
        lambda: any(
            e.kind == "checkin"
            for e in support.records.events.for_session(support.guardian.session_id)
        ),
        within_s=5,
    )
    assert therapist.shown == []  # answered: no "unanswered" alert


async def test_an_alert_from_the_patient_arrives_once_by_home_link_and_server(
    home: dict[str, App],
) -> None:
    patient, support = home["patient"], home["support"]
    got: list[str] = []
    support.guardian.event_received.connect(lambda eid, ev, role: got.append(eid))
    event_id = await patient.guardian.publish(
        AlertRaised(kind="alert.raised", alert_id="x1", reason="link_lost", for_roles=["support"])
    )
    await asyncio.sleep(1.0)
    assert got.count(event_id) == 1
    assert support.sounds == ["soft_chime"]


async def test_events_travel_peer_to_peer_when_the_server_is_gone(
    home: dict[str, App], server: SignalingServer
) -> None:
    patient, therapist, support = home["patient"], home["therapist"], home["support"]
    await server.stop()  # the clinic's server dies; the call and the home link do not
    got: dict[str, list[str]] = {"therapist": [], "support": []}
    therapist.guardian.event_received.connect(
        lambda eid, ev, role: got["therapist"].append(ev.kind)
    )
    support.guardian.event_received.connect(lambda eid, ev, role: got["support"].append(ev.kind))
    await patient.guardian.publish(CheckIn(kind="checkin", source="button"))
    await until(lambda: "checkin" in got["therapist"] and "checkin" in got["support"], within_s=5)


async def test_go_to_patient_reaches_a_support_member_whose_app_runs_no_ladder(
    home: dict[str, App],
) -> None:
    """Issue 25 item 1: the patient's app raises "go to the patient"; a support seat with no
    ladder of its own (its app closed, or a client built from the docs) still gets it."""
    patient, therapist, support = home["patient"], home["therapist"], home["support"]
    await support.guardian.close()  # only the support member's bare signaling seat listens
    got: list[AlertRaised] = []

    def on_event(message: SessionEvent) -> None:
        if isinstance(message.event, AlertRaised):
            got.append(message.event)

    support.signaling.event_received.connect(on_event)
    patient.guardian.ladder.timings = LadderTimings(go_to_patient_after_s=2.0)
    calls = patient.guardian.call_watch, therapist.guardian.call_watch
    assert calls[0] is not None and calls[1] is not None
    await until(lambda: calls[0] is not None and calls[0].state == "connected", within_s=10)
    await calls[1].close()  # the therapist's side goes silent
    await go_silent(therapist.links[0])
    await until(lambda: any(e.reason == "go_to_patient" for e in got), within_s=20)
    go = next(e for e in got if e.reason == "go_to_patient")
    assert go.urgent and set(go.for_roles) == {"support", "therapist"}
    await until(lambda: any(a.alert_id == go.alert_id for a in therapist.shown), within_s=5)
    assert "call" not in patient.sounds and patient.shown == []  # nothing startling


async def test_the_support_person_leaving_mid_session_alerts_the_therapist(
    home: dict[str, App],
) -> None:
    therapist, support = home["therapist"], home["support"]
    await until(
        lambda: (
            therapist.guardian.support_presence is not None
            and therapist.guardian.support_presence.online
        )
    )
    await support.signaling.leave()
    await until(lambda: [a.reason for a in therapist.shown] == ["support_away"], within_s=10)
    assert "alert" in therapist.sounds
    # Only on the therapist's screen: the patient's app never hears of it.
    assert all(a.reason != "support_away" for a in home["patient"].shown)


async def test_an_alert_published_before_the_home_link_opens_goes_over_it_when_it_opens(
    server: SignalingServer,
) -> None:
    """Alerts on the home link are safety messages (it is the path left when the home's
    internet is down): one the patient's app publishes before the link's control channel
    is open waits for the channel and then goes over it, not only through the server."""
    _, secret = server.db.add_therapist("dr-early")
    therapist, patient, support = (SignalingClient(server.ws_url) for _ in range(3))
    await therapist.connect()
    await therapist.login("dr-early", secret)
    created = await therapist.create_session()
    invites = {i.role: i for i in created.invites}
    for client, invite in ((support, invites["support"]), (patient, invites["patient"])):
        await client.connect()
        await client.join(invite=invite.token)
    patient_home, support_home = HomeLink(patient, "patient"), HomeLink(support, "support")
    guardian = Guardian("patient", patient, home=patient_home)
    over_the_link: list[str] = []
    support_home.event_received.connect(lambda event_id, *_: over_the_link.append(event_id))
    try:
        await guardian.start()
        event_id = await guardian.publish(
            AlertRaised(kind="alert.raised", alert_id="early", reason="help", urgent=True)
        )
        assert not patient_home.control_open
        for link in (patient_home, support_home):
            await link.start()
        await until(lambda: event_id in over_the_link, within_s=15)
    finally:
        await guardian.close()
        for link in (patient_home, support_home):
            await link.close()
        for client in (therapist, patient, support):
            await client.close()
