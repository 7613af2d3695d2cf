"""Levels in dB and the smooth ramps between them.

Every level change in the engine goes through one of these: a step in gain is a click.
Each ramp is advanced by the audio callback a chunk at a time and reports the gain at the
chunk's end; the mixer interpolates linearly inside the chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: At or below this level a gain is treated as silence (exactly 0.0).
SILENCE_DB = -90.0


def db_to_gain(db: float) -> float:
    """Amplitude factor for ``db`` (0 dB -> 1.0; at or below ``SILENCE_DB`` -> 0.0)."""
    if db <= SILENCE_DB:
        return 0.0
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    """Level in dB of an amplitude factor (silence -> ``SILENCE_DB``)."""
    if gain <= 0.0:
        return SILENCE_DB
    return max(SILENCE_DB, 20.0 * math.log10(gain))


def dbfs(samples: np.ndarray, floor_db: float = -math.inf) -> float:
    """RMS level of a block in dB relative to full scale, never below ``floor_db`` (an
    empty or silent block gives ``floor_db``). Integer samples are int16-scaled (÷ 32768);
    float samples are taken as [-1, 1]."""
    if samples.size == 0:
        return floor_db
    data = samples.astype(np.float64)
    if np.issubdtype(samples.dtype, np.integer):
        data /= 32768.0
    rms = math.sqrt(float(np.mean(data * data)))
    if rms <= 0.0:
        return floor_db
    return max(floor_db, 20.0 * math.log10(rms))


class LinearRamp:
    """A gain that glides to its target in a set time, linearly in amplitude.

    ``set_target`` may be called from any thread; ``advance`` only from the audio callback.
    A race between the two costs at most one chunk at the previous slope, never a jump.
    """

    def __init__(self, value: float, sample_rate: int) -> None:
        self.value = value
        self.target = value
        self._sample_rate = sample_rate
        self._step = 0.0

    def set_target(self, target: float, ramp_s: float) -> None:
        distance = abs(target - self.value)
        samples = max(1.0, ramp_s * self._sample_rate)
        self._step = distance / samples
        self.target = target

    def jump(self, value: float) -> None:
        """Set the value at once (only while nothing is audible, e.g. before a stream starts)."""
        self._step = 0.0
        self.target = value
        self.value = value

    @property
    def settled(self) -> bool:
        return self.value == self.target

    def advance(self, frames: int) -> float:
        value, target = self.value, self.target
        if value != target:
            move = self._step * frames
            if move <= 0.0:
                value = target
            elif value < target:
                value = min(target, value + move)
            else:
                value = max(target, value - move)
            self.value = value
        return value


@dataclass(frozen=True)
class DuckingOptions:
    """How music dips while the therapist speaks."""

    enabled: bool = True
    """Turn ducking on or off."""
    depth_db: float = 12.0
    """How far the music goes down while speech is heard, in dB (positive)."""
    attack_s: float = 0.05
    """Time to reach the full dip once speech starts."""
    release_s: float = 0.8
    """Time to come back to full level once speech ends."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.depth_db <= 60.0:
            raise ValueError("depth_db must be within 0..60")
        if self.attack_s <= 0.0 or self.release_s <= 0.0:
            raise ValueError("attack_s and release_s must be positive")


class Ducker:
    """The music's dip under speech: moves linearly in dB, so the attack and release times
    are exactly the configured ones whatever the depth."""

    def __init__(self, options: DuckingOptions, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self.options = options
        self.db = 0.0
        self.gain = 1.0

    def advance(self, speaking: bool, frames: int) -> float:
        options = self.options
        target = -options.depth_db if (speaking and options.enabled) else 0.0
        db = self.db
        if db != target:
            seconds = frames / self._sample_rate
            depth = max(options.depth_db, 1e-6)
            if db > target:
                db = max(target, db - depth * seconds / options.attack_s)
            else:
                db = min(target, db + depth * seconds / options.release_s)
            if abs(db - target) < 1e-6:
                db = target  # float residue must not cost a whole extra chunk
            self.db = db
            self.gain = db_to_gain(db)
        return self.gain


class RampScratch:
    """Preallocated buffers to apply a gain ramp in the audio callback without allocating.

    ``column=True`` shapes them ``(frames, 1)`` to scale interleaved ``(frames, channels)``
    blocks; otherwise they scale mono ``(frames,)`` blocks.
    """

    def __init__(self, frames: int, *, column: bool = False) -> None:
        shape = (frames, 1) if column else (frames,)
        self._index = np.arange(1, frames + 1, dtype=np.float32).reshape(shape)
        self._ramp = np.zeros(shape, dtype=np.float32)

    def apply(self, dst: np.ndarray, src: np.ndarray, g0: float, g1: float) -> None:
        """``dst = src ×`` a gain gliding linearly from ``g0`` (just before the first
        sample) to ``g1`` (at the last); ``dst`` may be ``src`` itself."""
        if g0 == g1:
            if g0 != 1.0 or dst is not src:
                np.multiply(src, g0, out=dst)
            return
        n = len(dst)
        ramp = self._ramp[:n]
        np.multiply(self._index[:n], (g1 - g0) / n, out=ramp)
        np.add(ramp, g0, out=ramp)
        np.multiply(src, ramp, out=dst)
