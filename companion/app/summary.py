"""The session summary for the clinical record, built from what the therapist's app saw.

Pure Python, no Qt: ``summarize`` reads ``SessionFacts`` (the timeline, the plan);
``to_html`` renders it. The console turns the HTML into a PDF with Qt.

Alert response times are measured from when the therapist's app showed the alert to when
it was cleared (acknowledged by someone, or resolved by itself); a drop runs from the call
link being ``lost`` to it being ``connected`` again.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from companion.app.facts import SessionFacts, TimelineEntry
from companion.app.prompts import prompt
from companion.app.theme import CLEAR_LIGHT
from companion.i18n import N_, _, clock, language, ngettext, number, stamp
from companion.protocol.messages import SessionPlan

_VITALS = re.compile(r"(\d+)/(\d+)\D+?(\d+)")
"""Blood pressure, then heart rate, in any language's words around them."""


@dataclass(frozen=True)
class AlertLine:
    what: str
    raised_at: float
    answered_after_s: float | None
    how: str
    """"acknowledged", "resolved by itself" (as the timeline said it) or "open at the end"."""


@dataclass
class ShownAlert:
    what: str
    first_at: float
    """When the therapist's app first showed it."""
    last_at: float
    """When it last showed it (the same alert again: the ladder repeating it)."""


class ShownAlerts:
    """Pairs each alert's "alert.shown" timeline entry with its "alert.cleared" one (by
    alert id): the one place the timeline's lines and the summary's response times do it."""

    def __init__(self) -> None:
        self._open: dict[str, ShownAlert] = {}

    def shown(self, entry: TimelineEntry) -> bool:
        """Notes the showing; True when it is the alert's first."""
        found = self._open.get(entry.ref)
        if found is not None:
            found.last_at = entry.at  # the same alert id: the same words
            return False
        self._open[entry.ref] = ShownAlert(entry.text, entry.at, entry.at)
        return True

    def is_open(self, alert_id: str) -> bool:
        return alert_id in self._open

    def cleared(self, entry: TimelineEntry) -> ShownAlert | None:
        """The alert this "cleared" entry closes (None: not shown here)."""
        return self._open.pop(entry.ref, None)

    def still_open(self) -> list[ShownAlert]:
        return list(self._open.values())


@dataclass(frozen=True)
class Drop:
    started_at: float
    lasted_s: float | None
    """None: still lost when the summary was made."""


@dataclass(frozen=True)
class VitalsLine:
    at: float
    systolic: int
    diastolic: int
    heart_rate: int
    within_limits: bool


@dataclass
class Summary:
    started_at: float
    ended_at: float
    label: str = ""
    ended: bool = False
    dose_at: float | None = None
    checkins: int = 0
    checkin_requests: int = 0
    checkin_answer_s: list[float] = field(default_factory=list)
    """For each request answered: seconds from the request to the patient's check-in."""
    alerts: list[AlertLine] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    prompts: list[tuple[float, str]] = field(default_factory=list)
    vitals: list[VitalsLine] = field(default_factory=list)
    lookins: int = 0
    messages: int = 0
    music_changes: int = 0
    notes: list[tuple[float, str]] = field(default_factory=list)
    outside: list[tuple[float, str]] = field(default_factory=list)
    """The server's outer ladder: who was messaged, how, who answered; contacts given."""
    limits: tuple[int, int, int] = (160, 90, 100)
    made_at: float = 0.0

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    @property
    def unanswered_requests(self) -> int:
        return max(0, self.checkin_requests - len(self.checkin_answer_s))

    @property
    def drop_total_s(self) -> float:
        return sum(d.lasted_s or 0.0 for d in self.drops)


