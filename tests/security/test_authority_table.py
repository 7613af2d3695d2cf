"""The authority table covers every kind there is: a new kind without a line fails here."""

from __future__ import annotations

import logging

import pytest

from companion.call.control import ControlMessage
from companion.protocol import authority
from companion.protocol.messages import ClientMessage, EventBody, ServerMessage, SignalData
from tests.security.samples import SAMPLES, literal_values


def test_every_event_kind_has_a_line() -> None:
    assert literal_values(EventBody, "kind") == set(authority.EVENT_RULES)


def test_every_client_message_has_a_line() -> None:
    assert literal_values(ClientMessage, "type") == set(authority.CLIENT_MESSAGES)


def test_every_server_message_has_a_line() -> None:
    assert literal_values(ServerMessage, "type") == set(authority.SERVER_MESSAGES)


def test_every_signal_kind_has_a_line() -> None:
    assert literal_values(SignalData, "kind") == set(authority.SIGNAL_RULES)


def test_every_data_channel_message_has_a_line() -> None:
    assert literal_values(ControlMessage, "type") == set(authority.CONTROL_MESSAGES)


def test_the_hostile_tests_have_a_sample_of_every_kind() -> None:
    assert set(SAMPLES) == set(authority.EVENT_RULES)
    assert all(event.kind == kind for kind, event in SAMPLES.items())


def test_only_the_therapist_directs_the_session() -> None:
    for kind in (
        "session.end",
        "plan",
        "music.command",
        "prompt.push",
        "message",
        "checkin.request",
        "ladder.config",
        "session.clock",
    ):
        assert authority.rule(kind).senders == {"therapist"}, kind


def test_private_words_reach_only_their_readers() -> None:
    assert not authority.may_read("support", SAMPLES["intention"])
    to_support = SAMPLES["message"]
    assert authority.may_read("support", to_support) and authority.may_read("therapist", to_support)
    assert not authority.may_read("patient", to_support)
    assert authority.readers_of("message", "patient") == {"therapist", "patient"}
    assert authority.readers_of("message", "nobody") == {"therapist"}
    assert authority.readers_of("no.such.kind") == frozenset()


def test_every_sender_reads_its_own_kinds() -> None:
    # A member's own events come back to it on resume (replay): it must be let read them.
    for kind, line in authority.EVENT_RULES.items():
        assert line.senders <= line.readers, kind


def test_member_changes_are_the_servers_alone() -> None:
    for role in ("therapist", "patient", "support"):
        assert not authority.may_send(role, "member.joined")
    assert authority.may_send(None, "member.joined")
    assert not authority.may_send(None, "session.end")
    assert not authority.may_send("therapist", "no.such.kind")


@pytest.mark.parametrize(
    ("pc_id", "kind", "from_role", "to_role", "allowed"),
    [
        ("call-1-x", "offer", "patient", "therapist", True),
        ("call-1-x", "answer", "therapist", "patient", True),
        ("call-1-x", "restart", "therapist", "patient", True),
        ("call-1-x", "offer", "therapist", "patient", False),  # the patient offers the call
        ("call-1-x", "offer", "support", "therapist", False),  # finding 1
        ("call-1-x", "answer", "support", "patient", False),
        ("home-1-x", "offer", "patient", "support", True),
        ("home-1-x", "answer", "support", "patient", True),
        ("home-1-x", "offer", "support", "therapist", False),
        ("home-1-x", "offer", "therapist", "support", False),
        ("other-1-x", "hangup", "patient", "therapist", False),
        ("call", "hangup", "patient", "therapist", True),
    ],
)
def test_signals_only_along_the_peer_paths(
    pc_id: str, kind: str, from_role: str, to_role: str, allowed: bool
) -> None:
    assert authority.may_signal(pc_id, kind, from_role, to_role) is allowed  # type: ignore[arg-type]


def test_refusals_log_a_line_a_second_at_most(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    refusals = authority.Refusals(logging.getLogger("t"), clock=lambda: now[0])
    for i in range(50):  # a flood from a hostile peer
        refusals.note("refused event %s", f"e{i}")
    now[0] += 1.5
    refusals.note("refused event %s", "e50")
    assert [r.getMessage() for r in caplog.records] == [
        "refused event e0",
        "refused event e50 (and 49 more refused since the last line)",
    ]
