"""The safety ladder: who is told what, when, until someone answers.

Sans-I/O. Each app (patient, therapist, support) runs a ``Ladder`` for its role. Inputs
are what this app saw (its own link monitor, its user's presses) and the session's
timeline events from the others; ``tick(now)`` drives the timers. Every input returns the
actions the app must carry out: show or clear an alert, play a sound, say a calm line to
the patient, publish an event to the others. The app writes each to its local record.

    link lost            patient app publishes link_lost -> therapist alert, support chime;
                         the patient sees one calm line, hears no alarm
    still lost at 30 s   patient app raises go_to_patient for the support person (and the
                         therapist); every app that shows it repeats it until acked. The
                         support app raises one itself only when its own home link to the
                         patient's computer is lost that long (that computer may be down)
    "I need help" held   patient app publishes an urgent help alert -> repeats until acked
    check-in unanswered  therapist app: alert at 60 s; support told 30 s later if unacked
    link restored        alerts resolve; everyone's state returns to connected
    session ended        people leave and links drop on purpose: the link and check-in
                         alarms stand down (a press of "I need help" still goes out)
    never up yet         a link that has not been up once is "not yet", not "lost": no
                         alert, no line, no call (nobody has joined the other end)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from companion.i18n import N_
from companion.protocol.messages import (
    AlertAck,
    AlertRaised,
    AlertReason,
    AlertResolved,
    CheckIn,
    CheckInRequest,
    EventBody,
    LadderConfig,
    LinkState,
    LinkStateName,
    Role,
    SessionEnd,
    SessionPlan,
    Vitals,
    WithPatient,
)

PATIENT_LINE_LOST = N_(
    "Your therapist's connection dropped. Music keeps playing. They are reconnecting."
)
PATIENT_LINE_BACK = N_("Your therapist is back with you.")
PATIENT_LINE_HELP = N_("Your therapist and your support person have been told. Someone is coming.")

SoundKind = Literal["soft_chime", "alert", "call"]
"""soft_chime: once, gentle. alert: the therapist's, repeats until acknowledged.
call: the support person's "go to the patient", repeats until acknowledged."""


@dataclass(frozen=True)
class LadderTimings:
    go_to_patient_after_s: float = 30.0
    checkin_answer_s: float = 60.0
    checkin_escalate_s: float = 30.0
    repeat_every_s: float = 10.0
    """How often an unacknowledged alert sounds again."""

    @classmethod
    def from_config(cls, config: LadderConfig) -> LadderTimings:
        # The schema already clamps each value to its safe range.
        return cls(config.go_to_patient_after_s, config.checkin_answer_s, config.checkin_escalate_s)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    reason: AlertReason
    raised_at: float
    for_roles: frozenset[Role]
    urgent: bool
    raised_by: Role | None
    closed: Literal["acked", "resolved"] | None = None


def vitals_ok(vitals: Vitals, plan: SessionPlan) -> bool:
    """Within the therapist's limits (defaults 160/90 mmHg, 100 bpm)."""
    return (
        vitals.systolic <= plan.systolic_max
        and vitals.diastolic <= plan.diastolic_max
        and vitals.heart_rate <= plan.heart_rate_max
    )


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowAlert:
    alert: Alert


@dataclass(frozen=True)
class ClearAlert:
    alert_id: str
    how: Literal["acked", "resolved"]


@dataclass(frozen=True)
class Sound:
    kind: SoundKind
    alert_id: str | None = None


@dataclass(frozen=True)
class PatientLine:
    text: str


@dataclass(frozen=True)
class Publish:
    event: EventBody


Action = ShowAlert | ClearAlert | Sound | PatientLine | Publish


@dataclass
class _Pending:
    request_id: str
    asked_at: float
    alert_id: str | None = None


