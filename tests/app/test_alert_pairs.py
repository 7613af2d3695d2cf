"""The timeline's lines and the summary's response times pair an alert's showing with its
clearing in one place (``ShownAlerts``, issue 23 item 5); what each reads from it is as
before the two were folded."""

from __future__ import annotations

from companion.app.facts import SessionFacts, TimelineEntry
from companion.app.summary import AlertLine, summarize
from companion.app.timeline import TimelineLines


def _entries() -> list[TimelineEntry]:
    return [
        TimelineEntry(1000.0, None, "alert.shown", "Help asked", ref="a1"),
        TimelineEntry(1030.0, None, "alert.shown", "Help asked", ref="a1"),  # shown again
        TimelineEntry(1040.0, None, "alert.shown", "Check-in unanswered", ref="a2"),
        TimelineEntry(1090.0, "support", "alert.ack", "acknowledged", ref="a1"),
        TimelineEntry(1100.0, None, "alert.cleared", "acknowledged", ref="a1"),
        TimelineEntry(1110.0, None, "alert.cleared", "resolved by itself", ref="zz"),
    ]


def test_the_timeline_says_each_alert_once_and_times_it_from_its_first_showing() -> None:
    lines = TimelineLines()
    said = [line.text for e in _entries() if (line := lines.line(e)) is not None]
    assert said == [
        "⚠ ALERT: Help asked",
        "⚠ ALERT: Check-in unanswered",
        "✓ Help asked — acknowledged by the support person after 1 min 40 s",
        "✓ Alert — resolved by itself after 0 s",  # cleared, never shown here
    ]


def test_the_summary_times_an_answer_from_the_last_showing_and_keeps_the_open_ones() -> None:
    facts = SessionFacts(started_at=900.0, timeline=_entries())
    assert summarize(facts, now=2000.0).alerts == [
        AlertLine("Help asked", 1030.0, 70.0, "acknowledged"),
        AlertLine("Check-in unanswered", 1040.0, None, "open at the end"),
    ]
