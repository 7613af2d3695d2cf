"""Grounding prompts, written by the project: short, calm, readable in a few seconds.

The patient opens them from the session screen; the therapist pushes one by its id
(``prompt.push``). ``breathing`` tells the UI to show the animated breathing guide with
the given pattern (seconds in, hold, out, hold), which honours reduced motion.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    title: str
    lines: tuple[str, ...]
    breathing: tuple[int, int, int, int] | None = None


PROMPTS: tuple[Prompt, ...] = (
    Prompt(
        "five-senses",
        "5 · 4 · 3 · 2 · 1",
        (
            "Notice five things you can see, or imagine seeing.",
            "Four things you can feel — the blanket, your hands.",
            "Three things you can hear.",
            "Two things you can smell.",
            "One slow breath you can taste.",
        ),
    ),
    Prompt(
        "box-breathing",
        "Box breathing",
        ("Breathe in for four.", "Hold for four.", "Breathe out for four.", "Rest for four."),
        breathing=(4, 4, 4, 4),
    ),
    Prompt(
        "slow-exhale",
        "A longer breath out",
        ("Breathe in gently for four.", "Let it go slowly, for six.", "Again, at your own pace."),
        breathing=(4, 0, 6, 0),
    ),
    Prompt(
        "feet-on-floor",
        "Feet on the floor",
        (
            "Feel where your body is held up — the bed, the chair, the floor.",
            "Press your feet or your heels down a little.",
            "You are here, and you are safe.",
        ),
    ),
    Prompt(
        "body-scan",
        "A slow body scan",
        (
            "Start at the top of your head.",
            "Let your attention drift down: face, jaw, shoulders.",
            "Arms, hands, chest, belly.",
            "Legs, and all the way to your toes.",
            "Nothing to change. Just notice.",
        ),
    ),
    Prompt(
        "name-the-room",
        "Name the room",
        (
            "Say quietly where you are: the room, the house, the town.",
            "Say today's day of the week.",
            "Your support person is nearby.",
        ),
    ),
    Prompt(
        "hand-on-heart",
        "Hand on your heart",
        (
            "Rest one hand on your chest.",
            "Feel the warmth of your hand.",
            "Feel your heart keeping its own steady time.",
        ),
    ),
    Prompt(
        "temperature",
        "Warm and cool",
        (
            "Notice one place in your body that feels warm.",
            "Notice one place that feels cool.",
            "Let both be just as they are.",
        ),
    ),
    Prompt(
        "anchor-word",
        "Your anchor word",
        (
            "Bring back the word or intention you chose today.",
            "Let it sit with you, like a stone in your hand.",
            "You can return to it whenever you like.",
        ),
    ),
    Prompt(
        "it-will-pass",
        "This will pass",
        (
            "What you feel now is the medicine, and it is temporary.",
            "It will soften within the hour.",
            "Your therapist is with you.",
        ),
    ),
    Prompt(
        "count-sounds",
        "Counting sounds",
        (
            "Listen to the music.",
            "Count the sounds you hear beneath it, one by one.",
            "Let each one come and go.",
        ),
    ),
    Prompt(
        "soft-gaze",
        "Soft eyes",
        (
            "If your eyes are open, let them rest on one still thing.",
            "If they are closed, notice the colours behind your eyelids.",
            "Nothing to do but rest.",
        ),
    ),
)

PROMPTS_BY_ID: dict[str, Prompt] = {p.prompt_id: p for p in PROMPTS}


def prompt(prompt_id: str) -> Prompt | None:
    return PROMPTS_BY_ID.get(prompt_id)
