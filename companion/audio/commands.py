"""The music remote: commands the therapist's console sends over the call's control
channel, and the status it sees back. Plain dataclasses with dict round-trips."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Play:
    kind = "play"


@dataclass(frozen=True)
class Pause:
    kind = "pause"


@dataclass(frozen=True)
class Next:
    kind = "next"


@dataclass(frozen=True)
class Previous:
    kind = "previous"


@dataclass(frozen=True)
class SetVolumeDb:
    db: float
    """Music volume in dB (0 = full, down to -60)."""
    kind = "set_volume_db"

    def __post_init__(self) -> None:
        if not math.isfinite(self.db) or not -90.0 <= self.db <= 0.0:
            raise ValueError("db must be within -90..0")


@dataclass(frozen=True)
class ChoosePlaylist:
    playlist: dict[str, Any] = field(hash=False)
    """A ``Playlist.to_dict()``."""
    kind = "choose_playlist"


MusicCommand = Play | Pause | Next | Previous | SetVolumeDb | ChoosePlaylist


def command_to_dict(command: MusicCommand) -> dict[str, Any]:
    if isinstance(command, SetVolumeDb):
        return {"type": command.kind, "db": command.db}
    if isinstance(command, ChoosePlaylist):
        return {"type": command.kind, "playlist": command.playlist}
    return {"type": command.kind}


def command_from_dict(data: dict[str, Any]) -> MusicCommand:
    """Raises ``ValueError`` for anything not a valid command."""
    kind = data.get("type")
    simple: dict[str, MusicCommand] = {
        "play": Play(),
        "pause": Pause(),
        "next": Next(),
        "previous": Previous(),
    }
    if isinstance(kind, str) and kind in simple:
        return simple[kind]
    if kind == "set_volume_db":
        db = data.get("db")
        if not isinstance(db, int | float) or isinstance(db, bool):
            raise ValueError("set_volume_db needs a number")
        return SetVolumeDb(float(db))
    if kind == "choose_playlist":
        playlist = data.get("playlist")
        if not isinstance(playlist, dict):
            raise ValueError("choose_playlist needs a playlist object")
        return ChoosePlaylist(playlist)
    raise ValueError("unknown music command")


@dataclass(frozen=True)
class MusicStatus:
    """What plays now, for the therapist's console and the patient's music bar."""

    title: str
    track_index: int
    """Index into the playlist; -1 while the endless fallback plays."""
    track_count: int
    position_s: float
    duration_s: float | None
    """``None`` for endless music."""
    remaining_s: float | None
    volume_db: float
    muted: bool
    playing: bool
    shuffle: bool
    repeat: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "track_index": self.track_index,
            "track_count": self.track_count,
            "position_s": round(self.position_s, 1),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 1),
            "remaining_s": None if self.remaining_s is None else round(self.remaining_s, 1),
            "volume_db": round(self.volume_db, 1),
            "muted": self.muted,
            "playing": self.playing,
            "shuffle": self.shuffle,
            "repeat": self.repeat,
        }
