"""Who is there is a safety state (issue 21): the therapist's app watches whether a support
person is connected, and turns their absence into an alert when it matters.

Sans-I/O like the ladder it feeds: the guardian hands it the member list (``presence``)
and the clock; it opens and closes a ``support_away`` alert in the ladder (so it sounds,
repeats, is acknowledged and recorded like every other):

    the support person's app leaves mid-session (gone longer than the grace)
                                   -> alert, until they are back or it is acknowledged
    no support person ever connected, the patient is here, and the ladder would need them
    (an open alert for the support person: go to the patient, help, a widened check-in)
                                   -> alert (the server's outer ladder messages their phone)
    the support person back        -> resolved
    the session ended              -> nothing new

The alert stays on the therapist's screen: it is never published.
"""

from __future__ import annotations

from dataclasses import dataclass

from companion.monitor.ladder import Action, Ladder
from companion.protocol.messages import MemberInfo

GRACE_S = 3.0
"""A dropped connection that resumes at once is not news (as the console's banner)."""


@dataclass
class SupportPresence:
    ladder: Ladder
    grace_s: float = GRACE_S
    seen: bool = False
    online: bool = False
    patient_here: bool = False
    gone_since: float | None = None
    alert_id: str | None = None
    raised: bool = False
    """Raised for this absence already (acknowledged or not): once until they are back."""

    def members(self, now: float, members: list[MemberInfo]) -> list[Action]:
        self.online = any(m.role == "support" and m.status == "online" for m in members)
        self.patient_here = any(m.role == "patient" and m.status != "left" for m in members)
        if self.online:
            self.seen, self.gone_since, self.raised = True, None, False
            return self._resolve()
        if self.seen and self.gone_since is None:
            self.gone_since = now
        return self.tick(now)

    def tick(self, now: float) -> list[Action]:
        if self.online or self.ladder.ended or self.raised:
            return []
        left = self.gone_since is not None and now - self.gone_since >= self.grace_s
        needed = not self.seen and self.patient_here and self._ladder_needs_support()
        if not (left or needed):
            return []
        self.raised = True
        self.alert_id, actions = self.ladder.raise_own(now, "support_away")
        return actions

    def _ladder_needs_support(self) -> bool:
        return any(
            a.closed is None and "support" in a.for_roles and a.reason != "support_away"
            for a in self.ladder.alerts.values()
        )

    def _resolve(self) -> list[Action]:
        if self.alert_id is None:
            return []
        alert_id, self.alert_id = self.alert_id, None
        return self.ladder.resolve_own(alert_id)
