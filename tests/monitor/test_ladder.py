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
    patient.own_link(1.0, "connected")
    actions = patient.own_link(10.0, "lost")
    assert PatientLine(PATIENT_LINE_LOST) in actions
    assert sounds(actions) == []  # no alarm on the patient's side
    (raised,) = published(actions)
    assert isinstance(raised, AlertRaised) and raised.reason == "link_lost"
    back = patient.own_link(15.0, "connected")
    assert any(isinstance(e, AlertResolved) for e in published(back))
    assert sounds(back) == ["soft_chime"]  # "reconnected", gentle


def test_the_patients_app_calls_the_support_person_after_thirty_seconds() -> None:
    """The patient's app raises go_to_patient; the support app only shows it and repeats
    the call until answered (a support app that is closed, or a client built from the
    docs, still gets it from the server)."""
    patient, support = ladder("patient"), ladder("support")
    patient.own_link(0.0, "connected")
    raised = published(patient.own_link(0.0, "lost"))
    first = [a for e in raised for a in support.received(0.0, e, "patient")]
    first += support.received(0.0, LinkState(kind="link.state", state="lost"), "patient")
    assert sounds(first) == ["soft_chime"]
    assert run_ticks(support, 0.5, 29.5) == []  # one chime, no nagging; never its own call
    assert run_ticks(patient, 0.5, 29.5) == []
    at_30 = run_ticks(patient, 30.0, 30.0)
    (go,) = published(at_30)
    assert isinstance(go, AlertRaised) and go.reason == "go_to_patient" and go.urgent
    assert set(go.for_roles) == {"support", "therapist"}
    assert sounds(at_30) == [] and not any(isinstance(a, ShowAlert) for a in at_30)
    called = support.received(30.1, go, "patient")
    assert sounds(called) == ["call"]
    assert sounds(run_ticks(support, 30.5, 60.0)).count("call") >= 2  # until someone answers
    assert published(run_ticks(support, 0.5, 200.0)) == []  # no second copy from the support app
    answered = support.acknowledge(61.0, go.alert_id)
    assert any(isinstance(e, WithPatient) for e in published(answered))
    assert sounds(run_ticks(support, 61.5, 120.0)) == []
    for event in published(answered):
        patient.received(61.1, event, "support")
    assert run_ticks(patient, 61.5, 200.0) == []  # answered: not again for this outage


def test_the_support_apps_own_home_link_calls_once_with_the_patients_call() -> None:
    """Silence from the patient's computer (it may be down) is the support app's own news;
    when the patient's app calls too, the support person hears one call, not two."""
    support = ladder("support")
    support.home_link(0.0, "connected")
    support.home_link(1.0, "lost")
    called = run_ticks(support, 31.0, 31.0)
    assert sounds(called) == ["call"]
    (own,) = published(called)
    from_patient = AlertRaised(
        kind="alert.raised",
        alert_id="p2",
        reason="go_to_patient",
        urgent=True,
        for_roles=["support", "therapist"],
    )
    assert support.received(31.5, from_patient, "patient") == []
    # And the other way round: a call already sounding keeps the app from raising its own.
    other = ladder("support")
    other.home_link(0.0, "connected")
    other.home_link(1.0, "lost")
    assert sounds(other.received(20.0, from_patient, "patient")) == ["call"]
    assert published(run_ticks(other, 20.5, 60.0)) == []
    assert isinstance(own, AlertRaised)


def test_link_back_before_thirty_seconds_never_calls() -> None:
    patient = ladder("patient")
    patient.own_link(0.0, "connected")
    patient.own_link(1.0, "lost")
    patient.own_link(12.0, "recovering")
    assert published(run_ticks(patient, 12.5, 60.0)) == []


def test_a_link_never_up_is_not_lost() -> None:
    """Issue 25 item 12: a therapist's live tab opened before the patient joined, a patient
    whose therapist never joined: no alert, no line, no call, until the link was up once."""
    patient, therapist, support = ladder("patient"), ladder("therapist"), ladder("support")
    assert patient.own_link(1.0, "interrupted") == patient.own_link(2.0, "lost") == []
    assert therapist.own_link(2.0, "lost") == []
    assert support.home_link(2.0, "lost") == []
    for lad in (patient, therapist, support):
        assert run_ticks(lad, 2.5, 200.0) == []
    # Once up, a drop is news again.
    patient.own_link(201.0, "connected")
    assert PatientLine(PATIENT_LINE_LOST) in patient.own_link(205.0, "lost")
    therapist.own_link(201.0, "connected")
    assert sounds(therapist.own_link(205.0, "lost")) == ["alert"]


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
    therapist.own_link(0.0, "connected")
    lost = therapist.own_link(1.0, "lost")
    assert sounds(lost) == ["alert"]
    # The patient's copy of the same news (via the server) does not sound twice.
    dup = AlertRaised(kind="alert.raised", alert_id="p9", reason="link_lost")
    assert therapist.received(1.5, dup, "patient") == []
    back = therapist.own_link(4.0, "connected")
    assert any(isinstance(a, ClearAlert) for a in back)


def test_timings_follow_the_therapists_config_within_bounds() -> None:
    patient = ladder("patient")
    patient.received(0.0, LadderConfig(kind="ladder.config", go_to_patient_after_s=15), "therapist")
    patient.own_link(0.0, "connected")
    patient.own_link(0.0, "lost")
    assert run_ticks(patient, 0.5, 14.5) == []
    (go,) = published(run_ticks(patient, 15.0, 15.0))
    assert isinstance(go, AlertRaised) and go.reason == "go_to_patient"


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
    for lad in (patient, therapist):
        lad.own_link(0.0, "connected")
    support.home_link(0.0, "connected")
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
    assert support.home_link(3.0, "lost") == []
    for lad in (patient, therapist, support):
        assert run_ticks(lad, 3.0, 200.0) == []
    # A press of "I need help" after the end still reaches the support person.
    (help_raised,) = published(patient.help_held(210.0))
    assert sounds(support.received(210.1, help_raised, "patient")) == ["call"]
