"""The audio engine: one owner of the output device, mixing voice, music and chimes.

Start here: ``AudioEngine`` (engine.py). Music is a ``Playlist`` (playlist.py) played by
the engine's music worker; the therapist's voice is a ``VoiceSource`` from
``AudioEngine.add_voice()``; what plays now is a ``PlayerStatus`` (status.py).
"""

from companion.audio.chimes import ChimeKind
from companion.audio.device import DeviceOptions, OutputDeviceInfo
from companion.audio.engine import AudioEngine, EngineOptions
from companion.audio.gain import DuckingOptions
from companion.audio.player import PlayerOptions
from companion.audio.playlist import Playlist, RepeatMode, Track, bundled_playlist
from companion.audio.status import PlayerStatus
from companion.audio.voice import VoiceOptions, VoiceSource

__all__ = [
    "AudioEngine",
    "ChimeKind",
    "DeviceOptions",
    "DuckingOptions",
    "EngineOptions",
    "OutputDeviceInfo",
    "PlayerOptions",
    "PlayerStatus",
    "Playlist",
    "RepeatMode",
    "Track",
    "VoiceOptions",
    "VoiceSource",
    "bundled_playlist",
]
