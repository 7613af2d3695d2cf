"""Time-stretching of one decoded frame by a whole pitch period (WSOLA), pitch kept.

``accelerate`` removes one period T from a frame and ``expand`` repeats one, each joined
by a crossfade over ``OVERLAP`` samples where the waveform best matches itself (the lag
with the highest normalised correlation between the frame's start and the same span T
later). A voice with a clear period is shortened or lengthened by exactly a period, which
the ear does not hear; where no lag matches well (noise, a transient) the frame is left
alone and the caller tries again on a later one. Silence matches anything.

Both start and end on the frame's own first and last samples, so frames stay continuous
with their neighbours. Runs on the playout thread, never in the audio callback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

OVERLAP = 240
"""Crossfade length: 5 ms at 48 kHz."""
MIN_LAG = 120
"""2.5 ms: the shortest period searched (400 Hz voices)."""
MAX_LAG = 600
"""12.5 ms: the longest (80 Hz voices)."""
MIN_CORRELATION = 0.7
"""Below this the frame is too irregular to splice without a trace."""
QUIET_RMS = 10 ** (-50 / 20)
"""A frame this quiet (-50 dBFS) is stretched by any lag."""

_FADE_IN = np.linspace(0.0, 1.0, OVERLAP, dtype=np.float32)
_FADE_OUT = _FADE_IN[::-1].copy()


@dataclass(frozen=True)
class Splice:
    lag: int
    """Samples removed (accelerate) or added (expand)."""
    correlation: float


def find_splice(frame: np.ndarray, max_lag: int = MAX_LAG) -> Splice | None:
    """The lag in [MIN_LAG, max_lag] where the frame best repeats its own start, if it
    repeats well enough (or is quiet enough) to splice there."""
    max_lag = min(max_lag, MAX_LAG, len(frame) - OVERLAP)
    if max_lag < MIN_LAG:
        return None
    x = frame.astype(np.float64, copy=False)
    head = x[:OVERLAP]
    if float(np.sqrt(np.mean(np.square(x)))) < QUIET_RMS:
        return Splice(max_lag, 1.0)
    windows = sliding_window_view(x[: max_lag + OVERLAP], OVERLAP)[MIN_LAG : max_lag + 1]
    dots = windows @ head
    energy = np.cumsum(np.concatenate(([0.0], np.square(x[: max_lag + OVERLAP]))))
    span = energy[MIN_LAG + OVERLAP : max_lag + OVERLAP + 1] - energy[MIN_LAG : max_lag + 1]
    norm = np.sqrt(np.maximum(span, 1e-12) * max(float(head @ head), 1e-12))
    corr = dots / norm
    best = int(np.argmax(corr))
    if corr[best] < MIN_CORRELATION:
        return None
    return Splice(MIN_LAG + best, float(corr[best]))


def accelerate(frame: np.ndarray, splice: Splice) -> np.ndarray:
    """``frame`` shortened by ``splice.lag`` samples."""
    t = splice.lag
    joined = frame[:OVERLAP] * _FADE_OUT + frame[t : t + OVERLAP] * _FADE_IN
    return np.concatenate((joined, frame[t + OVERLAP :])).astype(np.float32, copy=False)


def expand(frame: np.ndarray, splice: Splice) -> np.ndarray:
    """``frame`` lengthened by ``splice.lag`` samples (its first period played twice)."""
    t = splice.lag
    joined = frame[t : t + OVERLAP] * _FADE_OUT + frame[:OVERLAP] * _FADE_IN
    return np.concatenate((frame[:t], joined, frame[OVERLAP:])).astype(np.float32, copy=False)
