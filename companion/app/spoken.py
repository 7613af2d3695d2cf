"""Everything the patient's screen would tell them, as lines to be heard (issue 22).

Ids name lines in the timeline and the voice cache; the words are the ladder's own where
the ladder gives them (so screen and voice never disagree).
"""

from __future__ import annotations

from companion.app.prompts import PROMPTS
from companion.monitor.ladder import PATIENT_LINE_BACK, PATIENT_LINE_HELP, PATIENT_LINE_LOST

LADDER_LINES: dict[str, str] = {
    PATIENT_LINE_LOST: "link_lost",
    PATIENT_LINE_BACK: "therapist_back",
    PATIENT_LINE_HELP: "help_coming",
}
"""The ladder's words (``Guardian.patient_line``) → the line that says them."""

SPOKEN_LINES: dict[str, str] = {
    **{line_id: text for text, line_id in LADDER_LINES.items()},
    "help_acknowledged": "Your therapist has seen that you asked for help.",
    "support_coming": "Your support person is on the way.",
    "checkin_request": "Your therapist is checking in. If you're OK, press any key.",
    "checkin_received": "Thank you. Your therapist knows you're OK.",
    "session_end": "The session has ended. Take your time, and rest as long as you like.",
    **{f"prompt:{p.prompt_id}": " ".join((p.title + ".", *p.lines)) for p in PROMPTS},
}
"""Every line, rendered before the session starts so no line is ever missing offline."""
