"""The call's data-channel messages between two apps that may be of different versions."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from companion.call.control import (
    CONTROL_MESSAGE,
    EVENT_BODY,
    ControlEvent,
    Heartbeat,
    HeartbeatEcho,
)
from companion.protocol.identity import MemberKey, peer_event_input, verify
from companion.protocol.messages import CheckIn


def test_a_newer_apps_heartbeat_still_feeds_an_older_monitor() -> None:
    raw = {
        "type": "hb",
        "seq": 41,
        "sent_ms": 1234.5,
        "acked": 40,
        "heard_ms": 12.5,
        "battery": 0.3,
    }
    message = CONTROL_MESSAGE.validate_json(json.dumps(raw))
    assert message == Heartbeat(type="hb", seq=41, sent_ms=1234.5, acked=40, heard_ms=12.5)
    echo = CONTROL_MESSAGE.validate_json('{"type":"hb_echo","seq":41,"sent_ms":1.5,"x":1}')
    assert echo == HeartbeatEcho(type="hb_echo", seq=41, sent_ms=1.5)


def test_an_older_apps_heartbeat_has_no_audio_age() -> None:
    message = CONTROL_MESSAGE.validate_json('{"type":"hb","seq":3,"sent_ms":10.0}')
    assert isinstance(message, Heartbeat)
    assert (message.acked, message.heard_ms) == (0, None)


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"hb","seq":"3","sent_ms":10.0}',  # no coercion
        '{"type":"hb","seq":-1,"sent_ms":10.0}',
        '{"type":"hb","seq":3,"sent_ms":10.0,"heard_ms":-5}',
        '{"type":"hb","sent_ms":10.0}',
        '{"type":"hello","seq":3}',
        '{"type":"event","event_id":"6f1c2b0e-8c5a-4f7e-9d3b-2a1e0c9b8d7f",'
        '"event":{"kind":"checkin","source":"key"}}',  # unsigned: no sender, no signature
        '{"type":"event","event_id":"6f1c2b0e-8c5a-4f7e-9d3b-2a1e0c9b8d7f","from_member":"m1",'
        '"body":"{}","sig":"short"}',
    ],
)
def test_known_fields_stay_strict(raw: str) -> None:
    with pytest.raises(ValidationError):
        CONTROL_MESSAGE.validate_json(raw)


def test_a_direct_event_keeps_its_body_as_signed() -> None:
    key = MemberKey.generate()
    event_id = "6f1c2b0e-8c5a-4f7e-9d3b-2a1e0c9b8d7f"
    sealed = ControlEvent.seal(key, "s1", "m1", event_id, CheckIn(kind="checkin", source="key"))
    raw = sealed.model_dump_json()[:-1] + ',"via":"dc"}'  # a newer app's extra field
    message = CONTROL_MESSAGE.validate_json(raw)
    assert isinstance(message, ControlEvent)
    signed = peer_event_input("s1", event_id, "m1", message.body)
    assert verify(key.public_key, signed, message.sig)
    assert EVENT_BODY.validate_json(message.body) == CheckIn(kind="checkin", source="key")
    # One character changed anywhere, or another session: the signature no longer holds.
    assert not verify(key.public_key, signed.replace(b"key", b"kez"), message.sig)
    assert not verify(
        key.public_key, peer_event_input("s2", event_id, "m1", message.body), message.sig
    )
    assert not verify(MemberKey.generate().public_key, signed, message.sig)
