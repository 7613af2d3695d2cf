"""The plan's clock: the therapist's plan in time. The support person's paced reminders
(vitals, look-ins) and the therapist's scheduled check-ins.

Sans-I/O, like the ladder (``companion.monitor.ladder``): the caller passes ``now`` (Unix
seconds) and acts on what ``tick`` returns; nothing here sleeps, sends or emits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from companion.protocol.messages import Role, SessionPlan

LOOKINS_FOR_S = 4 * 3600
"""Look-in reminders are laid out this far after the dose."""
FINISHES_AHEAD_S = 120
"""A vitals or look-in entry this early counts for the reminder it is due for."""


@dataclass
class Reminder:
    """A paced prompt for the support person (vitals or look-in) from the therapist's plan."""

    reminder_id: str
    kind: Literal["vitals", "lookin"]
    due_at: float
    done: bool = False


@dataclass(frozen=True)
class Due:
    """What ``PlanClock.tick`` found due: reminders to show, a check-in to request."""

    reminders: list[Reminder] = field(default_factory=list)
    checkin: bool = False


@dataclass
class PlanClock:
    """Only the support person's clock makes reminders; only the therapist's requests the
    scheduled check-ins (``checkin_every_min`` after the dose, each slot once)."""

    role: Role
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:8]
    plan: SessionPlan = field(default_factory=lambda: SessionPlan(kind="plan"))
    reminders: list[Reminder] = field(default_factory=list)
    _announced: set[str] = field(default_factory=set)
    _checkin_slots: set[int] = field(default_factory=set)

    def set_plan(self, plan: SessionPlan) -> None:
        """A plan arrived (or the same again): reminders laid out anew, those done kept."""
        self.plan = plan
        self._checkin_slots.clear()
        if self.role != "support" or plan.dose_at is None:
            return
        done = {(r.kind, round(r.due_at)) for r in self.reminders if r.done}
        reminders = [
            Reminder(self.new_id(), "vitals", plan.dose_at + minutes * 60)
            for minutes in plan.vitals_at_min
        ]
        if plan.lookin_every_min:
            step = plan.lookin_every_min * 60
            reminders += [
                Reminder(self.new_id(), "lookin", plan.dose_at + k * step)
                for k in range(1, int(LOOKINS_FOR_S / step) + 1)
            ]
        for r in reminders:
            r.done = (r.kind, round(r.due_at)) in done
        self.reminders = sorted(reminders, key=lambda r: r.due_at)

    def finish(self, kind: Literal["vitals", "lookin"], now: float) -> None:
        """The support person did it: every such reminder due by a little later is done."""
        for r in self.reminders:
            if r.kind == kind and r.due_at <= now + FINISHES_AHEAD_S and not r.done:
                r.done = True

    def tick(self, now: float) -> Due:
        reminders = [
            r
            for r in self.reminders
            if not r.done and r.due_at <= now and r.reminder_id not in self._announced
        ]
        self._announced.update(r.reminder_id for r in reminders)
        plan = self.plan
        checkin = False
        if self.role == "therapist" and plan.dose_at and plan.checkin_every_min:
            slot = int((now - plan.dose_at) // (plan.checkin_every_min * 60))
            if slot >= 1 and slot not in self._checkin_slots:
                self._checkin_slots.add(slot)
                checkin = True
        return Due(reminders, checkin)
