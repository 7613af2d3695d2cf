"""What the music player is doing now, for the patient's music bar and (through
``companion.app.music``) the therapist's remote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlayerStatus:
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
