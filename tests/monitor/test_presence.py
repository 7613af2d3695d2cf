"""Who is there is a safety state: the therapist's alert when nobody in the home can be
called (companion/monitor/presence.py), from injected times and member lists."""

from __future__ import annotations

from companion.monitor.ladder import ClearAlert, Ladder, ShowAlert, Sound
from companion.monitor.presence import SupportPresence
from companion.protocol.messages import AlertRaised, MemberInfo, MemberStatus


def _members(support: MemberStatus | None, patient: MemberStatus | None = "online"):
    members = [MemberInfo(member_id="t", role="therapist", status="online")]
    if patient is not None:
        members.append(MemberInfo(member_id="p", role="patient", status=patient))
    if support is not None:
        members.append(MemberInfo(member_id="s", role="support", status=support))
    return members


def _shown(actions) -> list[str]:
    return [a.alert.reason for a in actions if isinstance(a, ShowAlert)]


def test_the_support_person_leaving_mid_session_is_an_alert_after_a_grace() -> None:
    presence = SupportPresence(Ladder("therapist"))
    assert presence.members(0.0, _members("online")) == []
    assert presence.members(10.0, _members("lost")) == []  # a blip is not news
    assert presence.tick(12.9) == []
    actions = presence.tick(13.0)
    assert _shown(actions) == ["support_away"]
    assert any(isinstance(a, Sound) and a.kind == "alert" for a in actions)
    assert presence.tick(14.0) == []  # one alert, repeating through the ladder
    back = presence.members(20.0, _members("online"))
    assert [a.how for a in back if isinstance(a, ClearAlert)] == ["resolved"]


def test_a_quick_resume_raises_nothing() -> None:
    presence = SupportPresence(Ladder("therapist"))
    presence.members(0.0, _members("online"))
    presence.members(5.0, _members("lost"))
    assert presence.members(6.0, _members("online")) == []
    assert presence.tick(30.0) == []


def test_no_support_person_at_all_is_an_alert_once_the_ladder_needs_them() -> None:
    ladder = Ladder("therapist")
    presence = SupportPresence(ladder)
    assert presence.members(0.0, _members(None)) == []
    assert presence.tick(100.0) == []  # shown on the console, but nothing needs them yet
    help_alert = AlertRaised(kind="alert.raised", alert_id="h1", reason="help", urgent=True)
    ladder.received(101.0, help_alert, "patient")
    assert _shown(presence.tick(101.5)) == ["support_away"]


def test_nothing_new_after_the_session_ends() -> None:
    ladder = Ladder("therapist")
    presence = SupportPresence(ladder)
    presence.members(0.0, _members("online"))
    ladder.ended = True
    presence.members(5.0, _members("left"))
    assert presence.tick(60.0) == []


def test_an_acknowledged_absence_is_not_raised_again_until_they_come_and_go() -> None:
    ladder = Ladder("therapist")
    presence = SupportPresence(ladder)
    presence.members(0.0, _members("online"))
    presence.members(1.0, _members("left"))
    (shown,) = [a for a in presence.tick(5.0) if isinstance(a, ShowAlert)]
    ladder.acknowledge(6.0, shown.alert.alert_id)
    assert presence.tick(60.0) == []
