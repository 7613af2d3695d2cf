"""docs/protocol.md, "Versions": unknown fields are dropped (never relayed or stored),
unknown types and kinds refused, and each side states the version it speaks."""

from __future__ import annotations

import json
import uuid

from companion.protocol.messages import (
    PROTOCOL_VERSION,
    SERVER_MESSAGE,
    Join,
    Presence,
)
from tests.conftest import Clinic
from tests.server.raw import RawClient


async def test_unknown_fields_are_dropped_before_anyone_else_sees_them(clinic: Clinic) -> None:
    therapist = await RawClient.open(clinic.url)
    patient = await RawClient.open(clinic.url)
    try:
        await therapist.request(
            {"type": "login", "therapist": clinic.therapist, "secret": clinic.secret}, "login_ok"
        )
        created = await therapist.request({"type": "create_session"}, "session_created")
        session_id = created["session"]["session_id"]
        await therapist.request({"type": "join", "session_id": session_id}, "joined")
        invite = next(i for i in created["invites"] if i["role"] == "patient")
        joined = await patient.request(
            {"type": "join", "invite": invite["token"], "protocol": 7, "colour": "blue"}, "joined"
        )
        event_id = str(uuid.uuid4())
        await patient.request(
            {
                "type": "event",
                "event_id": event_id,
                "future_hint": {"x": 1},
                "event": {"kind": "checkin", "source": "key", "mood": "fine"},
            },
            "event_ack",
        )
        relayed = await therapist.recv_type("event")
        while relayed["event"]["kind"] != "checkin":
            relayed = await therapist.recv_type("event")
        assert relayed["event"] == {"kind": "checkin", "source": "key", "request_id": None}
        assert "future_hint" not in relayed
        # What the server stored is what it relayed: a resume replays it the same.
        await patient.close()
        again = await RawClient.open(clinic.url)
        patient = again
        await again.request(
            {"type": "resume", "resume_token": joined["resume_token"], "last_seq": 0}, "joined"
        )
        replayed = await again.recv_type("event")
        while replayed["event"]["kind"] != "checkin":
            replayed = await again.recv_type("event")
        assert replayed["event"] == relayed["event"]
    finally:
        await patient.close()
        await therapist.close()


async def test_an_unknown_event_kind_is_still_refused(clinic: Clinic) -> None:
    therapist = await RawClient.open(clinic.url)
    try:
        await therapist.request(
            {"type": "login", "therapist": clinic.therapist, "secret": clinic.secret}, "login_ok"
        )
        created = await therapist.request({"type": "create_session"}, "session_created")
        await therapist.request(
            {"type": "join", "session_id": created["session"]["session_id"]}, "joined"
        )
        await therapist.send(
            {"type": "event", "event_id": str(uuid.uuid4()), "event": {"kind": "teleport"}}
        )
        refused = await therapist.recv_type("error")
        assert refused["code"] == "invalid_message"
    finally:
        await therapist.close()


def test_a_client_reads_what_a_later_server_adds() -> None:
    later = {
        "type": "presence",
        "session_id": "s1",
        "members": [{"member_id": "m1", "role": "patient", "status": "online", "badge": 3}],
        "weather": "sunny",
    }
    message = SERVER_MESSAGE.validate_json(json.dumps(later))
    assert isinstance(message, Presence)
    assert message.members[0].member_id == "m1"


def test_the_client_states_its_version() -> None:
    assert json.loads(Join(type="join", invite="abc").model_dump_json())["protocol"] == (
        PROTOCOL_VERSION
    )