def summarize(
    facts: SessionFacts,
    notes: list[tuple[float, str]] | None = None,
    now: float | None = None,
    label: str = "",
) -> Summary:
    plan: SessionPlan = facts.plan
    made_at = now if now is not None else time.time()
    ended_at = made_at
    if facts.ended and facts.timeline:
        ended_at = max(e.at for e in facts.timeline)
    summary = Summary(
        facts.started_at,
        ended_at,
        label=label,
        ended=facts.ended,
        dose_at=plan.dose_at,
        notes=sorted(notes or []),
        limits=(plan.systolic_max, plan.diastolic_max, plan.heart_rate_max),
        made_at=made_at,
    )
    alerts = ShownAlerts()
    drop_started: float | None = None
    asked_at: float | None = None
    for entry in facts.timeline:
        kind = entry.kind
        if kind == "checkin":
            summary.checkins += 1
            if asked_at is not None:
                summary.checkin_answer_s.append(max(0.0, entry.at - asked_at))
                asked_at = None
        elif kind == "checkin.request":
            summary.checkin_requests += 1
            asked_at = entry.at
        elif kind == "prompt.push":
            found = prompt(entry.ref)
            summary.prompts.append((entry.at, found.title if found else entry.ref))
        elif kind == "vitals":
            match = _VITALS.search(entry.text)
            if match:
                sys_, dia, hr = (int(g) for g in match.groups())
                ok = (
                    sys_ <= plan.systolic_max
                    and dia <= plan.diastolic_max
                    and hr <= plan.heart_rate_max
                )
                summary.vitals.append(VitalsLine(entry.at, sys_, dia, hr, ok))
        elif kind in ("lookin", "with_patient"):
            # Going to the patient when called ("I'm with the patient") is looking in too.
            summary.lookins += 1
        elif kind == "message":
            summary.messages += 1
        elif kind in ("escalation", "contacts"):
            summary.outside.append((entry.at, entry.text))
        elif kind == "music.command":
            summary.music_changes += 1
        elif kind == "alert.shown":
            alerts.shown(entry)
        elif kind == "alert.cleared" and (shown := alerts.cleared(entry)) is not None:
            summary.alerts.append(
                AlertLine(shown.what, shown.last_at, entry.at - shown.last_at, entry.text)
            )
        elif kind == "link":
            state = entry.ref
            if state == "lost" and drop_started is None:
                drop_started = entry.at
            elif state == "connected" and drop_started is not None:
                summary.drops.append(Drop(drop_started, entry.at - drop_started))
                drop_started = None
    for shown in alerts.still_open():
        summary.alerts.append(AlertLine(shown.what, shown.last_at, None, _("open at the end")))
    if drop_started is not None:
        summary.drops.append(Drop(drop_started, None))
    summary.alerts.sort(key=lambda a: a.raised_at)
    return summary


def _clock(at: float) -> str:
    return clock(at)


