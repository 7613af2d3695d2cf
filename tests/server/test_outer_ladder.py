"""The outer ladder's decisions, from injected times alone (Sans-I/O)."""

from __future__ import annotations

from companion.server.outer_ladder import EscalationTimings, OuterLadder

T = EscalationTimings(after_s=30, repeat_s=120, oncall_after_s=300)


def _ladder() -> OuterLadder:
    return OuterLadder(T)


def test_nothing_before_the_escalation_time_then_the_support_person() -> None:
    ladder = _ladder()
    ladder.condition_opened(1000.0, "s1", "patient_away", "inc1")
    assert ladder.due(1029.9) == []
    (first,) = ladder.due(1030.0)
    assert (first.incident_id, first.number, first.oncall) == ("inc1", 0, False)
    assert ladder.due(1031.0) == []  # once


def test_repeats_every_two_minutes_and_adds_the_oncall_later() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "alert:a1", "inc1")
    rounds = [r for t in range(0, 700, 5) for r in ladder.due(float(t))]
    assert [(r.number, r.oncall) for r in rounds] == [
        (0, False),
        (1, False),
        (2, False),
        (3, True),
        (4, True),
        (5, True),
    ]


def test_one_incident_per_session_however_many_alerts() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "call_lost", "inc1")
    ladder.condition_opened(5.0, "s1", "alert:a1", "inc2")
    ladder.condition_opened(6.0, "s1", "patient_away", "inc3")
    assert [r.incident_id for r in ladder.due(30.0)] == ["inc1"]


def test_an_acknowledgement_stops_it_at_once() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "alert:a1", "inc1")
    assert ladder.due(30.0)
    closed = ladder.acknowledged(40.0, "s1")
    assert closed is not None and closed.closed == "acked" and closed.rounds_sent == 1
    assert ladder.due(1000.0) == [] and ladder.next_due() is None


def test_a_blip_that_clears_itself_sends_nothing() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "patient_away", "inc1")
    ladder.condition_opened(1.0, "s1", "call_lost", "inc1")
    assert ladder.condition_cleared(3.0, "s1", "patient_away") is not None
    closed = ladder.condition_cleared(4.0, "s1", "call_lost")
    assert closed is not None and closed.closed == "cleared"
    assert ladder.due(100.0) == []


def test_the_session_ending_drops_the_link_but_not_a_help_alert() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "patient_away", "inc1")
    ladder.condition_opened(1.0, "s1", "alert:help1", "inc1")
    ladder.clear_all(2.0, "s1", "patient_away")
    assert [r.incident_id for r in ladder.due(30.0)] == ["inc1"]


def test_a_restart_resumes_from_what_was_sent_and_skips_missed_repeats() -> None:
    ladder = _ladder()
    ladder.condition_opened(0.0, "s1", "alert:a1", "inc1")
    ladder.due(30.0)
    saved = list(ladder.incidents.values())
    again = _ladder()
    again.restore(saved)
    assert again.due(100.0) == []  # round 0 went out before the restart
    # Down through rounds 1 and 2: only the latest is sent, not a burst of three.
    assert [r.number for r in again.due(300.0)] == [2]


def test_timings_are_clamped() -> None:
    wild = EscalationTimings(after_s=1, repeat_s=1, oncall_after_s=99999).clamped()
    assert (wild.after_s, wild.repeat_s, wild.oncall_after_s) == (10, 30, 3600)
