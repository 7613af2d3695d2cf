"""Everything the patient's screen would tell them, as lines to be heard (issue 22).

Ids name lines in the timeline and the voice cache; the words are the ladder's own where
the ladder gives them (so screen and voice never disagree).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from companion.app.prompts import PROMPTS
from companion.audio.speech import Speaker
from companion.i18n import N_, _, translations
from companion.monitor.ladder import PATIENT_LINE_BACK, PATIENT_LINE_HELP, PATIENT_LINE_LOST
from companion.protocol.messages import AlertAck, AlertRaised, EventBody, PromptPush, Role

LADDER_LINES: dict[str, str] = {
    PATIENT_LINE_LOST: "link_lost",
    PATIENT_LINE_BACK: "therapist_back",
    PATIENT_LINE_HELP: "help_coming",
}
"""The ladder's words (``Guardian.patient_line``) → the line that says them."""

MUSIC_STEP_DB = 3.0
"""One press of the up or down arrow: the volume slider's own page step."""
HELP_KEY_HOLD_S = 3.0
"""Holding the space bar this long asks for help. Longer than the on-screen button's hold:
a hand resting on the keyboard must not call for help by itself."""
KEYS_WORDS: tuple[str, ...] = (
    N_("Any key: I'm OK."),
    N_("Up and down arrows: the music louder or softer."),
    N_("Hold the space bar for 3 seconds: I need help."),
)
"""The keys that need no eyes, as the preparation screen lists them. Arrows, because they
sit together in the bottom right corner of every laptop keyboard and never meant "I'm OK";
the space bar, the largest key, for help."""

BREATH_LINES: dict[str, str] = {
    "breath:in": N_("Breathe in."),
    "breath:hold": N_("Hold."),
    "breath:out": N_("Breathe out."),
    "breath:rest": N_("Rest."),
}
"""The breathing guide's steps, in its order (in, hold, out, rest)."""

SPOKEN_LINES: dict[str, str] = {
    # The ladder's lines first: rendered first, so they are ready soonest.
    **{line_id: text for text, line_id in LADDER_LINES.items()},
    "help_acknowledged": N_("Your therapist has seen that you asked for help."),
    "support_coming": N_("Your support person is on the way."),
    "checkin_request": N_("Your therapist is checking in. If you're OK, press any key."),
    "checkin_received": N_("Thank you. Your therapist knows you're OK."),
    "session_end": N_("The session has ended. Take your time, and rest as long as you like."),
    "welcome": N_(
        "Welcome. With your eyes closed, the keyboard still works. Any key tells your "
        "therapist you're OK. The up and down arrow keys make the music louder or softer. "
        "To ask for help, hold the space bar for three seconds."
    ),
    "music_up": N_("Louder."),
    "music_down": N_("Softer."),
    "music_loudest": N_("The music is as loud as it goes."),
    "music_softest": N_("The music is as soft as it goes."),
    **BREATH_LINES,
}
"""The lines in English (the catalogue's ids), besides the prompts."""


def spoken_lines(lang: str | None = None) -> dict[str, str]:
    """Every line in the app's language (or ``lang``'s: the words a therapist records for
    a patient who speaks another), rendered before the session starts so no line is ever
    missing offline."""
    say = _ if lang is None else translations(lang).gettext
    lines = {line_id: say(text) for line_id, text in SPOKEN_LINES.items()}
    for p in PROMPTS:
        words = (say(p.source_title) + ".", *(say(line) for line in p.source_lines))
        lines[f"prompt:{p.prompt_id}"] = " ".join(words)
    return lines


THERAPIST_VOICE = N_("the therapist's own recording")
"""The voice named on the timeline for a line the therapist recorded (companion/app/voice.py)."""

SUPPORT_NAMED = "support_named"
"""The support person's name "is on the way": rendered once the patient's card gives the
name (the name stays on this computer; the timeline and the wire carry only this id)."""

SAFETY_LINES = frozenset(
    {
        *LADDER_LINES.values(),
        "help_acknowledged",
        "support_coming",
        SUPPORT_NAMED,
        "checkin_request",
    }
)
"""Lines that cut in: the ladder's and the answers to a call for help or a check-in request
never wait behind the welcome, a prompt or the breathing guide (the line sounding fades
out). One safety line never cuts another: each waits for the one before."""


def line_words(line_id: str) -> str:
    """The words of a line, for the therapist's timeline (never a name)."""
    if line_id == SUPPORT_NAMED:
        return _("Your support person (by name) is on the way.")
    return spoken_lines().get(line_id, line_id)


class Narrator:
    """The patient hears what their screen shows: each line is played from the prepared
    voice, and ``said(line_id, voice)`` tells the timeline which line, in what voice. Only
    the patient's app has a speaker; elsewhere nothing is said. A line asked for while
    the voice is still being prepared is said once it is ready (``later``), so the call
    never waits for the rendering and no line is lost to it."""

    def __init__(
        self,
        speaker: Callable[[], Speaker | None],
        said: Callable[[str, str], None],
        later: Callable[[str], bool] = lambda _line_id: False,
    ) -> None:
        self._speaker = speaker
        self._said = said
        self._later = later
        self._help_alerts: set[str] = set()

    def say(self, line_id: str, noted: bool = True) -> bool:
        """Play a prepared line; False when there is nothing to play it with. ``noted``:
        the timeline hears of it (the breathing guide's every step would drown it)."""
        speaker = self._speaker()
        if speaker is None:
            return False
        if not speaker.ready(line_id):
            return self._later(line_id)
        if not speaker.say(line_id, cut_in=line_id in SAFETY_LINES):
            return False
        if noted:
            self._said(line_id, speaker.voice_of(line_id))
        return True

    def speaking(self) -> bool:
        speaker = self._speaker()
        return speaker is not None and speaker.engine.mixer.speech_pending

    async def breathe(self, pattern: tuple[int, int, int, int], cycles: int) -> None:
        """The breathing guide's steps spoken on the guide's own clock (both start now):
        each step's word at its start, skipped while another line is still being said
        (the prompt's own words first), so the voice never falls behind the circle."""
        first = True
        for _cycle in range(cycles):
            for line_id, length in zip(BREATH_LINES, pattern, strict=True):
                if length and not self.speaking():
                    self.say(line_id, noted=first)
                    first = False
                await asyncio.sleep(length)

    def hear(self, event: EventBody, from_role: Role | None) -> None:
        """An event the patient's screen shows (the check-in request is spoken instead of
        its chime, by the core)."""
        if isinstance(event, AlertRaised) and event.reason == "help":
            self._help_alerts.add(event.alert_id)
        elif isinstance(event, AlertAck) and event.alert_id in self._help_alerts:
            self._help_alerts.discard(event.alert_id)
            if from_role != "support":
                self.say("help_acknowledged")
            else:
                speaker = self._speaker()
                named = speaker is not None and speaker.ready(SUPPORT_NAMED)
                self.say(SUPPORT_NAMED if named else "support_coming")
        elif event.kind == "checkin" and from_role == "patient":
            self.say("checkin_received")
        elif isinstance(event, PromptPush):
            self.say(f"prompt:{event.prompt_id}")
