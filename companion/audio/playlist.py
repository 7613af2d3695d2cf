"""The playlist: tracks, the current one, where in it, shuffle and repeat.

A plain value: the music player owns one and a session plan stores ``to_dict()``.
Tracks are files, or ``generative:<seed>`` for endless music rendered live.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from companion.audio.decoder import AUDIO_EXTENSIONS

GENERATIVE_PREFIX = "generative:"


class RepeatMode(StrEnum):
    OFF = "off"
    """Play through once; endless generative music follows, so the room never goes silent."""
    ALL = "all"
    """Start over after the last track."""
    ONE = "one"
    """Play the current track again and again (next/previous still move)."""


@dataclass(frozen=True)
class Track:
    location: str
    """A file path, or ``generative:<seed>`` for endless music."""
    title: str = ""
    """Shown to the patient and therapist; empty means "use the file's own title"."""

    @property
    def is_generative(self) -> bool:
        return self.location.startswith(GENERATIVE_PREFIX)

    @property
    def generative_seed(self) -> int:
        return int(self.location.removeprefix(GENERATIVE_PREFIX))

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        if self.is_generative:
            return "Endless ambient"
        return Path(self.location).stem

    @staticmethod
    def generative(seed: int, title: str = "") -> Track:
        return Track(f"{GENERATIVE_PREFIX}{seed}", title)


@dataclass
class Playlist:
    tracks: list[Track] = field(default_factory=list)
    index: int = 0
    """The current track (an index into ``tracks``, not into the shuffled order)."""
    position_s: float = 0.0
    """Where playback is (or resumes) within the current track."""
    shuffle: bool = False
    repeat: RepeatMode = RepeatMode.ALL
    shuffle_seed: int = 0
    """Seed of the shuffled order, so a restored playlist keeps the same order."""
    name: str = ""

    def order(self) -> list[int]:
        indices = list(range(len(self.tracks)))
        if self.shuffle:
            random.Random(self.shuffle_seed).shuffle(indices)
        return indices

    def next_index(self, *, automatic: bool) -> int | None:
        """The track after the current one; ``None`` when the list is done (repeat off).

        ``automatic`` is True when a track ended by itself (repeat-one then repeats it).
        """
        if not self.tracks:
            return None
        if automatic and self.repeat is RepeatMode.ONE:
            return self.index
        order = self.order()
        at = order.index(self.index) if self.index in order else -1
        if at + 1 < len(order):
            return order[at + 1]
        if self.repeat is RepeatMode.OFF and automatic:
            return None
        return order[0]

    def previous_index(self) -> int | None:
        if not self.tracks:
            return None
        order = self.order()
        at = order.index(self.index) if self.index in order else 0
        return order[at - 1] if at > 0 else order[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``from_dict`` restores it exactly."""
        return {
            "name": self.name,
            "tracks": [{"location": t.location, "title": t.title} for t in self.tracks],
            "index": self.index,
            "position_s": round(self.position_s, 3),
            "shuffle": self.shuffle,
            "shuffle_seed": self.shuffle_seed,
            "repeat": self.repeat.value,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Playlist:
        """Raises ``ValueError`` on a malformed dict."""
        try:
            tracks = [Track(str(t["location"]), str(t.get("title", ""))) for t in data["tracks"]]
            playlist = Playlist(
                tracks=tracks,
                index=int(data.get("index", 0)),
                position_s=max(0.0, float(data.get("position_s", 0.0))),
                shuffle=bool(data.get("shuffle", False)),
                repeat=RepeatMode(data.get("repeat", RepeatMode.ALL.value)),
                shuffle_seed=int(data.get("shuffle_seed", 0)),
                name=str(data.get("name", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed playlist: {type(exc).__name__}") from exc
        if tracks and not 0 <= playlist.index < len(tracks):
            raise ValueError("playlist index out of range")
        return playlist


def scan_folder(folder: Path) -> tuple[list[Track], list[str]]:
    """Audio files in ``folder`` (sorted, not recursive) and notes about what was left out."""
    tracks: list[Track] = []
    notes: list[str] = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return [], [f"Could not open the folder “{folder.name}”."]
    for path in entries:
        if path.suffix.lower() in AUDIO_EXTENSIONS:
            tracks.append(Track(str(path)))
        elif not path.name.startswith(".") and path.suffix.lower() not in _IGNORED:
            notes.append(f"Skipped “{path.name}”: not a supported audio format.")
    return tracks, notes


def read_m3u(path: Path) -> tuple[list[Track], list[str]]:
    """Tracks of an M3U/M3U8 playlist (relative paths are relative to the file)."""
    notes: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], [f"Could not open the playlist “{path.name}”."]
    tracks: list[Track] = []
    title = ""
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            title = line.partition(",")[2].strip()
            continue
        if line.startswith("#"):
            continue
        if line.startswith(GENERATIVE_PREFIX):
            tracks.append(Track(line, title))
        else:
            entry = Path(line)
            if not entry.is_absolute():
                entry = path.parent / entry
            if entry.suffix.lower() in AUDIO_EXTENSIONS:
                tracks.append(Track(str(entry), title))
            else:
                notes.append(f"Skipped “{entry.name}”: not a supported audio format.")
        title = ""
    return tracks, notes


# Files that commonly sit beside music and need no note.
_IGNORED = frozenset({".m3u", ".m3u8", ".txt", ".md", ".jpg", ".jpeg", ".png", ".nfo", ".cue"})


def bundled_music_folder() -> Path:
    """``assets/music`` of this checkout (rendered by ``tools/render_music.py``)."""
    return Path(__file__).resolve().parents[2] / "assets" / "music"


def bundled_playlist(folder: Path | None = None) -> Playlist:
    """The project's own calm music, shuffled and repeating; endless music if it is missing."""
    folder = folder or bundled_music_folder()
    tracks, _ = read_m3u(folder / "playlist.m3u")
    if not tracks:
        tracks = [Track.generative(1, "Endless ambient")]
    return Playlist(
        tracks=tracks, shuffle=True, repeat=RepeatMode.ALL, shuffle_seed=1, name="Companion ambient"
    )
