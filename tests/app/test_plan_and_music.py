"""The plan's clock and the music remote's table, without sockets or sound: the clock is
Sans-I/O (``now`` is passed in), the remote is one table over the protocol's actions."""

from __future__ import annotations

import itertools
import typing

from companion.app.music import REMOTE, StatusPace
from companion.app.plan import PlanClock
from companion.protocol.messages import MusicCommand, MusicStatus, SessionPlan

DOSE = 1_000_000.0


def _plan(**fields: typing.Any) -> SessionPlan:
    return SessionPlan(kind="plan", dose_at=DOSE, **fields)


def _ids() -> typing.Callable[[], str]:
    counter = itertools.count()
    return lambda: f"r{next(counter)}"


def test_the_support_persons_reminders_come_due_once_and_a_visit_finishes_them() -> None:
    clock = PlanClock("support", new_id=_ids())
    clock.set_plan(_plan(vitals_at_min=[15, 30], lookin_every_min=20))
    assert [r.kind for r in clock.tick(DOSE + 14 * 60).reminders] == []
    due = clock.tick(DOSE + 15 * 60).reminders
    assert [(r.kind, r.due_at) for r in due] == [("vitals", DOSE + 15 * 60)]
    assert clock.tick(DOSE + 16 * 60).reminders == []  # shown once
    clock.finish("lookin", DOSE + 19 * 60)  # looked in a minute early: that one is done
    assert clock.tick(DOSE + 20 * 60).reminders == []
    assert [r.kind for r in clock.tick(DOSE + 30 * 60).reminders] == ["vitals"]
    # The same plan again (a late joiner's copy) keeps what was done.
    clock.set_plan(_plan(vitals_at_min=[15, 30], lookin_every_min=20))
    assert [r.done for r in clock.reminders if r.kind == "lookin"][:1] == [True]


def test_the_therapists_clock_asks_for_each_scheduled_check_in_once() -> None:
    clock = PlanClock("therapist")
    clock.set_plan(_plan(checkin_every_min=10))
    assert not clock.tick(DOSE + 9 * 60).checkin
    assert clock.tick(DOSE + 10 * 60).checkin
    assert not clock.tick(DOSE + 11 * 60).checkin
    assert clock.tick(DOSE + 20 * 60).checkin
    assert clock.reminders == []  # reminders are the support person's
    assert not PlanClock("patient").tick(DOSE + 20 * 60).checkin


def test_every_action_of_the_remote_has_its_row() -> None:
    actions = typing.get_args(MusicCommand.model_fields["action"].annotation)
    assert set(REMOTE) == set(actions)


def test_the_now_playing_goes_on_a_change_and_now_and_then() -> None:
    pace = StatusPace(every_s=15.0)
    status = MusicStatus(
        kind="music.status",
        playing=True,
        title="Slow Tide",
        position_s=0.0,
        duration_s=60.0,
        volume_db=-6.0,
    )
    assert pace.due(status, 0.0)
    pace.sent(status, 0.0)
    assert not pace.due(status, 5.0)
    assert pace.due(status.model_copy(update={"playing": False}), 5.0)
    assert pace.due(status, 15.0)
