"""The patient's music as the session sees it: the playlist kept in the patient's folder,
the therapist's remote (``MusicCommand``) carried out through one table, and what plays
reported back (``MusicStatus`` on the wire, paced).

The music itself plays locally in the audio engine; only commands and status travel.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from companion.audio import AudioEngine, Playlist, bundled_playlist
from companion.audio.playlist import RepeatMode, Track
from companion.audio.status import PlayerStatus
from companion.protocol.messages import MusicCommand, MusicStatus

#: The playlists the therapist's remote can choose (slugs on the wire).
PLAYLISTS: dict[str, str] = {
    "companion-ambient": "Companion ambient (bundled)",
    "endless": "Endless ambient (fresh music, never repeats)",
}
PLAYLIST_FILE = "playlist.json"
STATUS_EVERY_S = 15.0
"""The therapist's now-playing is refreshed this often even when nothing changed (the
position); any change of title, play/pause or volume goes at once."""

MusicAction: TypeAlias = Callable[[AudioEngine, MusicCommand], None]


def restored_playlist(data_dir: Path) -> Playlist:
    """The playlist the patient last had (its place in it too), else the bundled one."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((data_dir / PLAYLIST_FILE).read_text(encoding="utf-8"))
        return Playlist.from_dict(data)
    return bundled_playlist()


def save_playlist(engine: AudioEngine, data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        text = json.dumps(engine.playlist().to_dict())
        (data_dir / PLAYLIST_FILE).write_text(text, encoding="utf-8")


def choose_playlist(engine: AudioEngine, slug: str) -> None:
    """One of ``PLAYLISTS`` (anything else: the bundled one)."""
    if slug == "endless":
        seed = uuid.uuid4().int % 10_000
        tracks = [Track.generative(seed + i, f"Endless ambient {i + 1}") for i in range(4)]
        engine.load_playlist(Playlist(tracks, repeat=RepeatMode.ALL, name="endless"))
    else:
        engine.load_playlist(bundled_playlist())


def add_music(engine: AudioEngine, path: Path) -> None:
    """The patient's own music: a folder, or an M3U playlist."""
    if path.suffix.lower() in (".m3u", ".m3u8"):
        engine.add_m3u(path)
    else:
        engine.add_folder(path)


def _set_volume(engine: AudioEngine, command: MusicCommand) -> None:
    if command.volume_db is not None:
        engine.set_volume(command.volume_db)


def _choose(engine: AudioEngine, command: MusicCommand) -> None:
    if command.playlist:
        choose_playlist(engine, command.playlist)


REMOTE: dict[str, MusicAction] = {
    "play": lambda engine, _command: engine.play(),
    "pause": lambda engine, _command: engine.pause(),
    "next": lambda engine, _command: engine.next(),
    "previous": lambda engine, _command: engine.previous(),
    "set_volume": _set_volume,
    "choose_playlist": _choose,
}
"""What each of the remote's actions does on the patient's machine."""


def carry_out(engine: AudioEngine, command: MusicCommand) -> None:
    REMOTE[command.action](engine, command)


def wire_status(status: PlayerStatus) -> MusicStatus:
    """The player's status as the others see it (a muted player counts as not playing)."""
    return MusicStatus(
        kind="music.status",
        playing=status.playing and not status.muted,
        title=status.title[:120],
        position_s=max(0.0, status.position_s),
        duration_s=max(0.0, status.duration_s or 0.0),
        volume_db=max(-120.0, min(0.0, status.volume_db)),
    )


class StatusPace:
    """When the patient's now-playing goes on the wire: on every change, and now and then
    for the position. Sans-I/O: ``due`` takes ``now`` (monotonic seconds)."""

    def __init__(self, every_s: float = STATUS_EVERY_S) -> None:
        self.every_s = every_s
        self._last_key: tuple[str, bool, int] | None = None
        self._last_at = 0.0

    def due(self, status: MusicStatus, now: float) -> bool:
        key = (status.title, status.playing, round(status.volume_db))
        return key != self._last_key or now - self._last_at >= self.every_s

    def sent(self, status: MusicStatus, now: float) -> None:
        """Counted as sent only once it was (before ``start`` there is no one to send it
        to, and the first title must not wait for the next periodic status)."""
        self._last_key = (status.title, status.playing, round(status.volume_db))
        self._last_at = now
