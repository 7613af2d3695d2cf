"""A hostile member tries every kind on every path from every wrong role (issue 17).

Three real apps' guardians (therapist, patient, support) over a real server, a real call and
a real home link. Whatever a role may not send, or the receiver may not read, is tried as
that member would, with its own valid session key: over the signaling server, over the
call's data channels and over the home link. Each must be refused, and nothing of it
recorded, shown or logged with its words.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from companion.call.control import ControlEvent
from companion.call.peer import PeerLink
from companion.protocol import authority
from companion.protocol.identity import MemberKey
from companion.protocol.messages import (
    AlertRaised,
    AlertResolved,
    Error,
    EventBody,
    Intention,
    PeerSignal,
    RelayedSignal,
    Role,
    SendEvent,
    SessionDescription,
    SessionEvent,
    TextMessage,
)
from companion.server.app import SignalingServer
from tests.monitor.test_guardian import App, home  # noqa: F401 - the three apps' fixture
from tests.security.samples import SAMPLES, SECRET_WORDS
from tests.waiting import until

PEER_DIRECTIONS = [
    ("call", "patient", "therapist"),
    ("call", "therapist", "patient"),
    ("home", "patient", "support"),
    ("home", "support", "patient"),
]


@pytest.fixture
async def apps(home: dict[str, App]) -> dict[str, App]:  # noqa: F811
    """The three apps, once every peer link's control channel is open."""

    await until(lambda: all(link.control_open for app in home.values() for link in app.links))
    return home


def _link(app: App, path: str) -> PeerLink:
    return next(link for link in app.links if link.link_name == path)


def _member_id(app: App) -> str:
    assert app.signaling.joined is not None
    return app.signaling.joined.member_id


def _send_signed(
    sender: App,
    path: str,
    event: EventBody,
    key: MemberKey | None = None,
    from_member: str | None = None,
) -> str:
    """What a hostile app can do: sign anything with its own (or any) key and send it."""
    joined, link = sender.signaling.joined, _link(sender, path)
    assert joined is not None and sender.signaling.identity is not None
    event_id = str(uuid.uuid4())
    sealed = ControlEvent.seal(
        key or sender.signaling.identity,
        joined.session_id,
        from_member or joined.member_id,
        event_id,
        event,
    )
    # fault injection: a forged message, sent on the real channel
    assert link._send_on(link._channel, sealed.model_dump_json())
    return event_id


def _received(app: App) -> list[str]:
    got: list[str] = []
    app.guardian.event_received.connect(lambda event_id, event, role: got.append(event_id))
    return got


async def _nothing_kept(app: App, refused: list[str], caplog: pytest.LogCaptureFixture) -> None:
    await asyncio.sleep(0.3)  # the record writer is behind the ladder by a moment
    events = app.records.events.for_session(app.guardian.session_id)
    assert not {e.event_id for e in events} & set(refused)
    assert SECRET_WORDS not in "".join(str(e.payload) for e in events)
    assert "000-EVIL" not in "".join(str(e.payload) for e in events)
    assert SECRET_WORDS not in caplog.text and "000-EVIL" not in caplog.text  # no payload logged
    assert not app.guardian.ladder.ended


@pytest.mark.parametrize(("path", "sender_role", "receiver_role"), PEER_DIRECTIONS)
async def test_every_wrong_kind_over_a_peer_link_is_refused(
    apps: dict[str, App],
    caplog: pytest.LogCaptureFixture,
    path: str,
    sender_role: Role,
    receiver_role: Role,
) -> None:
    caplog.set_level(logging.INFO)
    sender, receiver = apps[sender_role], apps[receiver_role]
    hostile = [
        e for e in SAMPLES.values() if not authority.permitted(e, sender_role, receiver_role)
    ]
    assert hostile
    got = _received(receiver)
    refused = [_send_signed(sender, path, event) for event in hostile]
    # The channel is ordered: once a permitted event after them is in, all were handled.
    canary = _send_signed(sender, path, AlertResolved(kind="alert.resolved", alert_id="c"))
    await until(lambda: canary in got, within_s=5)
    assert not set(got) & set(refused)
    assert "refused" in caplog.text
    await _nothing_kept(receiver, refused, caplog)


