"""The audio engine: the one owner of the output device, mixing music, voices and chimes.

Threads: PortAudio's callback (runs ``Mixer.render``, real-time rules), ``music-worker``
(decodes ahead into the music ring) and ``audio-supervisor`` (device health, status,
cleanup). Signals are emitted on the asyncio loop that called ``start`` (or, without one,
on the supervisor thread), never from the callback.

Latency budget, end to end: music commands are heard after the music ring
(``PlayerOptions.ring_s``, 1.5 s) plus the device buffer (``DeviceOptions.latency_s``,
20 ms); the voice after the call's playout (``companion.call.playout``, its delay
following the network's jitter) plus the device buffer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec

import numpy as np

from companion.audio.chimes import ChimeKind, render_chime
from companion.audio.device import (
    CallbackStats,
    DeviceOptions,
    DeviceUnavailable,
    OutputDevice,
    OutputDeviceInfo,
    OutputProbe,
    OutputTap,
    list_output_devices,
)
from companion.audio.gain import SILENCE_DB, DuckingOptions, db_to_gain
from companion.audio.mixer import Mixer
from companion.audio.player import MusicPlayer, PlayerOptions
from companion.audio.playlist import Playlist, RepeatMode, read_m3u, scan_folder
from companion.audio.ring import AudioRing
from companion.audio.status import PlayerStatus
from companion.audio.voice import VoiceOptions, VoiceSource
from companion.events import Signal

_log = logging.getLogger(__name__)
P = ParamSpec("P")


@dataclass(frozen=True)
class EngineOptions:
    """Everything the engine can be told at construction."""

    sample_rate: int = 48_000
    """The mix rate; files and voices at other rates are converted on the way in."""
    device: DeviceOptions = field(default_factory=DeviceOptions)
    """Output device and its buffering."""
    player: PlayerOptions = field(default_factory=PlayerOptions)
    """Crossfades and the music ring."""
    ducking: DuckingOptions = field(default_factory=DuckingOptions)
    """The music's dip under the therapist's voice."""
    voice: VoiceOptions = field(default_factory=VoiceOptions)
    """Jitter buffer and voice-activity detection of incoming voices."""
    fade_in_s: float = 3.0
    """Fade of everything at start."""
    fade_out_s: float = 1.5
    """Fade of everything at close."""
    switch_fade_s: float = 0.05
    """Fade out before a device switch (the new device fades in over ``resume_fade_s``)."""
    resume_fade_s: float = 0.5
    """Fade in on a new or recovered device."""
    volume_ramp_s: float = 0.3
    """Glide of a volume change or mute."""
    pause_fade_s: float = 0.8
    """Fade of the music at pause and play."""
    chime_level_db: float = -12.0
    """Chime peak relative to the music volume the patient set (<= 0: never above it)."""
    status_interval_s: float = 1.0
    """How often ``music_status`` is emitted while nothing changes."""
    reopen_interval_s: float = 2.0
    """Retry period while no output device can be opened."""


class AudioEngine:
    """Start with ``start()``; finish with ``close()`` (safe twice)."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options = options or EngineOptions()
        sr = options.sample_rate
        self.music_status: Signal[[PlayerStatus]] = Signal()
        """What plays, about once a second and on every change."""
        self.note: Signal[[str]] = Signal()
        self._said_no_device = False
        """Plain-words notes for the UI: skipped files, playlist ended, device problems."""
        self.device_changed: Signal[[OutputDeviceInfo | None]] = Signal()
        """The device now playing (``None``: no output device at all, retrying)."""
        self.device_lost: Signal[[str]] = Signal()
        """The named device vanished; playback continues on the default device."""
        self.voice_activity: Signal[[bool]] = Signal()
        """Someone's voice started or stopped being heard."""
        self._ring = AudioRing(max(1, int(options.player.ring_s * sr)), 2)
        self.mixer = Mixer(sr, self._ring, options.ducking, min(0.0, options.chime_level_db))
        self._player = MusicPlayer(
            self._ring, sr, options.player, self._note_from_worker, self._mark_dirty
        )
        self.callback_stats = CallbackStats()
        self.output_probe: OutputProbe | None = None
        """Set before ``start`` to see every block written to the device (benchmarks)."""
        self._taps: tuple[OutputTap, ...] = ()  # replaced whole; the callback only reads it
        self._chimes = {kind: render_chime(kind, sr) for kind in ChimeKind}
        self._device: OutputDevice | None = None
        self._device_choice = options.device.device
        self._device_lock = threading.Lock()  # device open/close only; the callback never takes it
        # Writers of mixer.voices and of the output taps; the callback only reads them.
        self._voices_lock = threading.Lock()
        self._past_underflows = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._volume_db = 0.0
        self._muted = False
        self._playing = False
        self._dirty = True
        self._started = False
        self._closed = False
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._next_reopen = 0.0

    # -- lifecycle ----------------------------------------------------------------------

    def start(
        self,
        *,
        play: bool = True,
        loop: asyncio.AbstractEventLoop | None = None,
        driven: bool = False,
    ) -> None:
        """Open the device and fade in. Signals are delivered on ``loop``, else on the
        running loop of the calling thread, else on the engine's own threads.
        ``driven``: no device at all; the caller runs ``render`` as a device's callback
        would (benchmarks running faster than real time)."""
        if self._started or self._closed:
            return
        self._started = True
        try:
            self._loop = loop or asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._player.start()
        self._wait_for_music(1.0)
        if play:
            self.play()
        if driven:
            self.mixer.fade.jump(1.0)
            return
        with self._device_lock:
            self._open_device(self._device_choice, fade_s=self.options.fade_in_s)
        self._supervisor = threading.Thread(
            target=self._supervise, name="audio-supervisor", daemon=True
        )
        self._supervisor.start()

    def close(self) -> None:
        """Fade out, release the device and join the threads (blocks up to ``fade_out_s``)."""
        if self._closed:
            return
        self._closed = True
        with self._device_lock:
            if self._device is not None:
                self.mixer.fade.set_target(0.0, self.options.fade_out_s)
                self._wait_silent(self.options.fade_out_s + 0.5)
                self._close_device()
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5.0)
        self._player.close()

    async def aclose(self) -> None:
        """``close`` without blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    # -- music --------------------------------------------------------------------------

    def load_playlist(self, playlist: Playlist) -> None:
        """Play ``playlist`` from its index and position (crossfading from what plays)."""
        self._player.load(playlist)
        self._mark_dirty()

    def add_folder(self, folder: Path) -> None:
        tracks, notes = scan_folder(folder)
        for note in notes:
            self._emit(self.note.emit, note)
        if tracks:
            self._player.add_tracks(tracks)

    def add_m3u(self, path: Path) -> None:
        tracks, notes = read_m3u(path)
        for note in notes:
            self._emit(self.note.emit, note)
        if tracks:
            self._player.add_tracks(tracks)

    def playlist(self) -> Playlist:
        """The playlist as heard now, position included: ``to_dict()`` it into a plan."""
        return self._player.playlist_snapshot()

    def play(self) -> None:
        self._playing = True
        self.mixer.music_paused = False
        self.mixer.pause.set_target(1.0, self.options.pause_fade_s)
        self._mark_dirty()

    def pause(self) -> None:
        self._playing = False
        self.mixer.music_paused = True
        self.mixer.pause.set_target(0.0, self.options.pause_fade_s)
        self._mark_dirty()

    def next(self) -> None:
        self._player.next()

    def previous(self) -> None:
        self._player.previous()

    def set_shuffle(self, shuffle: bool) -> None:
        self._player.set_shuffle(shuffle)

    def set_repeat(self, repeat: RepeatMode) -> None:
        self._player.set_repeat(repeat)

    def set_crossfade(self, seconds: float) -> None:
        """Crossfade between tracks from now on; 0 = gapless."""
        self._player.crossfade_s = max(0.0, seconds)

    def status(self) -> PlayerStatus:
        marker, position = self._player.now_playing()
        snapshot = self._player.playlist_snapshot()
        duration = marker.duration_s if marker is not None else None
        return PlayerStatus(
            title=marker.title if marker is not None else "",
            track_index=marker.index if marker is not None else -1,
            track_count=self._player.track_count,
            position_s=position,
            duration_s=duration,
            remaining_s=None if duration is None else max(0.0, duration - position),
            volume_db=self._volume_db,
            muted=self._muted,
            playing=self._playing,
            shuffle=snapshot.shuffle,
            repeat=snapshot.repeat.value,
        )

    # -- levels -------------------------------------------------------------------------

    def set_volume(self, db: float) -> None:
        """The patient's music volume (music and chimes) in dB, 0 = full; glides."""
        self._volume_db = max(SILENCE_DB, min(0.0, db))
        self._apply_music_level()

    @property
    def volume_db(self) -> float:
        return self._volume_db

    def mute(self) -> None:
        """Silence music and chimes (the therapist's voice stays audible)."""
        self._muted = True
        self._apply_music_level()

    def unmute(self) -> None:
        self._muted = False
        self._apply_music_level()

    @property
    def muted(self) -> bool:
        return self._muted

    def set_ducking(self, enabled: bool, depth_db: float | None = None) -> None:
        current = self.mixer.ducker.options
        self.mixer.ducker.options = DuckingOptions(
            enabled,
            current.depth_db if depth_db is None else depth_db,
            current.attack_s,
            current.release_s,
        )

    # -- voices and chimes --------------------------------------------------------------

    def add_voice(self) -> VoiceSource:
        """A new voice input (fades in); feed it with ``push`` from one thread at a time
        (e.g. the loop that reads the call's audio track)."""
        voice = VoiceSource(
            self.options.sample_rate, self.options.voice, self.options.device.block_frames
        )
        voice.speaking.connect(lambda active: self._emit(self.voice_activity.emit, active))
        with self._voices_lock:
            self.mixer.voices = (*self.mixer.voices, voice)
        return voice

    def remove_voice(self, voice: VoiceSource) -> None:
        """Fade ``voice`` out; it leaves the mix once silent."""
        voice.fade_out()
        if voice.active:
            voice.set_activity(False)

    def play_chime(self, kind: ChimeKind) -> None:
        self.mixer.queue_chime(self._chimes[kind])

    def play_speech(self, line: np.ndarray, cut_in: bool = False) -> None:
        """Queue a spoken line (mono float32 at the mix rate, level and fade already set;
        see ``companion.audio.speech.Speaker``): part of the one mix, so the output taps
        (the echo canceller's reverse stream) hear it too, and the music ducks under it."""
        self.mixer.queue_speech(np.ascontiguousarray(line, dtype=np.float32), cut_in)

    # -- what is played -------------------------------------------------------------------

    def render(self, block: np.ndarray, underflow: bool = False) -> None:
        """The output callback: mix into ``block`` (frames, 2), then show it to the taps.
        ``underflow``: the device played silence before this block (PortAudio's flag)."""
        self.mixer.render(block)
        for tap in self._taps:
            if underflow:
                tap.discontinuity()
            tap.played(block)

    def add_output_tap(self, tap: OutputTap) -> None:
        """Let ``tap`` see everything played from now on (a call's echo canceller)."""
        device = self._device
        if device is not None:
            tap.set_output_latency(device.latency_s)
        with self._voices_lock:
            self._taps = (*self._taps, tap)

    def remove_output_tap(self, tap: OutputTap) -> None:
        with self._voices_lock:
            self._taps = tuple(t for t in self._taps if t is not tap)

    @property
    def output_taps(self) -> tuple[OutputTap, ...]:
        """The taps that see what is played, in the order they were added."""
        return self._taps

    # -- device -------------------------------------------------------------------------

    def list_devices(self) -> list[OutputDeviceInfo]:
        return list_output_devices()

    @property
    def device(self) -> OutputDeviceInfo | None:
        device = self._device
        return device.info if device is not None else None

    def set_device(self, device: int | str | None) -> None:
        """Move playback to ``device`` (``None`` = default) with a short fade across.
        Blocks for about ``switch_fade_s`` plus the open; call it off the event loop."""
        self._device_choice = device
        with self._device_lock:
            if self._closed:
                return
            if self._device is not None:
                self.mixer.fade.set_target(0.0, self.options.switch_fade_s)
                self._wait_silent(self.options.switch_fade_s + 0.3)
                self._close_device()
            self._open_device(device, fade_s=self.options.resume_fade_s)

    @property
    def underruns(self) -> int:
        """Blocks the device played short plus music blocks the worker had not ready."""
        device = self._device
        return (
            self._past_underflows
            + (device.underflows if device else 0)
            + self.mixer.music_underruns
        )

    # -- internals ----------------------------------------------------------------------

    def _open_device(self, device: int | str | None, fade_s: float) -> None:
        self.mixer.fade.jump(0.0)
        try:
            self._device = OutputDevice(
                self.render,
                self.options.sample_rate,
                self.options.device,
                device,
                self.callback_stats,
                self.output_probe,
            )
        except DeviceUnavailable as exc:
            if device is None:
                self._device = None
                self._next_reopen = time.monotonic() + self.options.reopen_interval_s
                # Said once, with what to do; the retries every few seconds stay quiet.
                if not self._said_no_device:
                    self._said_no_device = True
                    _log.warning(
                        "no output device (%s); retrying quietly until one appears", exc.reason
                    )
                    self._emit(self.note.emit, "No sound output is available; trying again.")
                    self._emit(self.device_changed.emit, None)
                return
            _log.warning("chosen output device unavailable, using the default: %s", exc.reason)
            self._emit(
                self.note.emit, "The chosen sound output is not available; using the default."
            )
            self._open_device(None, fade_s)
            return
        for tap in self._taps:
            tap.set_output_latency(self._device.latency_s)
            tap.discontinuity()
        self.mixer.fade.set_target(1.0, fade_s)
        self._said_no_device = False
        self._emit(self.device_changed.emit, self._device.info)

    def _close_device(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            self._past_underflows += device.underflows
            device.close()

    def _wait_silent(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.mixer.fade.value > 0.0 and time.monotonic() < deadline:
            time.sleep(0.005)
        # One more device period so the silent block has left the callback.
        time.sleep(self.options.device.block_frames / self.options.sample_rate)

    def _wait_for_music(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._ring.free > 0 and time.monotonic() < deadline:
            time.sleep(0.005)

    def _apply_music_level(self) -> None:
        target = 0.0 if self._muted else db_to_gain(self._volume_db)
        self.mixer.music_level.set_target(target, self.options.volume_ramp_s)
        self._mark_dirty()

    def _supervise(self) -> None:
        next_status = 0.0
        while not self._stop.wait(0.1):
            self._check_device()
            if any(v.finished for v in self.mixer.voices):
                with self._voices_lock:
                    self.mixer.voices = tuple(v for v in self.mixer.voices if not v.finished)
            now = time.monotonic()
            if self._dirty or now >= next_status:
                self._dirty = False
                next_status = now + self.options.status_interval_s
                self._emit(self.music_status.emit, self.status())

    def _check_device(self) -> None:
        with self._device_lock:
            if self._closed:
                return
            device = self._device
            if device is not None and device.lost:
                name = device.info.name
                _log.warning("output device lost; continuing on the default device")
                self._close_device()
                self._emit(self.device_lost.emit, name)
                self._emit(
                    self.note.emit,
                    "The sound output changed; music continues on the default output.",
                )
                self._open_device(None, fade_s=self.options.resume_fade_s)
            elif device is None and time.monotonic() >= self._next_reopen:
                self._open_device(self._device_choice, fade_s=self.options.resume_fade_s)

    def _note_from_worker(self, note: str) -> None:
        self._emit(self.note.emit, note)

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _emit(self, emit: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: emit(*args, **kwargs))
        else:
            emit(*args, **kwargs)
