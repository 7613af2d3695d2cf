"""The session summary for the clinical record, built from what the therapist's app saw.

Pure Python: ``summarize`` reads the timeline; ``to_html`` renders it. The console turns
the HTML into a PDF with Qt.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

from companion.app.core import SessionFacts
from companion.app.prompts import prompt


@dataclass(frozen=True)
class AlertLine:
    what: str
    raised_at: float
    answered_after_s: float | None
    how: str


@dataclass(frozen=True)
class Drop:
    started_at: float
    lasted_s: float | None


@dataclass
class Summary:
    started_at: float
    ended_at: float
    checkins: int = 0
    checkin_requests: int = 0
    alerts: list[AlertLine] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    vitals: list[str] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


def summarize(
    facts: SessionFacts, notes: list[tuple[float, str]] | None = None, now: float | None = None
) -> Summary:
    entries = facts.timeline
    summary = Summary(facts.started_at, now or time.time(), notes=list(notes or []))
    open_alerts: dict[str, tuple[str, float]] = {}
    drop_started: float | None = None
    for entry in entries:
        kind = entry.kind
        if kind == "checkin":
            summary.checkins += 1
        elif kind == "checkin.request":
            summary.checkin_requests += 1
        elif kind == "prompt.push":
            prompt_id = entry.text.rsplit(": ", 1)[-1]
            found = prompt(prompt_id)
            summary.prompts.append(found.title if found else prompt_id)
        elif kind == "vitals":
            summary.vitals.append(
                f"{_clock(entry.at)} — {entry.text.removeprefix('Vitals recorded: ')}"
            )
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


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def to_html(summary: Summary, title: str = "Session summary") -> str:
    e = html.escape
    rows = [
        ("Started", time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.started_at))),
        ("Duration", _duration(summary.duration_s)),
        ("Check-ins", f"{summary.checkins} (requested {summary.checkin_requests})"),
        ("Alerts", str(len(summary.alerts))),
        ("Connection drops", str(len(summary.drops))),
    ]
    parts = [
        "<html><head><meta charset='utf-8'><style>",
        "body{font-family:sans-serif;color:#1b2430} h1{font-size:20pt} h2{font-size:14pt;"
        "margin-top:18px} td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #ccd}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1><table>",
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows),
        "</table><h2>Alerts</h2>",
    ]
    if summary.alerts:
        parts.append(
            "<table><tr><th>When</th><th>What</th><th>Answered after</th><th>How</th></tr>"
        )
        for a in summary.alerts:
            parts.append(
                f"<tr><td>{_clock(a.raised_at)}</td><td>{e(a.what)}</td>"
                f"<td>{_duration(a.answered_after_s)}</td><td>{e(a.how)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Connection drops</h2>")
    if summary.drops:
        parts.append("<table><tr><th>When</th><th>Lasted</th></tr>")
        parts += [
            f"<tr><td>{_clock(d.started_at)}</td><td>{_duration(d.lasted_s)}</td></tr>"
            for d in summary.drops
        ]
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Grounding prompts used</h2>")
    parts.append(
        "<ul>" + "".join(f"<li>{e(p)}</li>" for p in summary.prompts) + "</ul>"
        if summary.prompts
        else "<p>None.</p>"
    )
    parts.append("<h2>Vitals</h2>")
    parts.append(
        "<ul>" + "".join(f"<li>{e(v)}</li>" for v in summary.vitals) + "</ul>"
        if summary.vitals
        else "<p>None recorded.</p>"
    )
    parts.append("<h2>Notes</h2>")
    parts.append(
        "<ul>"
        + "".join(f"<li>{_clock(at)} — {e(text)}</li>" for at, text in summary.notes)
        + "</ul>"
        if summary.notes
        else "<p>None.</p>"
    )
    parts.append("<p style='color:#4d5a69'>Times are this computer's local time.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