def duration_words(seconds: float | None) -> str:
    """ "45 s", "3 min 05 s", "1 h 32 min"; "—" for None."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return _("{s} s").format(s=seconds)
    if seconds < 3600:
        return _("{m} min {s:02d} s").format(m=seconds // 60, s=seconds % 60)
    return _("{h} h {m:02d} min").format(h=seconds // 3600, m=seconds % 3600 // 60)


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    e = html.escape
    out = ["<table class='grid' cellspacing='0'><tr>"]
    out += [f"<th>{e(h)}</th>" for h in head]
    out.append("</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _section(
    heading: str, head: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str = N_("None.")
) -> list[str]:
    """A heading, then the rows as a table, or one line saying there were none."""
    none = f"<p>{html.escape(_(empty))}</p>"
    return [f"<h2>{html.escape(heading)}</h2>", _table(head, rows) if rows else none]


def to_html(summary: Summary, title: str | None = None) -> str:
    """The summary as one self-contained HTML page (also what the PDF is printed from), in
    the app's language (the therapist's).

    Cells are escaped here; the result holds the therapist's notes, so it is written only
    where the therapist chooses, never to a log."""
    e = html.escape
    title = title or _("Session summary")
    answers = summary.checkin_answer_s
    answered = (
        _("answered in {average} on average, slowest {slowest}").format(
            average=duration_words(sum(answers) / len(answers)),
            slowest=duration_words(max(answers)),
        )
        if answers
        else _("none answered after a request")
    )
    unanswered = summary.unanswered_requests
    checkins = (
        ngettext(
            "{checkins} · {requested} requested ({answered})",
            "{checkins} · {requested} requested ({answered})",
            summary.checkin_requests,
        ).format(
            checkins=number(summary.checkins),
            requested=number(summary.checkin_requests),
            answered=answered
            + (
                ngettext("; {n} not answered", "; {n} not answered", unanswered).format(
                    n=number(unanswered)
                )
                if unanswered
                else ""
            ),
        )
        if summary.checkin_requests
        else _("{checkins} (none requested)").format(checkins=number(summary.checkins))
    )
    s_max, d_max, hr_max = summary.limits
    drops = number(len(summary.drops)) + (
        _(" (lost {duration} in all)").format(duration=duration_words(summary.drop_total_s))
        if summary.drops
        else ""
    )
    facts = [
        (_("Session"), summary.label or "—"),
        (_("Started"), stamp(summary.started_at)),
        (
            _("Duration"),
            duration_words(summary.duration_s) + ("" if summary.ended else _(" (so far)")),
        ),
        (_("Dose taken"), _clock(summary.dose_at) if summary.dose_at else _("not recorded")),
        (_("Check-ins"), checkins),
        (_("Alerts"), number(len(summary.alerts))),
        (_("Connection drops"), drops),
        (
            _("Support person looked in"),
            ngettext("{n} time", "{n} times", summary.lookins).format(n=number(summary.lookins)),
        ),
        (
            _("Vitals limits"),
            _("{systolic}/{diastolic} mmHg, {rate} bpm").format(
                systolic=s_max, diastolic=d_max, rate=hr_max
            ),
        ),
        (
            _("Music remote used"),
            ngettext("{n} time", "{n} times", summary.music_changes).format(
                n=number(summary.music_changes)
            ),
        ),
        (_("Messages to the support person"), number(summary.messages)),
    ]
    c = CLEAR_LIGHT
    parts = [
        f"<html lang='{e(language())}'><head><meta charset='utf-8'><title>" + e(title),
        "</title><style>",
        f"body{{font-family:sans-serif;color:{c['text']};font-size:10pt}}"
        " h1{font-size:18pt;margin-bottom:4px} h2{font-size:13pt;margin-top:16px}"
        " table.grid{border-collapse:collapse} table.grid td, table.grid th{padding:3px 10px;"
        "text-align:left;border-bottom:1px solid #ccd3dc;vertical-align:top}"
        f" .warn{{color:{c['danger']};font-weight:bold}} .muted{{color:{c['muted']}}}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<p class='muted'>"
        + e(_("Companion · at-home ketamine-assisted therapy session"))
        + "</p>",
        _table(("", ""), [(f"<b>{e(k)}</b>", e(v)) for k, v in facts]),
    ]
    alert_rows = [
        (
            _clock(a.raised_at),
            e(a.what),
            duration_words(a.answered_after_s),
            e(a.how) if a.answered_after_s is not None else f"<span class='warn'>{e(a.how)}</span>",
        )
        for a in summary.alerts
    ]
    still_lost = e(_("still lost at the end"))
    drop_rows = [
        (
            _clock(d.started_at),
            duration_words(d.lasted_s)
            if d.lasted_s is not None
            else f"<span class='warn'>{still_lost}</span>",
        )
        for d in summary.drops
    ]
    within, beyond = e(_("within limits")), e(_("beyond limits"))
    vitals_rows = [
        (
            _clock(v.at),
            _("{systolic}/{diastolic} mmHg").format(systolic=v.systolic, diastolic=v.diastolic),
            _("{rate} bpm").format(rate=v.heart_rate),
            within if v.within_limits else f"<span class='warn'>{beyond}</span>",
        )
        for v in summary.vitals
    ]
    parts += _section(
        _("Alerts"), (_("Raised"), _("What happened"), _("Answered after"), _("How")), alert_rows
    )
    parts += _section(_("Connection drops"), (_("Lost at"), _("Lasted")), drop_rows)
    parts += _section(
        _("Texts and e-mails outside the apps"),
        (_("When"), _("What happened")),
        [(_clock(at), e(t)) for at, t in summary.outside],
    )
    parts += _section(
        _("Grounding prompts used"),
        (_("When"), _("Prompt")),
        [(_clock(at), e(t)) for at, t in summary.prompts],
    )
    parts += _section(
        _("Vitals"),
        (_("When"), _("Blood pressure"), _("Heart rate"), ""),
        vitals_rows,
        N_("None recorded."),
    )
    parts += _section(
        _("Private notes"),
        (_("When"), _("Note")),
        [(_clock(at), e(t).replace("\n", "<br>")) for at, t in summary.notes],
    )
    made = e(
        _("Times are this computer's local time. Made {when}.").format(when=stamp(summary.made_at))
    )
    parts.append(f"<p class='muted'>{made}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
