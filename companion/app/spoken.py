"""Everything the patient's screen would tell them, as lines to be heard (issue 22).

Ids name lines in the timeline and the voice cache; the words are the ladder's own where
the ladder gives them (so screen and voice never disagree).
"""

from __future__ import annotations

from collections.abc import Callable

from companion.app.prompts import PROMPTS
from companion.audio.speech import Speaker
from companion.monitor.ladder import PATIENT_LINE_BACK, PATIENT_LINE_HELP, PATIENT_LINE_LOST
from companion.protocol.messages import AlertAck, AlertRaised, EventBody, PromptPush, Role

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


class Narrator:
    """The patient hears what their screen shows: each line is played from the prepared
    voice, and ``said`` tells the timeline which line, in what voice. Only the patient's
    app has a speaker; elsewhere nothing is said."""

    def __init__(
        self, speaker: Callable[[], Speaker | None], said: Callable[[str, str], None]
    ) -> None:
        self._speaker = speaker
        self._said = said
        self._help_alerts: set[str] = set()

    def say(self, line_id: str) -> bool:
        """Play a prepared line; False when there is nothing to play it with."""
        speaker = self._speaker()
        if speaker is None or not speaker.say(line_id):
            return False
        self._said(f"Spoken to the patient ({speaker.voice.name})", line_id)
        return True

    def hear(self, event: EventBody, from_role: Role | None) -> None:
        """An event the patient's screen shows (the check-in request is spoken instead of
        its chime, by the core)."""
        if isinstance(event, AlertRaised) and event.reason == "help":
            self._help_alerts.add(event.alert_id)
        elif isinstance(event, AlertAck) and event.alert_id in self._help_alerts:
            self._help_alerts.discard(event.alert_id)
            self.say("support_coming" if from_role == "support" else "help_acknowledged")
        elif event.kind == "checkin" and from_role == "patient":
            self.say("checkin_received")
        elif isinstance(event, PromptPush):
            self.say(f"prompt:{event.prompt_id}")
