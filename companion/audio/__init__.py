"""The audio engine: one owner of the output device, mixing voice, music and chimes.

Start here: ``AudioEngine`` (engine.py). Music is a ``Playlist`` (playlist.py) played by
the engine's music worker; the therapist's voice is a ``VoiceSource`` from
``AudioEngine.add_voice()``; the remote's commands and status are in commands.py.
"""

from companion.audio.chimes import ChimeKind
from companion.audio.commands import (
    ChoosePlaylist,
    MusicCommand,
    MusicStatus,
    Next,
    Pause,
    Play,
    Previous,
    SetVolumeDb,
    command_from_dict,
    command_to_dict,
)
from companion.audio.device import DeviceOptions, OutputDeviceInfo
from companion.audio.engine import AudioEngine, EngineOptions
from companion.audio.gain import DuckingOptions
from companion.audio.player import PlayerOptions
from companion.audio.playlist import Playlist, RepeatMode, Track, bundled_playlist
from companion.audio.voice import VoiceOptions, VoiceSource

__all__ = [
    "AudioEngine",
    "ChimeKind",
    "ChoosePlaylist",
    "DeviceOptions",
    "DuckingOptions",
    "EngineOptions",
    "MusicCommand",
    "MusicStatus",
    "Next",
    "OutputDeviceInfo",
    "Pause",
    "Play",
    "PlayerOptions",
    "Playlist",
    "Previous",
    "RepeatMode",
    "SetVolumeDb",
    "Track",
    "VoiceOptions",
    "VoiceSource",
    "bundled_playlist",
    "command_from_dict",
    "command_to_dict",
]
