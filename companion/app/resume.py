"""The resume file: where this app was when it last ran (``resume.json`` in its data
folder), so a relaunch after a crash or a close mid-session goes back without asking."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

RESUME_FILE = "resume.json"


@dataclass(frozen=True)
class SavedPlace:
    """Where this app was when it last ran: enough to go back without asking anything."""

    invite: str
    server: str
    """The server it was joined through ("" in files written before it was kept)."""
    session_id: str = ""
    began: bool = False
    """The patient had started the session (a relaunch skips the preparation)."""


def saved_place(data_dir: Path) -> SavedPlace | None:
    """The session this app's data folder was in and has not left; None if none."""
    try:
        data = json.loads((data_dir / RESUME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("open"):
        return None
    invite, server = data.get("invite"), data.get("server", "")
    if not isinstance(invite, str) or not invite or not isinstance(server, str):
        return None
    session_id = data.get("session_id", "")
    return SavedPlace(
        invite, server, session_id if isinstance(session_id, str) else "", data.get("began") is True
    )


def write_place(data_dir: Path, place: SavedPlace | None) -> None:
    """Keep ``place`` (None: the session was left or ended), replacing the file whole so a
    crash mid-write cannot leave half of one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    body = {"open": False} if place is None else {"open": True, **asdict(place)}
    partial = data_dir / (RESUME_FILE + ".partial")
    partial.write_text(json.dumps(body), encoding="utf-8")
    partial.replace(data_dir / RESUME_FILE)
