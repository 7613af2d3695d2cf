"""Soft chimes the project synthesizes: bell-like partials with a gentle attack.

Rendered once at engine start (never in the callback) and normalized to a peak of 1.0;
the mixer plays them relative to the music level the patient set, never above it.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np


class ChimeKind(StrEnum):
    CHECK_IN = "check_in"
    """The therapist asks for a check-in: two soft rising notes."""
    RECONNECTED = "reconnected"
    """The therapist is back: three soft rising notes."""
    NOTICE = "notice"
    """Something changed on a board (a lost link on the support person's): one low note."""
    ALERT = "alert"
    """The therapist's alert: a clear falling-rising figure, repeated by the ladder."""
    CALL = "call"
    """The support person is needed: a fuller four-note call, repeated until answered."""


# Notes as (start seconds, frequency Hz): a fifth and a major arpeggio, low and warm.
_NOTES: dict[ChimeKind, tuple[tuple[float, float], ...]] = {
    ChimeKind.CHECK_IN: ((0.0, 523.25), (0.45, 783.99)),
    ChimeKind.RECONNECTED: ((0.0, 392.0), (0.35, 493.88), (0.7, 587.33)),
    ChimeKind.NOTICE: ((0.0, 440.0),),
    ChimeKind.ALERT: ((0.0, 659.25), (0.25, 523.25), (0.5, 659.25), (0.75, 783.99)),
    ChimeKind.CALL: ((0.0, 587.33), (0.3, 783.99), (0.6, 587.33), (0.9, 783.99), (1.2, 880.0)),
}

#: Attack of each note: long enough to sound like a swell, not a strike.
ATTACK_S = 0.08
_DECAY_S = 1.1
_TAIL_S = 2.5


def render_chime(kind: ChimeKind, sample_rate: int) -> np.ndarray:
    """Stereo float32, peak 1.0, starting and ending at silence."""
    notes = _NOTES[kind]
    total = int((notes[-1][0] + _TAIL_S) * sample_rate)
    out = np.zeros(total)
    for start_s, freq in notes:
        start = int(start_s * sample_rate)
        t = np.arange(total - start) / sample_rate
        attack = np.clip(t / ATTACK_S, 0.0, 1.0)
        env = np.sin(attack * math.pi / 2) ** 2 * np.exp(-t / _DECAY_S)
        # Slightly inharmonic upper partials, quiet: a bell's shimmer without its strike.
        tone = (
            np.sin(2 * math.pi * freq * t)
            + 0.25 * np.sin(2 * math.pi * freq * 2.01 * t)
            + 0.08 * np.sin(2 * math.pi * freq * 3.98 * t)
        )
        out[start:] += env * tone
    fade = min(total, int(0.3 * sample_rate))
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    out /= np.max(np.abs(out))
    return np.repeat(out.astype(np.float32)[:, None], 2, axis=1)