@dataclass
class Ladder:
    role: Role
    timings: LadderTimings = field(default_factory=LadderTimings)
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16]
    alerts: dict[str, Alert] = field(default_factory=dict)
    link: LinkStateName = "connected"
    """The patient–therapist link as this app knows it (own monitor, or the patient's report)."""
    _lost_since: float | None = None
    """When this app's own link (the patient's call, the support app's home link) went."""
    _up_once: bool = False
    _home_up_once: bool = False
    _link_alert: str | None = None
    _go_alert: str | None = None
    _called_this_outage: bool = False
    _next_sound: dict[str, float] = field(default_factory=dict)
    _checkins: dict[str, _Pending] = field(default_factory=dict)
    plan: SessionPlan = field(default_factory=lambda: SessionPlan(kind="plan"))
    """The therapist's plan (vitals limits); the defaults until one arrives."""
    ended: bool = False
    """The session is over: a dropped link is expected, not news."""

    # -- inputs from this app

    def own_link(self, now: float, state: LinkStateName) -> list[Action]:
        """This app's own monitor (patient's or therapist's) changed state."""
        self._up_once = self._up_once or state in ("connected", "degraded")
        if self.ended or not self._up_once:
            self.link = state
            return []
        actions = self._link_changed(now, state)
        if self.role == "therapist" and state == "lost" and self._link_alert is None:
            # The therapist's own screen: unmistakable, and it waits for an acknowledge.
            alert = self._open(now, "link_lost", {"therapist"}, urgent=False, by="therapist")
            self._link_alert = alert.alert_id
            actions += [ShowAlert(alert), Sound("alert", alert.alert_id)]
        if self.role == "patient" and state == "lost" and self._link_alert is None:
            alert_id = self.new_id()
            self._link_alert = alert_id
            actions += [
                PatientLine(PATIENT_LINE_LOST),
                Publish(
                    AlertRaised(
                        kind="alert.raised",
                        alert_id=alert_id,
                        reason="link_lost",
                        for_roles=["therapist", "support"],
                    )
                ),
            ]
        if state == "connected" and self._link_alert is not None:
            alert_id, self._link_alert = self._link_alert, None
            if self.role == "patient":
                actions += [
                    PatientLine(PATIENT_LINE_BACK),
                    Sound("soft_chime"),
                    Publish(AlertResolved(kind="alert.resolved", alert_id=alert_id)),
                ]
            actions += self._close(alert_id, "resolved")
        return actions

    def home_link(self, now: float, state: LinkStateName) -> list[Action]:
        """The support app's own home link to the patient's computer: silence there counts
        like a lost call, and nobody else can see it (that computer may be down)."""
        self._home_up_once = self._home_up_once or state == "connected"
        if self.ended or not self._home_up_once:
            return []
        return self._link_changed(now, state)

    @property
    def open_checkin(self) -> str | None:
        """The latest check-in request not answered yet: the one an "I'm OK" answers.
        The one place the app keeps it (the patient's screen reads it through the core)."""
        return next(reversed(self._checkins), None)

    @property
    def up_once(self) -> bool:
        """This app's own link has been up: before that its state is not news."""
        return self._up_once

    def help_held(self, now: float) -> list[Action]:
        alert_id = self.new_id()
        return [
            PatientLine(PATIENT_LINE_HELP),
            Publish(
                AlertRaised(
                    kind="alert.raised",
                    alert_id=alert_id,
                    reason="help",
                    urgent=True,
                    for_roles=["therapist", "support"],
                )
            ),
        ]

    def checkin_requested(self, now: float, request_id: str) -> list[Action]:
        """The therapist asked; the clock for an answer starts."""
        self._checkins[request_id] = _Pending(request_id, now)
        return []

    def acknowledge(self, now: float, alert_id: str) -> list[Action]:
        """This app's person pressed acknowledge (or "I'm with the patient")."""
        if alert_id not in self.alerts or self.alerts[alert_id].closed:
            return []
        actions: list[Action] = [Publish(AlertAck(kind="alert.ack", alert_id=alert_id))]
        if self.role == "support" and self.alerts[alert_id].reason in ("go_to_patient", "help"):
            actions.append(Publish(WithPatient(kind="with_patient")))
        return actions + self._close(alert_id, "acked")

    # -- inputs from the others (the session timeline, deduplicated by event id)

    def received(self, now: float, event: EventBody, from_role: Role | None) -> list[Action]:
        if isinstance(event, AlertRaised):
            if event.alert_id in self.alerts:
                return []
            alert = self._open(
                now,
                event.reason,
                set(event.for_roles),
                event.urgent,
                from_role,
                alert_id=event.alert_id,
            )
            if self.role not in alert.for_roles:
                return []
            if (self.role == "therapist" and event.reason == "link_lost" and self._link_alert) or (
                event.reason == "go_to_patient" and self._calling(besides=alert.alert_id)
            ):
                # Already on this screen: the therapist's own monitor said so, or another
                # app's call to go to the patient is sounding (one call, not two).
                self.alerts[alert.alert_id] = replace(
                    alert, for_roles=alert.for_roles - {self.role}
                )
                return []
            return [ShowAlert(alert), self._sound_for(alert)]
        if isinstance(event, AlertAck | AlertResolved):
            return self._close(
                event.alert_id, "acked" if isinstance(event, AlertAck) else "resolved"
            )
        if isinstance(event, WithPatient):
            closing = [
                a.alert_id
                for a in self.alerts.values()
                if a.closed is None and a.reason in ("go_to_patient", "help", "link_lost")
            ]
            return [action for alert_id in closing for action in self._close(alert_id, "acked")]
        if isinstance(event, SessionEnd):
            return self._session_ended()
        if isinstance(event, LinkState) and from_role == "patient" and self.role != "patient":
            # Shown, never timed here: the patient's app raises go_to_patient itself.
            self.link = event.state
            return []
        if isinstance(event, CheckInRequest):
            return self.checkin_requested(now, event.request_id)
        if isinstance(event, CheckIn):
            return self._answered(event.request_id)
        if isinstance(event, LadderConfig):
            self.timings = replace(
                LadderTimings.from_config(event), repeat_every_s=self.timings.repeat_every_s
            )
        if isinstance(event, SessionPlan):
            self.plan = event
        if (
            isinstance(event, Vitals)
            and self.role == "therapist"
            and not vitals_ok(event, self.plan)
        ):
            alert = self._open(
                now, "vitals_out_of_range", {"therapist"}, urgent=False, by=from_role
            )
            return [ShowAlert(alert), self._sound_for(alert)]
        return []

    # -- time

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        t = self.timings
        if (
            self.role in ("patient", "support")
            and self._lost_since is not None
            and now - self._lost_since >= t.go_to_patient_after_s
            and not self._called_this_outage
        ):
            self._called_this_outage = True  # once answered, not again for this outage
            if not self._calling():  # another app may have raised it already: one call
                alert = self._open(
                    now, "go_to_patient", {"support", "therapist"}, urgent=True, by=self.role
                )
                self._go_alert = alert.alert_id
                if self.role == "support":
                    actions += [ShowAlert(alert), self._sound_for(alert)]
                actions.append(
                    Publish(
                        AlertRaised(
                            kind="alert.raised",
                            alert_id=alert.alert_id,
                            reason="go_to_patient",
                            urgent=True,
                            for_roles=["support", "therapist"],
                        )
                    )
                )
        if self.role == "therapist":
            for pending in self._checkins.values():
                waited = now - pending.asked_at
                if pending.alert_id is None and waited >= t.checkin_answer_s:
                    alert = self._open(
                        now, "checkin_unanswered", {"therapist"}, urgent=False, by="therapist"
                    )
                    pending.alert_id = alert.alert_id
                    actions += [ShowAlert(alert), Sound("alert", alert.alert_id)]
                elif (
                    pending.alert_id is not None
                    and waited >= t.checkin_answer_s + t.checkin_escalate_s
                    and self.alerts[pending.alert_id].closed is None
                    and "support" not in self.alerts[pending.alert_id].for_roles
                ):
                    widened = replace(
                        self.alerts[pending.alert_id], for_roles=frozenset({"therapist", "support"})
                    )
                    self.alerts[pending.alert_id] = widened
                    actions.append(
                        Publish(
                            AlertRaised(
                                kind="alert.raised",
                                alert_id=widened.alert_id,
                                reason="checkin_unanswered",
                                urgent=True,
                                for_roles=["support"],
                            )
                        )
                    )
        for alert_id, due in list(self._next_sound.items()):
            alert = self.alerts[alert_id]
            if alert.closed is not None:
                del self._next_sound[alert_id]
            elif now >= due:
                self._next_sound[alert_id] = now + t.repeat_every_s
                actions.append(self._sound_for(alert, schedule=False))
        return actions

    # -- internals

    def _session_ended(self) -> list[Action]:
        self.ended = True
        self._lost_since = None
        self._checkins.clear()
        standing_down = [
            a.alert_id
            for a in self.alerts.values()
            if a.closed is None and a.reason in ("link_lost", "go_to_patient", "checkin_unanswered")
        ]
        return [
            action for alert_id in standing_down for action in self._close(alert_id, "resolved")
        ]

    def _link_changed(self, now: float, state: LinkStateName) -> list[Action]:
        self.link = state
        if state == "lost":
            self._lost_since = self._lost_since if self._lost_since is not None else now
        elif state in ("connected", "recovering"):
            self._lost_since = None
            self._called_this_outage = False
            if self._go_alert is not None:
                go, self._go_alert = self._go_alert, None
                if self.alerts[go].closed is None:
                    resolved = Publish(AlertResolved(kind="alert.resolved", alert_id=go))
                    return [*self._close(go, "resolved"), resolved]
        return []

    def _calling(self, besides: str = "") -> bool:
        """A call to go to the patient is open, whoever raised it."""
        return any(
            a.reason == "go_to_patient" and a.closed is None and a.alert_id != besides
            for a in self.alerts.values()
        )

    def _answered(self, request_id: str | None) -> list[Action]:
        # An "I'm OK" answers the request it names, or every open one.
        answered = [
            p for p in self._checkins.values() if request_id is None or p.request_id == request_id
        ]
        actions: list[Action] = []
        for pending in answered:
            del self._checkins[pending.request_id]
            if pending.alert_id is not None:
                actions += self._close(pending.alert_id, "resolved")
                actions.append(
                    Publish(AlertResolved(kind="alert.resolved", alert_id=pending.alert_id))
                )
        return actions

    def raise_own(self, now: float, reason: AlertReason) -> tuple[str, list[Action]]:
        """An alert for this app's person alone, never published (``presence.py``); it
        sounds, repeats and is acknowledged like the others."""
        alert = self._open(now, reason, {self.role}, urgent=False, by=self.role)
        return alert.alert_id, [ShowAlert(alert), self._sound_for(alert)]

    def resolve_own(self, alert_id: str) -> list[Action]:
        return self._close(alert_id, "resolved")

    def _open(
        self,
        now: float,
        reason: AlertReason,
        for_roles: set[Role],
        urgent: bool,
        by: Role | None,
        alert_id: str | None = None,
    ) -> Alert:
        alert = Alert(alert_id or self.new_id(), reason, now, frozenset(for_roles), urgent, by)
        self.alerts[alert.alert_id] = alert
        return alert

    def _sound_for(self, alert: Alert, schedule: bool = True) -> Sound:
        # What repeats: the therapist's alerts and every urgent one. A lost link on the
        # support person's board is one soft chime; the 30 s escalation is what calls them.
        repeats = self.role == "therapist" or alert.urgent
        if schedule and repeats:
            self._next_sound[alert.alert_id] = alert.raised_at + self.timings.repeat_every_s
        if self.role == "support":
            return Sound("call" if alert.urgent else "soft_chime", alert.alert_id)
        return Sound("alert", alert.alert_id)

    def _close(self, alert_id: str, how: Literal["acked", "resolved"]) -> list[Action]:
        alert = self.alerts.get(alert_id)
        if alert is None or alert.closed is not None:
            return []
        self.alerts[alert_id] = replace(alert, closed=how)
        self._next_sound.pop(alert_id, None)
        if alert_id == self._go_alert:
            self._go_alert = None
        # Only an alert this app showed needs clearing from its screen.
        return [ClearAlert(alert_id, how)] if self.role in alert.for_roles else []
