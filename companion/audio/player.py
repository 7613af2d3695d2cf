"""The music worker: decodes (or renders) ahead of the callback into the music ring,
with equal-power crossfades between tracks and gapless joins otherwise.

All decoding, resampling, crossfading and file I/O happen on this one thread. Commands
arrive through a queue and take effect at the writing end of the ring, so what is already
buffered (at most ``PlayerOptions.ring_s``) plays out first and then fades across: a skip
is heard within ``ring_s`` plus the device latency, and never as a cut.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.audio.decoder import Decoder, UnsupportedTrack
from companion.audio.generative import SCALES, GenerativeMusic, GenerativeOptions
from companion.audio.playlist import Playlist, RepeatMode, Track
from companion.audio.ratelimit import RateLimitedLog
from companion.audio.ring import AudioRing

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayerOptions:
    """Music timing."""

    crossfade_s: float = 4.0
    """Equal-power crossfade between consecutive tracks; 0 = gapless, back to back."""
    skip_fade_s: float = 2.0
    """Crossfade when the listener or therapist skips (next, previous, new playlist)."""
    ring_s: float = 1.5
    """Music decoded ahead of the callback: the worker may stall this long without a gap
    (opening the next file on a busy 2-core machine took over 0.5 s), and a skip is heard
    this much later (pause and volume act in the mixer, at once)."""
    block_s: float = 0.05
    """Largest step the worker renders at once."""
    fallback_seed: int = 20_241_124
    """Seed of the endless music that plays when nothing in the playlist can."""


@dataclass(frozen=True)
class _Marker:
    ring_frame: int
    index: int
    start_frame: int
    title: str
    duration_s: float | None


class _Deck:
    """One playing track: a file decoder or a generative renderer."""

    def __init__(self, index: int, track: Track, sample_rate: int, start_s: float) -> None:
        self.index = index
        self.frames = int(start_s * sample_rate)
        self.sample_rate = sample_rate
        self._decoder: Decoder | None = None
        self._generator: GenerativeMusic | None = None
        if track.is_generative:
            seed = track.generative_seed
            scales = sorted(SCALES)
            self._generator = GenerativeMusic(
                GenerativeOptions(
                    seed=seed, scale=scales[seed % len(scales)], root_hz=98.0 + (seed % 5) * 6.5
                ),
                sample_rate,
            )
            self.title = track.display_title
            self.duration_s: float | None = None
        else:
            self._decoder = Decoder(Path(track.location), sample_rate)
            if start_s > 0:
                self._decoder.seek(start_s)
            self.title = track.title or self._decoder.title
            self.duration_s = self._decoder.duration_s
        self.ended = False
        self.filled = 0
        self.crossfade_tried = False

    @property
    def remaining_frames(self) -> int | None:
        if self.duration_s is None:
            return None
        return max(0, int(self.duration_s * self.sample_rate) - self.frames)

    def read(self, frames: int) -> np.ndarray:
        """Exactly ``frames`` frames; zeros after the end (``ended`` tells)."""
        if self._generator is not None:
            block = self._generator.render(frames)
        elif self._decoder is not None and not self.ended:
            block = self._decoder.read(frames)
        else:
            block = np.zeros((0, 2), dtype=np.float32)
        self.frames += len(block)
        self.filled = len(block)
        if len(block) < frames:
            self.ended = True
            block = np.concatenate([block, np.zeros((frames - len(block), 2), dtype=np.float32)])
        return block

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()


class MusicPlayer:
    """Owns the playlist and the worker thread. Public methods are thread-safe: they queue
    work for the worker. ``on_note`` and ``on_change`` are called from the worker thread."""

    def __init__(
        self,
        ring: AudioRing,
        sample_rate: int,
        options: PlayerOptions,
        on_note: Callable[[str], None],
        on_change: Callable[[], None],
    ) -> None:
        self.options = options
        self._ring = ring
        self._sample_rate = sample_rate
        self._on_note = on_note
        self._on_change = on_change
        self._playlist = Playlist()
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._a: _Deck | None = None
        self._b: _Deck | None = None
        self._xf_pos = 0
        self._xf_len = 0
        self._pending_skip: int | None = None
        self._markers: deque[_Marker] = deque(maxlen=16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warn = RateLimitedLog(_log, 30.0)
        self.crossfade_s = options.crossfade_s

    # -- control (any thread) -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="music-worker", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
        for deck in (self._a, self._b):
            if deck is not None:
                deck.close()
        self._a = self._b = None

    def load(self, playlist: Playlist, *, fade: bool = True) -> None:
        """Play ``playlist`` from its ``index`` and ``position_s``."""
        self._commands.put(lambda: self._load(playlist, fade))

    def next(self) -> None:
        self._commands.put(lambda: self._skip(self._playlist.next_index(automatic=False)))

    def previous(self) -> None:
        self._commands.put(lambda: self._skip(self._playlist.previous_index()))

    def jump_to(self, index: int) -> None:
        self._commands.put(lambda: self._skip(index))

    def set_shuffle(self, shuffle: bool) -> None:
        def apply() -> None:
            self._playlist.shuffle = shuffle
            self._on_change()

        self._commands.put(apply)

    def set_repeat(self, repeat: RepeatMode) -> None:
        def apply() -> None:
            self._playlist.repeat = repeat
            self._on_change()

        self._commands.put(apply)

    def add_tracks(self, tracks: list[Track]) -> None:
        def apply() -> None:
            self._playlist.tracks.extend(tracks)
            if self._a is None or self._a.index < 0:
                # Only the endless fallback was playing: move on to the new music.
                self._skip(len(self._playlist.tracks) - len(tracks))
            self._on_change()

        self._commands.put(apply)

    # -- status (any thread) ------------------------------------------------------------

    def now_playing(self) -> tuple[_Marker | None, float]:
        """What the listener hears now and where in it (seconds)."""
        read = self._ring.frames_read
        current: _Marker | None = None
        for marker in list(self._markers):
            if marker.ring_frame <= read:
                current = marker
        if current is None:
            return None, 0.0
        return current, (current.start_frame + read - current.ring_frame) / self._sample_rate

    def playlist_snapshot(self) -> Playlist:
        """A copy of the playlist with the heard track and position filled in."""
        marker, position = self.now_playing()
        playlist = self._playlist
        copy = Playlist(
            tracks=list(playlist.tracks),
            index=marker.index if marker is not None and marker.index >= 0 else playlist.index,
            position_s=position if marker is not None and marker.index >= 0 else 0.0,
            shuffle=playlist.shuffle,
            repeat=playlist.repeat,
            shuffle_seed=playlist.shuffle_seed,
            name=playlist.name,
        )
        if copy.tracks:
            copy.index = min(copy.index, len(copy.tracks) - 1)
        return copy

    @property
    def track_count(self) -> int:
        return len(self._playlist.tracks)

    # -- worker -------------------------------------------------------------------------

    def _run(self) -> None:
        block = max(256, int(self.options.block_s * self._sample_rate))
        while not self._stop.is_set():
            while True:
                try:
                    command = self._commands.get_nowait()
                except queue.Empty:
                    break
                command()
            free = self._ring.free
            if free >= block // 2:
                self._ring.write(self._produce(min(free, block)))
            else:
                # Polling, not an event: the callback must not signal (that takes a lock).
                time.sleep(0.01)

    def _produce(self, frames: int) -> np.ndarray:
        if self._a is None:
            self._fallback("Nothing to play yet: endless ambient music is playing.")
        a = self._a
        assert a is not None
        if self._b is None:
            self._maybe_start_crossfade(a)
        b = self._b
        if b is None:
            out = a.read(frames)
            if a.ended:
                # Gapless: the next track continues right where this one stopped.
                self._advance_after_end(out, a.filled, frames)
            return out
        return self._crossfade_block(a, b, frames)

    def _advance_after_end(self, out: np.ndarray, filled: int, frames: int) -> None:
        a = self._a
        nxt = self._playlist.next_index(automatic=True)
        self._open_next(nxt, fade=False, ring_offset=filled)
        if self._a is not a and self._a is not None and filled < frames:
            out[filled:] = self._a.read(frames - filled)

    def _maybe_start_crossfade(self, a: _Deck) -> None:
        remaining = a.remaining_frames
        xf = int(self.crossfade_s * self._sample_rate)
        if remaining is None or xf <= 0 or remaining > xf or a.crossfade_tried:
            return
        a.crossfade_tried = True  # once: a broken next track must not be retried every block
        nxt = self._playlist.next_index(automatic=True)
        if nxt is None:
            self._start_fallback_crossfade(remaining)
            return
        deck = self._open_deck(nxt, 0.0)
        if deck is None:
            return
        self._begin_crossfade(deck, max(1, remaining))

    def _begin_crossfade(self, deck: _Deck, length: int) -> None:
        self._b = deck
        self._xf_pos = 0
        self._xf_len = length
        self._playlist.index = deck.index
        self._playlist.position_s = 0.0
        self._mark(deck, self._ring.frames_written)

    def _crossfade_block(self, a: _Deck, b: _Deck, frames: int) -> np.ndarray:
        first = a.read(frames)
        second = b.read(frames)
        theta = (self._xf_pos + np.arange(1, frames + 1)) / self._xf_len
        np.clip(theta, 0.0, 1.0, out=theta)
        theta *= math.pi / 2
        # Equal power: cos^2 + sin^2 = 1, so uncorrelated music keeps its loudness.
        fade_out = np.cos(theta).astype(np.float32)[:, None]
        fade_in = np.sin(theta).astype(np.float32)[:, None]
        out: np.ndarray = first * fade_out + second * fade_in
        self._xf_pos += frames
        if self._xf_pos >= self._xf_len:
            a.close()
            self._a, self._b = b, None
            if self._pending_skip is not None:
                index, self._pending_skip = self._pending_skip, None
                self._skip(index)
        return out

    def _skip(self, index: int | None) -> None:
        if index is None:
            return
        if self._b is not None:
            # Already crossfading: the new choice follows once this fade completes.
            self._pending_skip = index
            return
        if self._a is None:
            self._open_next(index, fade=False, ring_offset=0)
            return
        deck = self._open_deck(index, 0.0)
        if deck is not None:
            self._begin_crossfade(deck, max(1, int(self.options.skip_fade_s * self._sample_rate)))
        self._on_change()

    def _load(self, playlist: Playlist, fade: bool) -> None:
        self._playlist = playlist
        self._pending_skip = None
        if not playlist.tracks:
            self._on_change()
            return
        index = playlist.index if 0 <= playlist.index < len(playlist.tracks) else 0
        if self._a is not None and fade and self._b is None:
            deck = self._open_deck(index, playlist.position_s)
            if deck is not None:
                self._begin_crossfade(
                    deck, max(1, int(self.options.skip_fade_s * self._sample_rate))
                )
        elif self._a is not None and self._b is not None:
            self._pending_skip = index
        else:
            self._open_next(index, fade=False, ring_offset=0, start_s=playlist.position_s)
        self._on_change()

    def _open_next(
        self, index: int | None, *, fade: bool, ring_offset: int, start_s: float = 0.0
    ) -> None:
        old = self._a
        deck = self._open_deck(index, start_s) if index is not None else None
        if deck is None:
            if index is None or not self._playlist.tracks:
                self._fallback(
                    "The playlist has ended: endless ambient music continues.", ring_offset
                )
            else:
                self._fallback(
                    "No track in the playlist could be played: endless ambient music continues.",
                    ring_offset,
                )
            return
        if old is not None:
            old.close()
        self._a = deck
        self._playlist.index = deck.index
        self._mark(deck, self._ring.frames_written + ring_offset)
        self._on_change()

    def _open_deck(self, index: int | None, start_s: float) -> _Deck | None:
        """Open ``index`` or, if it is broken, the following tracks (each tried once)."""
        tracks = self._playlist.tracks
        if index is None or not tracks:
            return None
        tried = 0
        order = self._playlist.order()
        at = order.index(index) if index in order else 0
        while tried < len(order):
            candidate = order[(at + tried) % len(order)]
            track = tracks[candidate]
            try:
                return _Deck(candidate, track, self._sample_rate, start_s if tried == 0 else 0.0)
            except UnsupportedTrack as exc:
                self._warn.warning("track skipped: %s", exc.reason)
                self._on_note(f"Skipped “{track.display_title}”: {exc.reason}.")
            tried += 1
        return None

    def _fallback(self, note: str, ring_offset: int = 0) -> None:
        old = self._a
        deck = _Deck(-1, Track.generative(self.options.fallback_seed), self._sample_rate, 0.0)
        if old is not None:
            old.close()
        self._a = deck
        self._on_note(note)
        self._mark(deck, self._ring.frames_written + ring_offset)
        self._on_change()

    def _start_fallback_crossfade(self, remaining: int) -> None:
        deck = _Deck(-1, Track.generative(self.options.fallback_seed), self._sample_rate, 0.0)
        self._on_note("The playlist has ended: endless ambient music continues.")
        self._b = deck
        self._xf_pos = 0
        self._xf_len = max(1, remaining)
        self._mark(deck, self._ring.frames_written)

    def _mark(self, deck: _Deck, ring_frame: int) -> None:
        self._markers.append(
            _Marker(ring_frame, deck.index, deck.frames, deck.title, deck.duration_s)
        )
