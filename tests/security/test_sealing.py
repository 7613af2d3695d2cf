"""Sealed words: only the members they were sealed for can open them, and only as sent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from companion.protocol.identity import MemberKey
from companion.protocol.messages import (
    EmergencyCard,
    Intention,
    SessionPlan,
    TextMessage,
    Vitals,
)
from companion.protocol.sealing import has_words, open_event, seal_event, seal_words

THERAPIST, PATIENT, SUPPORT = MemberKey.generate(), MemberKey.generate(), MemberKey.generate()
FOR_BOTH = {"t": THERAPIST.box_key, "p": PATIENT.box_key}


def test_the_readers_open_the_words_and_no_one_else() -> None:
    intention = Intention(kind="intention", text="to forgive my brother")
    sealed = seal_event(intention, FOR_BOTH, "s1", "e1")
    assert sealed.text == "" and sealed.sealed is not None
    assert "brother" not in sealed.model_dump_json()
    assert open_event(sealed, "t", THERAPIST, "s1", "e1") == intention
    assert open_event(sealed, "p", PATIENT, "s1", "e1") == intention
    assert open_event(sealed, "s", SUPPORT, "s1", "e1") is None  # not sealed for it
    assert open_event(sealed, "t", SUPPORT, "s1", "e1") is None  # another's entry, wrong key


def test_sealed_words_cannot_be_moved_or_changed() -> None:
    sealed = seal_event(
        TextMessage(kind="message", to_role="patient", text="hi"), FOR_BOTH, "s1", "e1"
    )
    assert open_event(sealed, "p", PATIENT, "s1", "e2") is None  # another event
    assert open_event(sealed, "p", PATIENT, "s2", "e1") is None  # another session
    assert sealed.sealed is not None
    ct = sealed.sealed.ct
    flipped = ct[:-2] + ("A" if ct[-2] != "A" else "B") + ct[-1]
    tampered = sealed.model_copy(
        update={"sealed": sealed.sealed.model_copy(update={"ct": flipped})}
    )
    assert open_event(tampered, "p", PATIENT, "s1", "e1") is None


def test_every_kind_with_words_round_trips() -> None:
    for event in (
        EmergencyCard(
            kind="card",
            patient_name="A. Person",
            address="1 Road",
            medications="x",
            emergency_number="112",
        ),
        SessionPlan(kind="plan", instructions="Call Sam if unsure", emergency_number="112"),
        TextMessage(kind="message", to_role="support", text="thank you"),
    ):
        assert has_words(event)
        sealed = seal_event(event, FOR_BOTH, "s", "e")
        assert open_event(sealed, "t", THERAPIST, "s", "e") == event
    # The plan's timings and number stay in clear: the server has no use for them, but
    # no words either; a plan without instructions is not sealed at all.
    assert not has_words(SessionPlan(kind="plan", emergency_number="112"))
    vitals = Vitals(kind="vitals", systolic=172, diastolic=80, heart_rate=96)
    sealed_vitals = seal_event(vitals, FOR_BOTH, "s", "e")
    assert (sealed_vitals.systolic, sealed_vitals.heart_rate) == (0, 0)
    assert open_event(sealed_vitals, "t", THERAPIST, "s", "e") == vitals


def test_words_other_than_the_kinds_own_are_refused() -> None:
    event = Intention(kind="intention", text="x")
    sealed = seal_event(event, FOR_BOTH, "s", "e")
    assert sealed.sealed is not None
    from companion.protocol.sealing import sealed_aad

    smuggled = seal_words(
        {"text": "x", "kind": "session.end"}, FOR_BOTH, sealed_aad("s", "e", "intention")
    )
    assert (
        open_event(sealed.model_copy(update={"sealed": smuggled}), "t", THERAPIST, "s", "e") is None
    )


def test_words_travel_either_in_clear_or_sealed_never_both() -> None:
    sealed = seal_event(Intention(kind="intention", text="x"), FOR_BOTH, "s", "e")
    with pytest.raises(ValidationError):
        Intention.model_validate(
            {"kind": "intention", "text": "x", "sealed": sealed.sealed.model_dump()}  # type: ignore[union-attr]
        )
    with pytest.raises(ValidationError):
        Intention(kind="intention", text="")