async def test_every_wrong_kind_through_the_server_is_refused(
    apps: dict[str, App],
    server: SignalingServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    got = {role: _received(app) for role, app in apps.items()}
    errors: list[Error] = []
    refused: list[str] = []
    for role, app in apps.items():
        app.signaling.error_received.connect(errors.append)
        for event in SAMPLES.values():
            if not authority.may_send(role, event.kind):  # type: ignore[arg-type]
                event_id = str(uuid.uuid4())
                refused.append(event_id)
                message = SendEvent(type="event", event_id=event_id, event=event)
                # fault injection: a forged message
                await app.signaling._send_raw(message.model_dump_json())
    await until(lambda: len(errors) >= len(refused), within_s=5)
    assert {e.code for e in errors} == {"event_kind_forbidden"}
    session_id = apps["patient"].guardian.session_id
    stored = await server.store.events_since(session_id, 0)
    assert not {e.event_id for e in stored} & set(refused)
    for role, app in apps.items():
        assert not set(got[role]) & set(refused), role
        await _nothing_kept(app, refused, caplog)


async def test_every_signal_off_the_peer_paths_is_refused(apps: dict[str, App]) -> None:
    relayed: dict[str, list[RelayedSignal]] = {role: [] for role in apps}
    for role, app in apps.items():
        app.signaling.signal_received.connect(relayed[role].append)
    tried = 0
    for sender_role, sender in apps.items():
        errors: list[Error] = []
        sender.signaling.error_received.connect(errors.append)
        expected = 0
        for receiver_role, receiver in apps.items():
            if receiver is sender:
                continue
            for prefix in ("call", "home", "other"):
                for data in _signal_samples():
                    pc_id = f"{prefix}-66-hostile"
                    if authority.may_signal(pc_id, data["kind"], sender_role, receiver_role):  # type: ignore[arg-type]
                        continue  # a permitted signal would disturb the real links
                    message = PeerSignal.model_validate(
                        {"type": "signal", "to": _member_id(receiver), "pc_id": pc_id, "data": data}
                    )
                    # fault injection: a forged message
                    await sender.signaling._send_raw(message.model_dump_json(exclude_none=True))
                    expected += 1
        tried += expected
        await until(lambda: len(errors) >= expected, within_s=5)  # noqa: B023
        assert {e.code for e in errors} == {"signal_forbidden"}, sender_role
    assert tried > 40
    await asyncio.sleep(0.3)
    for role, signals in relayed.items():
        assert not [s for s in signals if "hostile" in s.pc_id], role


def _signal_samples() -> list[dict[str, Any]]:
    return [
        {"kind": "offer", "sdp": "v=0"},
        {"kind": "answer", "sdp": "v=0"},
        {"kind": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
        {"kind": "hangup"},
        {"kind": "restart"},
    ]


# --------------------------------------------------------------------------- the findings


async def test_finding_1_the_support_seat_cannot_take_over_the_call(
    apps: dict[str, App],
) -> None:
    therapist, patient, support = apps["therapist"], apps["patient"], apps["support"]
    call = _link(therapist, "call")
    pc_id_before = call.pc_id
    assert call.peer_member == _member_id(patient)
    # A real offer, as the support member's app would make it.
    pc = RTCPeerConnection()
    try:
        pc.createDataChannel("control")
        await pc.setLocalDescription(await pc.createOffer())
        offer = SessionDescription(kind="offer", sdp=pc.localDescription.sdp)
        # Through the server: refused there.
        errors: list[Error] = []
        support.signaling.error_received.connect(errors.append)
        await support.signaling.signal(_member_id(therapist), "call-7-evil", offer)
        await until(lambda: bool(errors), within_s=5)
        assert errors[0].code == "signal_forbidden"
        # Had the server relayed it anyway (a bug, a compromised node): the therapist's app
        # answers no one but the patient.
        joined = therapist.signaling.joined
        assert joined is not None
        forged = RelayedSignal(
            session_id=joined.session_id,
            from_member=_member_id(support),
            pc_id="call-7-evil",
            data=offer,
        )
        therapist.signaling.signal_received.emit(forged)
        await asyncio.sleep(1.5)
        assert call.pc_id == pc_id_before and call.peer_member == _member_id(patient)
        assert call.state == "connected" and _link(patient, "call").state == "connected"
    finally:
        await pc.close()


async def test_finding_2_the_home_link_obeys_no_one_but_the_table(
    apps: dict[str, App],
    caplog: pytest.LogCaptureFixture,
) -> None:
    patient, support, therapist = apps["patient"], apps["support"], apps["therapist"]
    got = _received(patient)
    # The support member's own key: its role may not end the session or change the plan.
    refused = [
        _send_signed(support, "home", SAMPLES[k])
        for k in ("session.end", "plan", "music.command", "prompt.push", "checkin.request")
    ]
    # Claiming to be the therapist: its own key does not match the therapist's vouched one,
    # and the therapist's key it does not have.
    refused.append(
        _send_signed(support, "home", SAMPLES["session.end"], from_member=_member_id(therapist))
    )
    refused.append(
        _send_signed(
            support,
            "home",
            SAMPLES["session.end"],
            key=MemberKey.generate(),
            from_member=_member_id(therapist),
        )
    )
    canary = _send_signed(support, "home", AlertResolved(kind="alert.resolved", alert_id="c"))
    await until(lambda: canary in got, within_s=5)
    assert not set(got) & set(refused)
    await _nothing_kept(patient, refused, caplog)
    # The patient's never-alone monitor still runs: a lost call still reaches the support.
    assert patient.guardian.running


async def test_finding_4_private_words_reach_only_their_readers(apps: dict[str, App]) -> None:
    patient, support, therapist = apps["patient"], apps["support"], apps["therapist"]
    # Watched below every app's own gate: what the server delivers and what the peer links
    # carry, so each layer (the server's routing, the sender's choice of links) is proven.
    kinds: dict[str, list[str]] = {role: [] for role in apps}
    for role, app in apps.items():
        app.signaling.event_received.connect(_server_kinds_into(kinds[role]))
        for link in app.links:
            link.event_received.connect(_kinds_into(kinds[role]))
    await patient.guardian.publish(Intention(kind="intention", text="intention " + SECRET_WORDS))
    await therapist.guardian.publish(
        TextMessage(kind="message", to_role="support", text="for support " + SECRET_WORDS)
    )
    # The therapist hears the intention twice (server and call), the support person the
    # message once (server: the therapist has no link to them).
    await until(lambda: kinds["therapist"].count("intention") == 2, within_s=5)
    await until(lambda: "message" in kinds["support"], within_s=5)
    await asyncio.sleep(1.0)  # every path (server, call, home link) has had its chance
    assert "intention" not in kinds["support"]
    assert "message" not in kinds["patient"]
    for app, word in ((support, "intention "), (patient, "for support ")):
        payloads = "".join(
            str(e.payload) for e in app.records.events.for_session(app.guardian.session_id)
        )
        assert word + SECRET_WORDS not in payloads, app.role


def _kinds_into(into: list[str]) -> Callable[[str, EventBody, Role | None], None]:
    return lambda event_id, event, role: into.append(event.kind)


def _server_kinds_into(into: list[str]) -> Callable[[SessionEvent], None]:
    return lambda message: into.append(message.event.kind)


async def test_only_the_raiser_says_an_alert_cleared(apps: dict[str, App]) -> None:
    patient, support, therapist = apps["patient"], apps["support"], apps["therapist"]
    raised = AlertRaised(
        kind="alert.raised",
        alert_id="lost-1",
        reason="link_lost",
        for_roles=["therapist", "support"],
    )
    await patient.guardian.publish(raised)
    await until(lambda: "lost-1" in [a.alert_id for a in therapist.shown], within_s=5)
    # The support seat says the patient's lost call came back: not its alert to clear.
    await support.guardian.publish(AlertResolved(kind="alert.resolved", alert_id="lost-1"))
    await asyncio.sleep(1.0)
    assert "lost-1" not in therapist.cleared
    assert therapist.guardian.ladder.alerts["lost-1"].closed is None
    await patient.guardian.publish(AlertResolved(kind="alert.resolved", alert_id="lost-1"))
    await until(lambda: "lost-1" in therapist.cleared, within_s=5)
