"""The session summary, Qt-free: counts, response times, drops, vitals against limits."""

from __future__ import annotations

import subprocess
from pathlib import Path

from companion.app import SessionFacts, TimelineEntry
from companion.app.summary import duration_words, summarize, to_html
from companion.protocol.messages import SessionPlan


def test_summary_counts_response_times_drops_and_vitals() -> None:
    t0 = 1_700_000_000.0
    facts = SessionFacts(started_at=t0)
    facts.plan = SessionPlan(kind="plan", dose_at=t0 + 60, heart_rate_max=100)
    entries = [
        (10, None, "checkin.request", "Therapist asked for a check-in", ""),
        (25, None, "checkin", "Patient checked in: I'm OK", ""),
        (30, None, "prompt.push", "Grounding prompt shown: box-breathing", "box-breathing"),
        (100, None, "link", "Link between patient and therapist: lost", "lost"),
        (101, None, "alert.shown", "The link to the patient was lost", "a1"),
        (142, None, "link", "Link between patient and therapist: connected", "connected"),
        (143, None, "alert.cleared", "resolved by itself", "a1"),
        (200, None, "alert.shown", "The patient is asking for help", "a2"),
        (212, None, "alert.cleared", "acknowledged", "a2"),
        (300, None, "vitals", "Vitals recorded: 150/85 mmHg, 110 bpm", ""),
        (310, None, "checkin.request", "Therapist asked for a check-in", ""),
        (400, None, "alert.shown", "The patient did not answer a check-in", "a3"),
    ]
    facts.timeline = [
        TimelineEntry(t0 + at, who, kind, text, "", ref) for at, who, kind, text, ref in entries
    ]
    summary = summarize(facts, [(t0 + 50, "Calm <b>start</b>")], now=t0 + 5400)
    assert summary.duration_s == 5400 and summary.dose_at == t0 + 60
    assert summary.checkins == 1 and summary.checkin_requests == 2
    assert summary.checkin_answer_s == [15] and summary.unanswered_requests == 1
    assert [(round(a.answered_after_s or -1), a.how) for a in summary.alerts] == [
        (42, "resolved by itself"),
        (12, "acknowledged"),
        (-1, "open at the end"),
    ]
    assert [d.lasted_s for d in summary.drops] == [42]
    assert [p for _, p in summary.prompts] == ["Box breathing"]
    assert len(summary.vitals) == 1 and not summary.vitals[0].within_limits
    html = to_html(summary, "Session summary — T")
    assert "1 h 30 min" in html and "42 s" in html and "beyond limits" in html
    assert "Calm &lt;b&gt;start&lt;/b&gt;" in html  # notes escaped
    assert duration_words(65) == "1 min 05 s" and duration_words(None) == "—"


def test_answering_a_call_counts_as_looking_in() -> None:
    """Issue 16, item 17: "Support person looked in: 0 times" though they answered."""
    t0 = 1_700_000_000.0
    facts = SessionFacts(started_at=t0)
    facts.timeline = [
        TimelineEntry(t0 + 10, "support", "with_patient", "Support person is with the patient"),
        TimelineEntry(t0 + 900, "support", "lookin", "Support person looked in"),
    ]
    summary = summarize(facts, [], now=t0 + 1800)
    assert summary.lookins == 2
    assert "2 times" in to_html(summary, "T")


def test_no_heading_stands_alone_at_the_foot_of_a_pdf_page(tmp_path: Path) -> None:
    """Item 17: "Vitals" stood alone at the foot of page 1. Summaries of every length that
    push a heading past page 1's foot: no page of the PDF ends with a heading."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from companion.ui.therapist.live import write_pdf

    _app = QApplication.instance() or QApplication([])
    headings = {"Alerts", "Connection drops", "Grounding prompts used", "Vitals", "Private notes"}
    t0 = 1_700_000_000.0
    ends: list[str] = []
    for prompts in range(0, 34):
        facts = SessionFacts(started_at=t0)
        facts.timeline = [
            TimelineEntry(t0 + 60 * i, None, "prompt.push", "Grounding prompt shown: box-breathing")
            for i in range(prompts)
        ]
        facts.timeline.append(
            TimelineEntry(t0 + 3000, None, "vitals", "Vitals recorded: 150/85 mmHg, 110 bpm")
        )
        html = to_html(summarize(facts, [(t0 + 5, "A calm start")], now=t0 + 5400), "Summary")
        pdf = write_pdf(html, tmp_path / f"summary-{prompts}.pdf")
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        for page in text.split("\f")[:-1]:
            lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
            # The last line is the page number Qt prints; the one before ends the page.
            if len(lines) >= 2 and lines[-1].isdigit():
                ends.append(lines[-2])
                assert lines[-2] not in headings, (prompts, lines[-2])
    assert ends, "no summary ran past one page"
