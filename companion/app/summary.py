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

from companion.app.facts import SessionFacts
from companion.app.prompts import prompt
from companion.app.theme import CLEAR_LIGHT
from companion.protocol.messages import SessionPlan

_VITALS = re.compile(r"(\d+)/(\d+) mmHg, (\d+) bpm")


@dataclass(frozen=True)
class AlertLine:
    what: str
    raised_at: float
    answered_after_s: float | None
    how: str
    """"acknowledged", "resolved by itself" or "open at the end"."""


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
    open_alerts: dict[str, tuple[str, float]] = {}
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
            prompt_id = entry.text.rsplit(": ", 1)[-1]
            found = prompt(prompt_id)
            summary.prompts.append((entry.at, found.title if found else prompt_id))
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
        elif kind == "music.command":
            summary.music_changes += 1
        elif kind == "alert.shown":
            open_alerts[entry.ref] = (entry.text, entry.at)
        elif kind == "alert.cleared" and entry.ref in open_alerts:
            what, raised = open_alerts.pop(entry.ref)
            summary.alerts.append(AlertLine(what, raised, entry.at - raised, entry.text))
        elif kind == "link":
            state = entry.text.rsplit(": ", 1)[-1]
            if state == "lost" and drop_started is None:
                drop_started = entry.at
            elif state == "connected" and drop_started is not None:
                summary.drops.append(Drop(drop_started, entry.at - drop_started))
                drop_started = None
    for what, raised in open_alerts.values():
        summary.alerts.append(AlertLine(what, raised, None, "open at the end"))
    if drop_started is not None:
        summary.drops.append(Drop(drop_started, None))
    summary.alerts.sort(key=lambda a: a.raised_at)
    return summary


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def duration_words(seconds: float | None) -> str:
    """ "45 s", "3 min 05 s", "1 h 32 min"; "—" for None."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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
    heading: str, head: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str = "None."
) -> list[str]:
    """A heading, then the rows as a table, or one line saying there were none."""
    return [f"<h2>{html.escape(heading)}</h2>", _table(head, rows) if rows else f"<p>{empty}</p>"]


def to_html(summary: Summary, title: str = "Session summary") -> str:
    """The summary as one self-contained HTML page (also what the PDF is printed from).

    Cells are escaped here; the result holds the therapist's notes, so it is written only
    where the therapist chooses, never to a log."""
    e = html.escape
    answers = summary.checkin_answer_s
    answered = (
        f"answered in {duration_words(sum(answers) / len(answers))} on average, "
        f"slowest {duration_words(max(answers))}"
        if answers
        else "none answered after a request"
    )
    checkins = (
        f"{summary.checkins} · {summary.checkin_requests} requested ({answered}"
        + (f"; {summary.unanswered_requests} not answered" if summary.unanswered_requests else "")
        + ")"
        if summary.checkin_requests
        else f"{summary.checkins} (none requested)"
    )
    s_max, d_max, hr_max = summary.limits
    facts = [
        ("Session", summary.label or "—"),
        ("Started", time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.started_at))),
        ("Duration", duration_words(summary.duration_s) + ("" if summary.ended else " (so far)")),
        ("Dose taken", _clock(summary.dose_at) if summary.dose_at else "not recorded"),
        ("Check-ins", checkins),
        ("Alerts", str(len(summary.alerts))),
        (
            "Connection drops",
            f"{len(summary.drops)}"
            + (f" (lost {duration_words(summary.drop_total_s)} in all)" if summary.drops else ""),
        ),
        ("Support person looked in", f"{summary.lookins} times"),
        ("Vitals limits", f"{s_max}/{d_max} mmHg, {hr_max} bpm"),
        ("Music remote used", f"{summary.music_changes} times"),
        ("Messages to the support person", str(summary.messages)),
    ]
    c = CLEAR_LIGHT
    parts = [
        "<html><head><meta charset='utf-8'><title>" + e(title) + "</title><style>",
        f"body{{font-family:sans-serif;color:{c['text']};font-size:10pt}}"
        " h1{font-size:18pt;margin-bottom:4px} h2{font-size:13pt;margin-top:16px}"
        " table.grid{border-collapse:collapse} table.grid td, table.grid th{padding:3px 10px;"
        "text-align:left;border-bottom:1px solid #ccd3dc;vertical-align:top}"
        f" .warn{{color:{c['danger']};font-weight:bold}} .muted{{color:{c['muted']}}}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<p class='muted'>Companion · at-home ketamine-assisted therapy session</p>",
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
    drop_rows = [
        (
            _clock(d.started_at),
            duration_words(d.lasted_s)
            if d.lasted_s is not None
            else "<span class='warn'>still lost at the end</span>",
        )
        for d in summary.drops
    ]
    vitals_rows = [
        (
            _clock(v.at),
            f"{v.systolic}/{v.diastolic} mmHg",
            f"{v.heart_rate} bpm",
            "within limits" if v.within_limits else "<span class='warn'>beyond limits</span>",
        )
        for v in summary.vitals
    ]
    parts += _section("Alerts", ("Raised", "What happened", "Answered after", "How"), alert_rows)
    parts += _section("Connection drops", ("Lost at", "Lasted"), drop_rows)
    parts += _section(
        "Grounding prompts used",
        ("When", "Prompt"),
        [(_clock(at), e(t)) for at, t in summary.prompts],
    )
    parts += _section(
        "Vitals", ("When", "Blood pressure", "Heart rate", ""), vitals_rows, "None recorded."
    )
    parts += _section(
        "Private notes",
        ("When", "Note"),
        [(_clock(at), e(t).replace("\n", "<br>")) for at, t in summary.notes],
    )
    parts.append(
        f"<p class='muted'>Times are this computer's local time. Made "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(summary.made_at))}.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
