"""This person's own devices: the audio engine (music, chimes, the therapist's voice), the
camera and microphone with their echo canceller and noise suppressor, and the patient's
spoken lines. Opened before the session starts (the patient's device check: a test sound,
their own picture, the microphone's level), used by the call, closed last.

The patient's music bar and device check act here directly (never on the wire); the
therapist's remote reaches the music through the session (``music.carry_out``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import platformdirs
from aiortc.mediastreams import MediaStreamTrack

from companion.app import music
from companion.app.options import CoreOptions
from companion.app.roles import ROLES
from companion.app.spoken import SUPPORT_NAMED, spoken_lines
from companion.audio import AudioEngine, ChimeKind, EngineOptions, PlayerStatus
from companion.audio.processing import ProcessingSettings, VoiceProcessing
from companion.audio.speech import EspeakVoice, Speaker
from companion.call.devices import MicrophoneTrack
from companion.call.level import watch_level
from companion.call.media import LocalMedia
from companion.call.sinks import VideoSink
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.events import Signal
from companion.i18n import ESPEAK_VOICES, _, language
from companion.protocol.messages import Role

_log = logging.getLogger(__name__)
_VOICE_FILE = "voice.json"
"""The microphone's settings as the person last chose them."""
_MIC_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between tries to open the default microphone after the one in use was unplugged."""


def _voice_cache() -> Path:
    return Path(platformdirs.user_cache_dir("Companion", "Companion")) / "voice"


class Devices:
    """Made by the ``RoleCore``, which passes its ``notice`` signal (plain notes for the
    screen), its task spawner (so its ``close`` cancels ours too) and where the player's
    status goes (the session reports it to the therapist)."""

    def __init__(
        self,
        role: Role,
        options: CoreOptions,
        notice: Signal[[str]],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        on_player: Callable[[PlayerStatus], None],
    ) -> None:
        self.role = role
        self.traits = ROLES[role]
        self.options = options
        self.notice = notice
        self._spawn = spawn
        self._on_player = on_player
        self.audio: AudioEngine | None = None
        self.media: LocalMedia | None = None
        self.voice_processing: VoiceProcessing | None = None
        """The microphone's echo canceller and noise suppressor (a real microphone only)."""
        self.speaker: Speaker | None = None
        """The patient's spoken lines, ready before the session starts."""
        self.speech_ready: asyncio.Task[list[str]] | None = None
        self._support_name = ""
        self.closed = False
        self._self_view: VideoSink | None = None
        self._self_track: MediaStreamTrack | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    async def open(self) -> None:
        """Safe to call twice, and a no-op once closing (a window may ask for its devices
        just as it closes)."""
        if self.options.audio and self.audio is None and not self.closed:
            await self._start_audio()
        if self.media is None and self.traits.call and not self.closed:
            self.media = self._open_media()

    def detach(self) -> None:
        """Closing: no more device notes, and nothing opens any more."""
        self.closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def close_media(self) -> None:
        if self._self_track is not None:
            self._self_track.stop()
        if self.media is not None:
            await self.media.aclose()
        if self.voice_processing is not None:
            if self.audio is not None:
                self.audio.remove_output_tap(self.voice_processing)
            await asyncio.to_thread(self.voice_processing.close)

    async def close_sound(self) -> None:
        if self.speaker is not None:
            await asyncio.to_thread(self.speaker.close)
        if self.audio is not None:
            await asyncio.to_thread(self.save_playlist)
            await self.audio.aclose()

    def _open_media(self) -> LocalMedia:
        if self.options.fake_media:
            width, height, fps = self.options.video
            hue = (90, 170) if self.role == "patient" else (170, 110)
            tone = 440.0 if self.role == "patient" else 660.0
            return LocalMedia(
                ToneTrack(tone),
                TestPatternTrack(width, height, fps, hue=hue),
                "test pattern",  # i18n: not words (a fake camera's label)
            )
        from companion.call.devices import open_camera, open_microphone

        # One processing per call: the engine's final mix is its reverse stream, and every
        # microphone the call uses feeds it.
        processing = VoiceProcessing(self.voice_settings())
        if self.audio is not None:
            self.audio.add_output_tap(processing)
        processing.start()
        self.voice_processing = processing
        camera, microphone = open_camera(), open_microphone(processing=processing)
        if camera is None:
            self.notice.emit(_("No camera found — the call goes on with sound only."))
        if microphone is None:
            self.notice.emit(_("No microphone found — you can still hear and be seen."))
        else:
            self._watch_microphone(microphone)
        return LocalMedia(microphone, camera, "camera" if camera is not None else "")

    def _watch_microphone(self, microphone: MicrophoneTrack) -> None:
        self._unsubscribe.append(
            microphone.lost.connect(lambda: self._spawn(self._microphone_lost(microphone)))
        )

    async def _microphone_lost(self, lost: MicrophoneTrack) -> None:
        """The microphone was unplugged: the call sends silence meanwhile; the system's
        default microphone (through the same echo canceller) takes over when there is one."""
        from companion.call.devices import open_microphone

        loop = asyncio.get_running_loop()
        for wait_s in _MIC_RETRY_S:
            await asyncio.sleep(wait_s)
            if self.closed or self.media is None or self.media.audio is not lost:
                return
            microphone = await asyncio.to_thread(
                functools.partial(
                    open_microphone, None, loop=loop, processing=self.voice_processing
                )
            )
            if microphone is not None:
                if self.closed or self.media is None or self.media.audio is not lost:
                    microphone.stop()
                    return
                _log.info("microphone lost; the default microphone took over")
                self.media.replace_audio(microphone)
                self._watch_microphone(microphone)
                return
        self.notice.emit(
            _(
                "The microphone stopped working. Plug it in again (or another one) so you "
                "can be heard; everything else goes on."
            )
        )

    async def _start_audio(self) -> None:
        engine = AudioEngine(self.options.engine or _engine_options(self.traits.plays_music))
        self.audio = engine
        unplugged = _(
            "The headphones or speakers were unplugged; sound continues on the computer's "
            "own output."
        )
        self._unsubscribe += [
            engine.note.connect(self.notice.emit),
            engine.device_lost.connect(lambda _name: self.notice.emit(unplugged)),
        ]
        if self.traits.plays_music:
            engine.load_playlist(
                await asyncio.to_thread(music.restored_playlist, self.options.data_dir)
            )
            self._unsubscribe.append(engine.music_status.connect(self._on_player))
        # The engine delivers its signals on this loop (call_soon_threadsafe; under Qt the
        # apps' QtLoop makes that safe from any thread).
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(engine.start, play=self.traits.plays_music, loop=loop)
        if self.traits.plays_music:
            # The patient's language: the voice and the words (the cache key holds both).
            voice = EspeakVoice(_voice_cache(), ESPEAK_VOICES.get(language(), "en-us"))
            self.speaker = Speaker(engine, voice)
            self.speech_ready = self._spawn(asyncio.to_thread(self.speaker.prepare, spoken_lines()))

    def name_support_person(self, name: str) -> None:
        """The card names the support person: "<name> is on the way" is rendered for when
        they answer a call for help (the name is spoken and shown here, never logged)."""
        speaker, name = self.speaker, " ".join(name.split())[:80]
        if speaker is None or name == self._support_name:
            return  # the same card sent again for a late joiner: the line stays ready
        self._support_name = name
        speaker.forget(SUPPORT_NAMED)
        if name:
            lines = {SUPPORT_NAMED: _("{name} is on the way.").format(name=name)}
            self._spawn(asyncio.to_thread(speaker.prepare, lines))

    def save_playlist(self) -> None:
        if self.audio is not None and self.traits.plays_music:
            music.save_playlist(self.audio, self.options.data_dir)

    def choose_playlist(self, slug: str) -> None:
        """Patient's side of "choose a playlist" (the remote's, or the patient's own)."""
        if self.audio is not None:
            music.choose_playlist(self.audio, slug)

    def add_music(self, path: Path) -> None:
        """The patient's own music: a folder, or an M3U playlist. Files that cannot play
        are skipped with a plain note (``notice``), never a stop in the music."""
        if self.audio is not None:
            music.add_music(self.audio, path)

    @property
    def music_volume_db(self) -> float | None:
        return self.audio.volume_db if self.audio is not None else None

    def play_pause(self) -> bool | None:
        """Pause the music if it plays, else play it: whether it now plays (None while
        there is no sound yet)."""
        if self.audio is None:
            return None
        playing = self.audio.status().playing
        (self.audio.pause if playing else self.audio.play)()
        return not playing

    def next_track(self) -> None:
        if self.audio is not None:
            self.audio.next()

    def test_sound(self) -> bool:
        """The check-in chime, so the patient hears their headphones work; False while
        sound is not ready yet."""
        if self.audio is None:
            return False
        self.audio.play_chime(ChimeKind.CHECK_IN)
        return True

    @property
    def has_microphone(self) -> bool:
        return self.media is not None and self.media.audio is not None

    async def watch_mic_level(self, show: Callable[[float], None]) -> None:
        """Calls ``show(level)`` (0..1) a few times a second until cancelled; returns at
        once without a microphone."""
        if self.media is not None:
            await watch_level(self.media, show)

    def mic_processing(self) -> tuple[ProcessingSettings, bool] | None:
        """The microphone's processing as it is (settings, and whether it is really at
        work), or None without one (a test pattern and tone, or no microphone)."""
        processing = self.voice_processing
        return None if processing is None else (processing.settings, processing.active)

    def set_music_volume(self, db: float) -> None:
        if self.audio is not None:
            self.audio.set_volume(db)

    def set_music_muted(self, muted: bool) -> None:
        if self.audio is not None:
            (self.audio.mute if muted else self.audio.unmute)()

    def voice_settings(self) -> ProcessingSettings:
        """The microphone's settings: the command line's, else the person's last choice
        (kept in their folder), else the role's defaults."""
        if self.options.voice is not None:
            return self.options.voice
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads((self.options.data_dir / _VOICE_FILE).read_text(encoding="utf-8"))
            return ProcessingSettings(
                noise_suppression=bool(data["noise_suppression"]), auto_gain=bool(data["auto_gain"])
            )
        return ProcessingSettings.for_role(self.role)

    def set_voice_settings(self, settings: ProcessingSettings) -> None:
        """Noise suppression and automatic gain, from the device check: applied at once and
        kept for the next session."""
        if self.voice_processing is not None:
            self.voice_processing.update(settings)
        data = {"noise_suppression": settings.noise_suppression, "auto_gain": settings.auto_gain}
        with contextlib.suppress(OSError):
            self.options.data_dir.mkdir(parents=True, exist_ok=True)
            (self.options.data_dir / _VOICE_FILE).write_text(json.dumps(data), encoding="utf-8")

    def self_view(self) -> VideoSink | None:
        """Our own camera as the other side sees it (None without a camera)."""
        if self.closed:
            return None
        if self._self_view is None and self.media is not None and self.media.video is not None:
            self._self_view = VideoSink()
            self._self_track = self.media.relay.subscribe(self.media.video)
            self._spawn(self._self_view.consume(self._self_track))
        return self._self_view


def _engine_options(plays_music: bool) -> EngineOptions:
    if plays_music:
        return EngineOptions()
    # No music on these machines: the sounds are heard at a set level below full scale.
    return EngineOptions(chime_level_db=-6.0, fade_in_s=0.3)
