"""Endless, seeded ambient music: slow pads over a soft drone, rendered block by block.

The same seed always yields the same music (for the bundled tracks, which
``tools/render_music.py`` renders with this module), and a fresh seed yields fresh music
(for the endless mode, rendered live on the music worker). Notes come from a pentatonic or
similar scale, so every overlap is consonant; each pad voice swells in and out on its own
slow cycle and picks its next note only while silent, so nothing ever starts abruptly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

#: Scales without semitone clashes, as semitone offsets from the root.
SCALES: dict[str, tuple[int, ...]] = {
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "suspended": (0, 2, 5, 7, 10),
    "lydian_hex": (0, 2, 4, 6, 7, 11),
}


@dataclass(frozen=True)
class GenerativeOptions:
    """One piece of generative music."""

    seed: int
    """Everything random comes from this seed."""
    root_hz: float = 110.0
    """The tonic of the drone (A2 by default)."""
    scale: str = "major_pentatonic"
    """A key of ``SCALES``."""
    voices: int = 6
    """How many pad voices overlap."""
    cycle_s: tuple[float, float] = (14.0, 34.0)
    """Shortest and longest swell of a pad voice, in seconds."""
    brightness: float = 0.25
    """Level of the upper partials relative to each fundamental (0 = pure sines)."""
    level_db: float = -20.0
    """Target RMS level of the output in dBFS."""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}")
        if self.voices < 1 or not 0.0 < self.cycle_s[0] <= self.cycle_s[1]:
            raise ValueError("need at least one voice and a valid cycle range")


class _PadVoice:
    def __init__(self, rng: random.Random, pan: float) -> None:
        self.freqs = np.zeros(4)
        self.amps = np.zeros(4)
        self.phases = np.array([rng.random() * 2 * math.pi for _ in range(4)])
        self.length = 1
        self.pos = 0
        self.left = math.cos((pan + 1) * math.pi / 4)
        self.right = math.sin((pan + 1) * math.pi / 4)


class GenerativeMusic:
    """Renders stereo float32 at ``sample_rate``; ``render`` is cheap enough for real time
    (a few dozen sine evaluations per sample block)."""

    def __init__(self, options: GenerativeOptions, sample_rate: int) -> None:
        self.options = options
        self.sample_rate = sample_rate
        self._rng = random.Random(options.seed)
        self._scale = SCALES[options.scale]
        self._time = 0
        self._section_end = 0
        self._weights = [1.0] * len(self._scale)
        self._register = 0
        self._voices = [
            _PadVoice(self._rng, -0.7 + 1.4 * i / max(1, options.voices - 1))
            for i in range(options.voices)
        ]
        for i, voice in enumerate(self._voices):
            # Stagger the first swells so the piece starts with one voice, not all at once.
            self._new_note(voice)
            voice.pos = -int(i * sample_rate * options.cycle_s[0] / options.voices)
        self._drone_phase = np.zeros(3)
        self._drone_freqs = np.array([options.root_hz / 2, options.root_hz, options.root_hz * 1.5])
        self._drone_amps = np.array([0.55, 0.35, 0.12])
        self._pad_gain = 1.1 / math.sqrt(options.voices)
        self._out_gain = 10 ** ((options.level_db + 12.0) / 20.0)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` stereo frames."""
        if self._time >= self._section_end:
            self._new_section()
        sr = self.sample_rate
        idx = np.arange(frames, dtype=np.float64)
        left = np.zeros(frames)
        right = np.zeros(frames)
        # Drone: root, octave below and fifth, swelling on a 70 s cycle, never silent.
        t = (self._time + idx) / sr
        swell = 0.75 + 0.25 * np.sin(2 * math.pi * t / 70.0)
        drone = np.zeros(frames)
        for k in range(len(self._drone_freqs)):
            step = 2 * math.pi * self._drone_freqs[k] / sr
            drone += self._drone_amps[k] * np.sin(self._drone_phase[k] + step * idx)
            self._drone_phase[k] = (self._drone_phase[k] + step * frames) % (2 * math.pi)
        drone *= swell * 0.35
        left += drone
        right += drone
        for voice in self._voices:
            if voice.pos >= voice.length:
                self._new_note(voice)
            pos = voice.pos + idx
            env = np.sin(np.pi * np.clip(pos, 0, voice.length) / voice.length) ** 2
            env[pos < 0] = 0.0
            sound = np.zeros(frames)
            for k in range(len(voice.freqs)):
                step = 2 * math.pi * voice.freqs[k] / sr
                sound += voice.amps[k] * np.sin(voice.phases[k] + step * idx)
                voice.phases[k] = (voice.phases[k] + step * frames) % (2 * math.pi)
            sound *= env * self._pad_gain
            left += sound * voice.left
            right += sound * voice.right
            voice.pos += frames
        self._time += frames
        out = np.empty((frames, 2), dtype=np.float32)
        # tanh: a soft ceiling, inaudible at these levels, that rules out clipping.
        out[:, 0] = np.tanh(left * self._out_gain)
        out[:, 1] = np.tanh(right * self._out_gain)
        return out

    def _new_section(self) -> None:
        rng = self._rng
        # A new section leans on other scale degrees and registers: slow harmonic drift.
        self._weights = [0.3 + rng.random() for _ in self._scale]
        self._weights[0] += 0.6
        self._register = rng.choice((0, 0, 1, -1))
        self._section_end = self._time + int(rng.uniform(40.0, 90.0) * self.sample_rate)

    def _new_note(self, voice: _PadVoice) -> None:
        rng = self._rng
        options = self.options
        degree = rng.choices(range(len(self._scale)), weights=self._weights)[0]
        octave = rng.choice((1, 1, 2, 2, 3)) + self._register
        octave = min(3, max(1, octave))
        base = options.root_hz * 2 ** (octave + self._scale[degree] / 12.0)
        detune = 2 ** (rng.uniform(3.0, 7.0) / 1200.0)
        voice.freqs = np.array([base, base * detune, base * 2.0, base * 3.0])
        bright = options.brightness * (0.6 + 0.8 * rng.random())
        voice.amps = np.array([0.6, 0.4, bright, bright * 0.3]) / (1 + octave * 0.35)
        voice.length = int(rng.uniform(*options.cycle_s) * self.sample_rate)
        # A short rest before the next swell keeps the texture breathing.
        voice.pos = -int(rng.uniform(0.0, 3.0) * self.sample_rate)
