"""The server's outer ladder: reaching the support person's phone, then the clinic's on-call,
when no app answers an alert that needs someone at the patient's side.

Sans-I/O, like ``companion.monitor.ladder``: no sockets, no clock of its own. The driver
(``companion.server.escalation``) feeds it what happened (``condition_opened``,
``condition_cleared``, ``acknowledged``) and asks ``due(now)`` what to send. ``now`` is wall
time (``time.time()``): incidents are persisted and outlive a server restart, and wall time
is the only clock that means the same thing before and after one.

An incident is one session's trouble: it opens with its first condition (the patient's
place lost on the server, the therapist's call lost, an alert that needs the support
person), and stays one incident however many apps raise alerts about it, so the support
person gets one message per round, not one per alert.

    after_s        no acknowledgement this long after the first condition: round 0 goes to
                   the support person's contacts
    repeat_s       then a round every repeat_s
    oncall_after_s once this long has passed since round 0, each round adds the on-call
    stop           the moment anyone acknowledges (an app's alert.ack or a link pressed),
                   or every condition clears by itself (the link came back)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

CloseHow = Literal["acked", "cleared"]


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


@dataclass(frozen=True)
class EscalationTimings:
    """The clinic's timings (``[ladder]`` of the notify config), clamped to safe bounds."""

    after_s: float = 30.0
    """No acknowledgement this long after the trouble began: the first round goes out.
    Bounds like the in-app ladder's "go to the patient" (10-120 s)."""
    repeat_s: float = 120.0
    """A round again this often until someone acknowledges (30-600 s)."""
    oncall_after_s: float = 300.0
    """The clinic's on-call joins the rounds this long after the first round (0-3600 s;
    0: from the first round)."""

    def clamped(self) -> EscalationTimings:
        return EscalationTimings(
            after_s=_clamp(self.after_s, 10.0, 120.0),
            repeat_s=_clamp(self.repeat_s, 30.0, 600.0),
            oncall_after_s=_clamp(self.oncall_after_s, 0.0, 3600.0),
        )


@dataclass(frozen=True)
class Incident:
    incident_id: str
    session_id: str
    opened_at: float
    conditions: frozenset[str] = frozenset()
    """What keeps it open: ``patient_away``, ``call_lost``, or ``alert:<alert_id>``."""
    rounds_sent: int = 0
    closed: CloseHow | None = None
    closed_at: float | None = None

    @property
    def alert_ids(self) -> list[str]:
        """The apps' alerts in it, to acknowledge for a person who pressed a link."""
        return sorted(c.split(":", 1)[1] for c in self.conditions if c.startswith("alert:"))


@dataclass(frozen=True)
class Round:
    """Send round ``number`` of ``incident_id``: to the support contacts, and the on-call
    if ``oncall``."""

    incident_id: str
    session_id: str
    number: int
    oncall: bool


@dataclass
class OuterLadder:
    timings: EscalationTimings = field(default_factory=EscalationTimings)
    incidents: dict[str, Incident] = field(default_factory=dict)
    """Open incidents by session id (closed ones are handed back to the driver and dropped)."""

    def restore(self, incidents: list[Incident]) -> None:
        """The open incidents as persisted before a restart."""
        self.incidents = {i.session_id: i for i in incidents if i.closed is None}

    def condition_opened(
        self, now: float, session_id: str, condition: str, new_id: str
    ) -> Incident:
        """``new_id`` names the incident if this opens one. Returns the incident as changed."""
        current = self.incidents.get(session_id)
        if current is None:
            current = Incident(new_id, session_id, now)
        current = replace(current, conditions=current.conditions | {condition})
        self.incidents[session_id] = current
        return current

    def condition_cleared(self, now: float, session_id: str, condition: str) -> Incident | None:
        """Returns the incident if this changed it (closed ``cleared`` once nothing holds it)."""
        current = self.incidents.get(session_id)
        if current is None or condition not in current.conditions:
            return None
        current = replace(current, conditions=current.conditions - {condition})
        if not current.conditions:
            return self._close(now, current, "cleared")
        self.incidents[session_id] = current
        return current

    def clear_all(self, now: float, session_id: str, prefix: str = "") -> Incident | None:
        """Clear every condition starting with ``prefix`` (the session ended: its link no
        longer counts, a help alert still does)."""
        current = self.incidents.get(session_id)
        if current is None:
            return None
        changed: Incident | None = None
        for condition in sorted(current.conditions):
            if condition.startswith(prefix):
                changed = self.condition_cleared(now, session_id, condition) or changed
        return changed

    def acknowledged(self, now: float, session_id: str) -> Incident | None:
        """Someone answered: the incident closes, whatever still holds it."""
        current = self.incidents.get(session_id)
        return None if current is None else self._close(now, current, "acked")

    def due(self, now: float) -> list[Round]:
        """The rounds to send now. After a long stop (a server down through several due
        times) only the latest is sent: the ones missed were repeats of the same words.
        The incident counts the round as sent at once (the driver persists it first)."""
        t = self.timings
        rounds: list[Round] = []
        for session_id, incident in list(self.incidents.items()):
            first_due = incident.opened_at + t.after_s
            if now < first_due:
                continue
            number = math.floor((now - first_due) / t.repeat_s)
            if number < incident.rounds_sent:
                continue
            oncall = now - first_due >= t.oncall_after_s
            self.incidents[session_id] = replace(incident, rounds_sent=number + 1)
            rounds.append(Round(incident.incident_id, session_id, number, oncall))
        return rounds

    def next_due(self) -> float | None:
        """When ``due`` next has something to say (for the driver's sleep)."""
        t = self.timings
        times = [
            i.opened_at + t.after_s + i.rounds_sent * t.repeat_s for i in self.incidents.values()
        ]
        return min(times, default=None)

    def _close(self, now: float, incident: Incident, how: CloseHow) -> Incident:
        del self.incidents[incident.session_id]
        return replace(incident, closed=how, closed_at=now)
