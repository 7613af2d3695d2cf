"""Property-based tests of message parsing at the edge (hypothesis)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from companion.protocol.errors import ProtocolError
from companion.protocol.messages import (
    CLIENT_MESSAGE,
    SERVER_MESSAGE,
    CheckIn,
    MusicStatus,
    SendEvent,
    SessionEvent,
)
from companion.server.app import _validation_error
from companion.server.tokens import TokenSigner, normalize_code

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_a_code(text: str) -> None:
    try:
        CLIENT_MESSAGE.validate_json(text)
    except ValidationError as exc:
        assert isinstance(_validation_error(exc), ProtocolError)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "rid",
                "event",
                "event_id",
                "invite",
                "to",
                "data",
                "therapist",
                "secret",
                "session_id",
            ]
        ),
        json_values,
    )
)
def test_any_json_object_is_parsed_or_refused_with_a_code(obj: dict[str, object]) -> None:
    try:
        CLIENT_MESSAGE.validate_json(json.dumps(obj))
    except ValidationError as exc:
        error = _validation_error(exc)
        assert error.code in {"bad_json", "unknown_type", "invalid_message"}
        assert "Traceback" not in error.message


@given(
    st.uuids().map(str),
    st.booleans(),
    st.text(max_size=120),
    st.floats(0, 1e6),
    st.floats(-120, 0),
)
def test_events_round_trip(
    event_id: str, playing: bool, title: str, pos: float, vol: float
) -> None:
    body = MusicStatus(
        kind="music.status",
        playing=playing,
        title=title,
        position_s=pos,
        duration_s=pos,
        volume_db=vol,
    )
    sent = SendEvent(type="event", event_id=event_id, event=body)
    assert CLIENT_MESSAGE.validate_json(sent.model_dump_json()) == sent
    fanned = SessionEvent(
        session_id="s1",
        seq=1,
        event_id=event_id,
        from_member="m",
        from_role="patient",
        at=time.time(),
        event=body,
    )
    assert SERVER_MESSAGE.validate_json(fanned.model_dump_json()) == fanned


@given(st.text(min_size=1, max_size=200))
def test_tampered_tokens_never_verify(noise: str) -> None:
    signer = TokenSigner(b"k" * 32, "clinic")
    token = signer.issue_invite("inv", "ses", "patient", time.time() + 60)
    forged = token + noise
    if forged != token:
        with pytest.raises(ProtocolError):
            signer.verify_invite(forged)


@given(st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ23456789", min_size=8, max_size=8))
def test_codes_are_accepted_however_they_are_typed(code: str) -> None:
    typed = f" {code[:4].lower()} - {code[4:]} "
    assert normalize_code(typed) == code


def test_strict_types_refuse_coercion() -> None:
    with pytest.raises(ValidationError):
        CLIENT_MESSAGE.validate_json('{"type":"resume","resume_token":"t","last_seq":"3"}')
    assert CheckIn(kind="checkin").source == "button"


@pytest.mark.parametrize(
    ("language", "accepted"),
    [("es", True), ("fil", True), ("es-US", False), ("ES", False), ("", False), (3, False)],
)
def test_a_joins_language_is_a_bare_lower_case_code(language: object, accepted: bool) -> None:
    """docs/protocol.md, ``join``: ``language`` is an ISO 639 code, lower case, no region."""
    text = json.dumps({"type": "join", "invite": "t", "language": language})
    if accepted:
        assert getattr(CLIENT_MESSAGE.validate_json(text), "language", None) == language
    else:
        with pytest.raises(ValidationError):
            CLIENT_MESSAGE.validate_json(text)
