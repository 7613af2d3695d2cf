"""The safety ladder, role by role, with a hand-driven clock."""

from __future__ import annotations

import itertools

from companion.monitor.ladder import (
    PATIENT_LINE_LOST,
    Action,
    ClearAlert,
    Ladder,
    LadderTimings,
    PatientLine,
    Publish,
    ShowAlert,
    Sound,
)
from companion.protocol.messages import (
    AlertAck,
    AlertRaised,
    AlertResolved,
    CheckIn,
    CheckInRequest,
    EventBody,
    LadderConfig,
    LinkState,
    SessionEnd,
    WithPatient,
)


def ladder(role: str, **timings: float) -> Ladder:
    counter = itertools.count(1)
    return Ladder(role, LadderTimings(**timings), new_id=lambda: f"a{next(counter)}")  # type: ignore[arg-type]


def published(actions: list[Action]) -> list[EventBody]:
    return [a.event for a in actions if isinstance(a, Publish)]


def sounds(actions: list[Action]) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Sound)]


def run_ticks(lad: Ladder, start: float, end: float, step: float = 0.5) -> list[Action]:
    out: list[Action] = []
    t = start
    while t <= end:
        out += lad.tick(t)
        t += step
    return out


def test_patient_link_lost_is_one_calm_line_and_a_published_alert() -> None:
    patient = ladder("patient")
    actions = patient.own_link(10.0, "lost")
    assert PatientLine(PATIENT_LINE_LOST) in actions
    assert sounds(actions) == []  # no alarm on the patient's side
    (raised,) = published(actions)
    assert isinstance(raised, AlertRaised) and raised.reason == "link_lost"
    back = patient.own_link(15.0, "connected")
    assert any(isinstance(e, AlertResolved) for e in published(back))
    assert sounds(back) == ["soft_chime"]  # "reconnected", gentle


def test_support_hears_a_soft_chime_then_is_called_after_thirty_seconds() -> None:
    support = ladder("support")
    alert = AlertRaised(kind="alert.raised", alert_id="p1", reason="link_lost")
    first = support.received(0.0, alert, "patient") + support.received(
        0.0, LinkState(kind="link.state", state="lost"), "patient"
    )
    assert sounds(first) == ["soft_chime"]
    assert run_ticks(support, 0.5, 29.5) == []  # one chime, no nagging
    called = run_ticks(support, 30.0, 30.0)
    assert sounds(called) == ["call"]
    assert [e.reason for e in published(called) if isinstance(e, AlertRaised)] == ["go_to_patient"]
    # It keeps calling until someone answers.
    assert sounds(run_ticks(support, 30.5, 60.0)).count("call") >= 2
    go_id = next(a.alert.alert_id for a in called if isinstance(a, ShowAlert))
    answered = support.acknowledge(61.0, go_id)
    assert any(isinstance(e, WithPatient) for e in published(answered))
    assert sounds(run_ticks(support, 61.5, 120.0)) == []


def test_link_back_before_thirty_seconds_never_calls() -> None:
    support = ladder("support")
    support.received(0.0, LinkState(kind="link.state", state="lost"), "patient")
    support.received(12.0, LinkState(kind="link.state", state="recovering"), "patient")
    assert run_ticks(support, 12.5, 60.0) == []


def test_help_reaches_therapist_and_support_and_repeats_until_acked_anywhere() -> None:
    patient, therapist, support = ladder("patient"), ladder("therapist"), ladder("support")
    (raised,) = published(patient.help_held(5.0))
    assert isinstance(raised, AlertRaised) and raised.urgent
    assert sounds(therapist.received(5.1, raised, "patient")) == ["alert"]
    assert sounds(support.received(5.1, raised, "patient")) == ["call"]
    assert sounds(run_ticks(therapist, 5.5, 26.0)).count("alert") == 2  # every 10 s
    ack = published(therapist.acknowledge(26.0, raised.alert_id))
    assert ack == [AlertAck(kind="alert.ack", alert_id=raised.alert_id)]
    cleared = support.received(26.1, ack[0], "therapist")
    assert cleared == [ClearAlert(raised.alert_id, "acked")]
    assert sounds(run_ticks(support, 26.5, 80.0)) == []


