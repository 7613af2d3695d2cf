"""The mix the audio callback runs: music (ducked), voices, spoken lines, chimes, then the
master fade.

Real-time rules, measured rather than assumed: numpy releases the GIL for arrays over
500 elements, and taking it back behind a busy Python thread costs a whole switch
interval (5 ms). So the callback works in chunks of 240 stereo frames (480 values), on
preallocated buffers with ``out=``, and touches nothing that locks, logs or waits.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from companion.audio.gain import Ducker, DuckingOptions, LinearRamp, RampScratch, db_to_gain
from companion.audio.ring import AudioRing
from companion.audio.voice import VoiceSource

#: Frames per processing step; 2 x 240 = 480 values stays under numpy's 500 GIL threshold.
CHUNK_FRAMES = 240
SPEECH_CUT_S = 0.08
"""How long a line fades out when a safety line cuts in: long enough never to click."""


class Mixer:
    """Owns every gain stage. Control methods may be called from any thread; ``render``
    only from the audio callback."""

    def __init__(
        self,
        sample_rate: int,
        music_ring: AudioRing,
        ducking: DuckingOptions,
        chime_level_db: float,
    ) -> None:
        self.sample_rate = sample_rate
        self.music_ring = music_ring
        self.fade = LinearRamp(0.0, sample_rate)
        """Start/stop/device-switch fade of everything."""
        self.music_level = LinearRamp(1.0, sample_rate)
        """The patient's music volume, including mute."""
        self.pause = LinearRamp(0.0, sample_rate)
        """1 while music plays, 0 when paused (ramped)."""
        self.ducker = Ducker(ducking, sample_rate)
        self.voices: tuple[VoiceSource, ...] = ()
        """Replaced as a whole (an atomic rebind), never mutated."""
        self.music_paused = True
        self.music_underruns = 0
        self.chime_gain = min(1.0, db_to_gain(chime_level_db))
        self.music_probe: AudioRing | None = None
        """Gets the music as decoded (before volume and duck): the speaker's loudness meter."""
        self._chime_queue: deque[np.ndarray] = deque(maxlen=4)
        self._speech_queue: deque[np.ndarray] = deque(maxlen=8)
        self._urgent_queue: deque[np.ndarray] = deque(maxlen=4)
        self._speech: np.ndarray | None = None
        self._speech_urgent = False
        self._speech_pos = 0
        self._speech_gain = LinearRamp(1.0, sample_rate)
        self._speech_buf = np.zeros(CHUNK_FRAMES, dtype=np.float32)
        self._speech_ramp = RampScratch(CHUNK_FRAMES)
        self.speech_frames = 0
        """Frames of spoken lines mixed so far (measurement: where a line is in the output)."""
        self._chime: np.ndarray | None = None
        self._chime_pos = 0
        self._music = np.zeros((CHUNK_FRAMES, 2), dtype=np.float32)
        self._voice = np.zeros(CHUNK_FRAMES, dtype=np.float32)
        self._chime_buf = np.zeros((CHUNK_FRAMES, 2), dtype=np.float32)
        self._ramp = RampScratch(CHUNK_FRAMES, column=True)

    def queue_chime(self, sound: np.ndarray) -> None:
        """Play ``sound`` (stereo, peak <= 1) after any chime already sounding."""
        self._chime_queue.append(sound)

    def queue_speech(self, line: np.ndarray, cut_in: bool = False) -> None:
        """Play ``line`` (mono, level already set) after any line already sounding; the
        music is ducked under it as under a voice. ``cut_in``: a safety line, which does
        not wait behind the 15 s welcome or a prompt: the line sounding fades out over
        ``SPEECH_CUT_S`` (never a click), then this one plays, before any other waiting."""
        (self._urgent_queue if cut_in else self._speech_queue).append(line)

    @property
    def speech_pending(self) -> bool:
        return self._speech is not None or bool(self._speech_queue) or bool(self._urgent_queue)

    @property
    def speaking(self) -> bool:
        return self.speech_pending or any(v.active for v in self.voices)

    def render(self, out: np.ndarray) -> None:
        """Fill ``out`` (frames, 2) float32 completely."""
        frames = out.shape[0]
        pos = 0
        while pos < frames:
            n = min(CHUNK_FRAMES, frames - pos)
            self._render_chunk(out[pos : pos + n], n)
            pos += n

    def _render_chunk(self, out: np.ndarray, n: int) -> None:
        # Music: volume x pause x duck, each ramped; the ring is left alone once paused.
        level0 = self.music_level.value
        pause0 = self.pause.value
        duck0 = self.ducker.gain
        level1 = self.music_level.advance(n)
        pause1 = self.pause.advance(n)
        self._next_speech()
        speaking = self._speech is not None
        for voice in self.voices:
            if voice.active:
                speaking = True
        duck1 = self.ducker.advance(speaking, n)
        if self.music_paused and pause0 == 0.0 and pause1 == 0.0:
            out.fill(0.0)
        else:
            music = self._music[:n]
            got = self.music_ring.read_into(music)
            if got < n:
                music[got:].fill(0.0)
                self.music_underruns += 1
            probe = self.music_probe
            if probe is not None:
                probe.write(music)
            self._ramp.apply(out, music, level0 * pause0 * duck0, level1 * pause1 * duck1)
        for voice in self.voices:
            buf = self._voice[:n]
            got = voice.read_into(buf)
            if got:
                np.add(out[:got, 0], buf[:got], out=out[:got, 0])
                np.add(out[:got, 1], buf[:got], out=out[:got, 1])
        self._mix_speech(out, n)
        self._mix_chime(out, n, level0, level1)
        fade0 = self.fade.value
        fade1 = self.fade.advance(n)
        if fade0 != 1.0 or fade1 != 1.0:
            self._ramp.apply(out, out, fade0, fade1)
        np.clip(out, -1.0, 1.0, out=out)

    def _next_speech(self) -> None:
        """Safety lines first; one arriving while an ordinary line sounds fades it out."""
        if self._speech is not None:
            if self._urgent_queue and not self._speech_urgent and self._speech_gain.target:
                self._speech_gain.set_target(0.0, SPEECH_CUT_S)
            return
        self._speech_gain.jump(1.0)
        self._speech_urgent = bool(self._urgent_queue)
        if self._urgent_queue:
            self._speech = self._urgent_queue.popleft()
        elif self._speech_queue:
            self._speech = self._speech_queue.popleft()
        self._speech_pos = 0

    def _mix_speech(self, out: np.ndarray, n: int) -> None:
        line = self._speech
        if line is None:
            return
        start = self._speech_pos
        k = min(n, len(line) - start)
        part = self._speech_buf[:k]
        g0 = self._speech_gain.value
        g1 = self._speech_gain.advance(k)
        self._speech_ramp.apply(part, line[start : start + k], g0, g1)
        np.add(out[:k, 0], part, out=out[:k, 0])
        np.add(out[:k, 1], part, out=out[:k, 1])
        self._speech_pos = start + k
        self.speech_frames += k
        if self._speech_pos >= len(line) or g1 == 0.0:
            self._speech = None  # played out, or faded out for a safety line

    def _mix_chime(self, out: np.ndarray, n: int, level0: float, level1: float) -> None:
        chime = self._chime
        if chime is None:
            if not self._chime_queue:
                return
            chime = self._chime = self._chime_queue.popleft()
            self._chime_pos = 0
        start = self._chime_pos
        k = min(n, len(chime) - start)
        buf = self._chime_buf[:k]
        # Relative to the music volume the patient set (mute included): never above it.
        self._ramp.apply(
            buf, chime[start : start + k], self.chime_gain * level0, self.chime_gain * level1
        )
        np.add(out[:k], buf, out=out[:k])
        self._chime_pos = start + k
        if self._chime_pos >= len(chime):
            self._chime = None
