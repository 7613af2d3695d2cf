"""Spoken lines for a patient whose eyes are closed: rendered ahead, played in the one mix.

A ``SpeechVoice`` turns text into samples (``EspeakVoice``: Debian's espeak-ng, cached as
WAV files so each line is rendered once per machine). ``Speaker.prepare`` renders every
line the session may need before it starts (off the event loop), so a dropped network
never finds the voice missing; ``Speaker.say`` then only scales a ready clip and queues it.

Level: each line is loudness-matched (BS.1770 integrated, ``loudness.py``) to the music as
the patient hears it, measured from the engine's music probe on this module's own thread;
with no music playing, lines sit at a quiet fixed level. Each line starts with a short
silence while the music dips, then fades in.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import shutil
import subprocess
import threading
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from companion.audio.engine import AudioEngine
from companion.audio.gain import db_to_gain
from companion.audio.loudness import RATE, integrated_lufs
from companion.audio.resample import Resampler
from companion.audio.ring import AudioRing

_log = logging.getLogger(__name__)


class SpeechVoice(Protocol):
    name: str
    """Recorded in the timeline with each line (what the patient heard)."""

    def render(self, text: str) -> np.ndarray:
        """Mono float32 at 48 kHz. Blocking: call it off the event loop."""
        ...


class VoiceUnavailable(RuntimeError):
    pass


class EspeakVoice:
    """espeak-ng (GPL-3.0 program; its output is not covered), cached in ``cache_dir``."""

    def __init__(self, cache_dir: Path, voice: str = "en-us", words_per_minute: int = 140) -> None:
        self.cache_dir = cache_dir
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.name = f"espeak-ng {voice}"

    def render(self, text: str) -> np.ndarray:
        key = hashlib.sha256(f"{self.voice}|{self.words_per_minute}|{text}".encode()).hexdigest()
        path = self.cache_dir / f"{key[:24]}.wav"
        if not path.exists():
            program = shutil.which("espeak-ng")
            if program is None:
                raise VoiceUnavailable("espeak-ng is not installed")
            wav = subprocess.run(
                [program, "-v", self.voice, "-s", str(self.words_per_minute), "--stdout", text],
                capture_output=True,
                check=True,
                timeout=30,
            ).stdout
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(_fix_wav_sizes(wav))
            partial.replace(path)  # a reader never sees half a file
        return read_wav(path.read_bytes())


def _fix_wav_sizes(wav: bytes) -> bytes:
    # espeak-ng writing to a pipe cannot go back to fill in the RIFF and data sizes.
    data_at = wav.find(b"data") + 8
    fixed = bytearray(wav)
    fixed[4:8] = (len(wav) - 8).to_bytes(4, "little")
    fixed[data_at - 4 : data_at] = (len(wav) - data_at).to_bytes(4, "little")
    return bytes(fixed)


def read_wav(data: bytes) -> np.ndarray:
    """A 16-bit PCM WAV as mono float32 at 48 kHz."""
    with wave.open(io.BytesIO(data)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    mono = np.asarray(pcm.reshape(-1, channels).mean(axis=1) / 32768.0, dtype=np.float32)
    if rate == RATE:
        return mono
    # The zeros flush the resampler's filter so the line's last syllable is not cut.
    padded = np.concatenate([mono, np.zeros(rate // 10, np.float32)])
    return np.asarray(Resampler(rate, RATE).process(padded), dtype=np.float32)


@dataclass(frozen=True)
class SpeechOptions:
    lead_s: float = 0.2
    """Silence before the first word while the music dips (the ducker's attack is shorter)."""
    fade_in_s: float = 0.12
    """Fade at the start of the words: no click, nothing sudden."""
    quiet_lufs: float = -30.0
    """Level of lines while no music is heard (paused or muted)."""
    music_window_s: float = 10.0
    """How much of the most recent music the level is matched against."""


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray
    """Mono float32, lead silence and fade included, peak-normalized to 1."""
    lufs: float
    """Integrated loudness of the words as played (the same on both channels)."""


class Speaker:
    """Owns the lines' clips and the music loudness follower for one engine."""

    def __init__(
        self, engine: AudioEngine, voice: SpeechVoice, options: SpeechOptions | None = None
    ) -> None:
        self.engine = engine
        self.voice = voice
        self.options = options or SpeechOptions()
        self._clips: dict[str, Clip] = {}
        self._voices: dict[str, str] = {}  # lines said in another voice than ``voice``
        self._window = np.zeros((int(self.options.music_window_s * RATE), 2), dtype=np.float32)
        self._filled = 0
        self._music_lufs = -math.inf  # of the music as decoded; the volume is added at say()
        self._probe = AudioRing(RATE, 2)
        engine.mixer.music_probe = self._probe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow_music, name="speech-meter", daemon=True)
        self._thread.start()

    def prepare(self, lines: Mapping[str, str]) -> list[str]:
        """Render every line not yet ready (blocking); returns the ids that failed."""
        missing = []
        for line_id, text in lines.items():
            if line_id in self._clips:
                continue
            try:
                clip = self._clip_measured_once(self.voice.render(text))
                # A recording that arrived meanwhile (``use_recording``) stays.
                self._clips.setdefault(line_id, clip)
            except (OSError, subprocess.SubprocessError, VoiceUnavailable, wave.Error) as exc:
                _log.warning("spoken line %s not rendered: %s", line_id, type(exc).__name__)
                missing.append(line_id)
        return missing

    def forget(self, line_id: str) -> None:
        """Drop a line (its words changed: ``prepare`` renders it again)."""
        self._clips.pop(line_id, None)
        self._voices.pop(line_id, None)

    def use_recording(self, line_id: str, words: np.ndarray, voice_name: str) -> None:
        """A person's own recording of a line (mono float32, 48 kHz) replaces the rendered
        one, faded in and loudness-matched the same way. Blocking (it is measured): call
        it off the event loop. A line already queued plays as it was."""
        self._clips[line_id] = self._clip(words)
        self._voices[line_id] = voice_name

    def voice_of(self, line_id: str) -> str:
        """The voice a line is said in (for the timeline)."""
        return self._voices.get(line_id, self.voice.name)

    def ready(self, line_id: str) -> bool:
        return line_id in self._clips

    def samples(self, line_id: str) -> np.ndarray | None:
        """A prepared line as rendered (before the loudness match), or ``None``."""
        clip = self._clips.get(line_id)
        return None if clip is None else clip.samples

    def loudness(self, line_id: str) -> float | None:
        """A prepared line's measured loudness (LUFS), or ``None``."""
        clip = self._clips.get(line_id)
        return None if clip is None else clip.lufs

    def say(self, line_id: str, cut_in: bool = False) -> bool:
        """Queue a prepared line at the music's loudness; ``False`` if it is not ready.
        ``cut_in``: a safety line (``Mixer.queue_speech``)."""
        clip = self._clips.get(line_id)
        if clip is None:
            return False
        target = self.music_lufs()
        if not math.isfinite(target):
            target = self.options.quiet_lufs
        gain = min(1.0, db_to_gain(target - clip.lufs))  # and never clipping
        self.engine.play_speech(clip.samples * np.float32(gain), cut_in)
        return True

    def music_lufs(self) -> float:
        """The music as the patient hears it now (volume and pause, not the duck)."""
        mixer = self.engine.mixer
        level = mixer.music_level.target * (0.0 if mixer.music_paused else 1.0)
        if level <= 0.0 or not math.isfinite(self._music_lufs):
            return -math.inf
        return self._music_lufs + 20 * math.log10(level)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self.engine.mixer.music_probe is self._probe:
            self.engine.mixer.music_probe = None

    def _clip_measured_once(self, words: np.ndarray) -> Clip:
        """``_clip``, its loudness kept beside a voice's cache (``cache_dir``): measuring
        every line took seconds on a busy computer, and a patient relaunched mid-session
        waited for it before the call could start again."""
        folder = getattr(self.voice, "cache_dir", None)
        if not isinstance(folder, Path):
            return self._clip(words)
        o = self.options
        digest = hashlib.sha256(words.tobytes())
        digest.update(f"{o.lead_s}|{o.fade_in_s}".encode())
        kept = folder / f"{digest.hexdigest()[:24]}.lufs"
        with contextlib.suppress(OSError, ValueError):
            lufs = float(kept.read_text())
            return self._clip(words, lufs)
        clip = self._clip(words)
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            kept.write_text(repr(clip.lufs))
        return clip

    def _clip(self, words: np.ndarray, lufs: float | None = None) -> Clip:
        o = self.options
        fade = min(len(words), int(o.fade_in_s * RATE))
        words = words.astype(np.float32, copy=True)
        words[:fade] *= np.sin(np.linspace(0.0, np.pi / 2, fade, dtype=np.float32)) ** 2
        peak = float(np.max(np.abs(words))) if len(words) else 0.0
        if peak > 0:
            words /= peak
        samples = np.concatenate([np.zeros(int(o.lead_s * RATE), np.float32), words])
        # Measured from the first word to the last: silence around them is not the line.
        heard = np.flatnonzero(np.abs(samples) > 1e-3)
        if lufs is None:
            spoken = samples[heard[0] : heard[-1] + 1] if len(heard) else samples
            lufs = integrated_lufs(np.repeat(spoken[:, None], 2, axis=1))
        return Clip(samples, lufs)

    def _follow_music(self) -> None:
        block = np.zeros((RATE // 4, 2), dtype=np.float32)
        next_measure = 0
        while not self._stop.wait(0.25):
            while (got := self._probe.read_into(block)) > 0:
                self._window = np.roll(self._window, -got, axis=0)
                self._window[-got:] = block[:got]
                self._filled = min(len(self._window), self._filled + got)
                next_measure -= got
            if next_measure <= 0 and self._filled >= RATE // 2:
                next_measure = RATE  # about once a second of music
                self._music_lufs = integrated_lufs(self._window[-self._filled :])