def test_unanswered_checkin_alerts_therapist_then_support() -> None:
    therapist = ladder("therapist", checkin_answer_s=60, checkin_escalate_s=30)
    therapist.received(0.0, CheckInRequest(kind="checkin.request", request_id="r1"), "therapist")
    assert run_ticks(therapist, 0.5, 59.5) == []
    at_60 = run_ticks(therapist, 60.0, 60.0)
    assert [a.alert.reason for a in at_60 if isinstance(a, ShowAlert)] == ["checkin_unanswered"]
    later = run_ticks(therapist, 60.5, 90.0)
    told_support = [e for e in published(later) if isinstance(e, AlertRaised)]
    assert told_support and told_support[0].for_roles == ["support"]
    # The late "I'm OK" resolves it everywhere.
    answered = therapist.received(95.0, CheckIn(kind="checkin", request_id="r1"), "patient")
    assert any(isinstance(e, AlertResolved) for e in published(answered))


def test_answered_checkin_never_alerts() -> None:
    therapist = ladder("therapist")
    therapist.received(0.0, CheckInRequest(kind="checkin.request", request_id="r1"), "therapist")
    therapist.received(20.0, CheckIn(kind="checkin", source="key"), "patient")
    assert run_ticks(therapist, 0.5, 200.0) == []


def test_therapist_own_lost_link_is_an_alert_that_resolves_itself() -> None:
    therapist = ladder("therapist")
    lost = therapist.own_link(1.0, "lost")
    assert sounds(lost) == ["alert"]
    # The patient's copy of the same news (via the server) does not sound twice.
    dup = AlertRaised(kind="alert.raised", alert_id="p9", reason="link_lost")
    assert therapist.received(1.5, dup, "patient") == []
    back = therapist.own_link(4.0, "connected")
    assert any(isinstance(a, ClearAlert) for a in back)


def test_timings_follow_the_therapists_config_within_bounds() -> None:
    support = ladder("support")
    support.received(0.0, LadderConfig(kind="ladder.config", go_to_patient_after_s=15), "therapist")
    support.received(0.0, LinkState(kind="link.state", state="lost"), "patient")
    assert run_ticks(support, 0.5, 14.5) == []
    assert sounds(run_ticks(support, 15.0, 15.0)) == ["call"]


def test_vitals_beyond_the_plan_alert_the_therapist_only() -> None:
    from companion.protocol.messages import SessionPlan, Vitals

    therapist, support = ladder("therapist"), ladder("support")
    fine = Vitals(kind="vitals", systolic=150, diastolic=85, heart_rate=90)
    assert therapist.received(0.0, fine, "support") == []
    high = Vitals(kind="vitals", systolic=150, diastolic=85, heart_rate=104)
    actions = therapist.received(1.0, high, "support")
    shown = [a for a in actions if isinstance(a, ShowAlert)]
    assert [a.alert.reason for a in shown] == ["vitals_out_of_range"]
    assert sounds(actions) == ["alert"]
    assert support.received(1.0, high, "support") == []
    # The therapist's own limits replace the defaults.
    therapist.received(2.0, SessionPlan(kind="plan", heart_rate_max=110), "therapist")
    assert therapist.received(3.0, high, "support") == []


def test_after_the_session_ends_leaving_is_not_an_alarm_but_help_still_is() -> None:
    end = SessionEnd(kind="session.end")
    patient, therapist, support = ladder("patient"), ladder("therapist"), ladder("support")
    therapist.received(0.0, CheckInRequest(kind="checkin.request", request_id="r1"), "therapist")
    # The link was already shaky when the therapist ended the session: its alert closes.
    support.received(1.0, LinkState(kind="link.state", state="lost"), "patient")
    raised = AlertRaised(kind="alert.raised", alert_id="p1", reason="link_lost")
    support.received(1.0, raised, "patient")
    assert support.received(2.0, end, "therapist") == [ClearAlert("p1", "resolved")]
    therapist.received(2.0, end, "therapist")
    patient.received(2.0, end, "therapist")
    # Everyone leaves; the call drops on purpose. Nobody is called, nothing sounds.
    assert patient.own_link(3.0, "lost") == []
    assert therapist.own_link(3.0, "lost") == []
    assert support.received(3.0, LinkState(kind="link.state", state="lost"), "patient") == []
    for lad in (patient, therapist, support):
        assert run_ticks(lad, 3.0, 200.0) == []
    # A press of "I need help" after the end still reaches the support person.
    (help_raised,) = published(patient.help_held(210.0))
    assert sounds(support.received(210.1, help_raised, "patient")) == ["call"]
