"""Grounding prompts, written by the project: short, calm, readable in a few seconds.

The patient opens them from the session screen; the therapist pushes one by its id
(``prompt.push``). ``breathing`` tells the UI to show the animated breathing guide with
the given pattern (seconds in, hold, out, hold), which honours reduced motion.
"""

from __future__ import annotations

from dataclasses import dataclass

from companion.i18n import N_, _


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    source_title: str
    """In English, the catalogue's id: ``title`` is in the app's language."""
    source_lines: tuple[str, ...]
    breathing: tuple[int, int, int, int] | None = None

    @property
    def title(self) -> str:
        return _(self.source_title)

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(_(line) for line in self.source_lines)


PROMPTS: tuple[Prompt, ...] = (
    Prompt(
        "five-senses",
        "5 · 4 · 3 · 2 · 1",
        (
            N_("Notice five things you can see, or imagine seeing."),
            N_("Four things you can feel — the blanket, your hands."),
            N_("Three things you can hear."),
            N_("Two things you can smell."),
            N_("One slow breath you can taste."),
        ),
    ),
    Prompt(
        "box-breathing",
        N_("Box breathing"),
        (
            N_("Breathe in for four."),
            N_("Hold for four."),
            N_("Breathe out for four."),
            N_("Rest for four."),
        ),
        breathing=(4, 4, 4, 4),
    ),
    Prompt(
        "slow-exhale",
        N_("A longer breath out"),
        (
            N_("Breathe in gently for four."),
            N_("Let it go slowly, for six."),
            N_("Again, at your own pace."),
        ),
        breathing=(4, 0, 6, 0),
    ),
    Prompt(
        "feet-on-floor",
        N_("Feet on the floor"),
        (
            N_("Feel where your body is held up — the bed, the chair, the floor."),
            N_("Press your feet or your heels down a little."),
            N_("You are here, and you are safe."),
        ),
    ),
    Prompt(
        "body-scan",
        N_("A slow body scan"),
        (
            N_("Start at the top of your head."),
            N_("Let your attention drift down: face, jaw, shoulders."),
            N_("Arms, hands, chest, belly."),
            N_("Legs, and all the way to your toes."),
            N_("Nothing to change. Just notice."),
        ),
    ),
    Prompt(
        "name-the-room",
        N_("Name the room"),
        (
            N_("Say quietly where you are: the room, the house, the town."),
            N_("Say today's day of the week."),
            N_("Your support person is nearby."),
        ),
    ),
    Prompt(
        "hand-on-heart",
        N_("Hand on your heart"),
        (
            N_("Rest one hand on your chest."),
            N_("Feel the warmth of your hand."),
            N_("Feel your heart keeping its own steady time."),
        ),
    ),
    Prompt(
        "temperature",
        N_("Warm and cool"),
        (
            N_("Notice one place in your body that feels warm."),
            N_("Notice one place that feels cool."),
            N_("Let both be just as they are."),
        ),
    ),
    Prompt(
        "anchor-word",
        N_("Your anchor word"),
        (
            N_("Bring back the word or intention you chose today."),
            N_("Let it sit with you, like a stone in your hand."),
            N_("You can return to it whenever you like."),
        ),
    ),
    Prompt(
        "it-will-pass",
        N_("This will pass"),
        (
            N_("What you feel now is the medicine, and it is temporary."),
            N_("It will soften within the hour."),
            N_("Your therapist is with you."),
        ),
    ),
    Prompt(
        "count-sounds",
        N_("Counting sounds"),
        (
            N_("Listen to the music."),
            N_("Count the sounds you hear beneath it, one by one."),
            N_("Let each one come and go."),
        ),
    ),
    Prompt(
        "soft-gaze",
        N_("Soft eyes"),
        (
            N_("If your eyes are open, let them rest on one still thing."),
            N_("If they are closed, notice the colours behind your eyelids."),
            N_("Nothing to do but rest."),
        ),
    ),
)

PROMPTS_BY_ID: dict[str, Prompt] = {p.prompt_id: p for p in PROMPTS}


def prompt(prompt_id: str) -> Prompt | None:
    return PROMPTS_BY_ID.get(prompt_id)
