"""A session's record as JSON: its events in order and, only on request, its private notes.

Private notes are included only with ``include_private=True`` (which needs unlocked
notes); every exported note and the export itself are written to the audit trail.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

from .audit import AuditAction, write_audit_row
from .db import Database
from .events import EventLog, JsonObject, format_wall_time
from .private import PrivateNotes

_log = logging.getLogger(__name__)

EXPORT_FORMAT = "companion.session-record"
EXPORT_VERSION = 1
SESSION_EXPORT_KIND = "session"


def build_session_export(
    database: Database,
    events: EventLog,
    session_id: str,
    *,
    private_notes: PrivateNotes | None = None,
) -> JsonObject:
    """The export document; private notes are included exactly when ``private_notes`` is
    given (the store passes it only for ``include_private=True``)."""
    exported_at = time.time()
    document: JsonObject = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "session_id": session_id,
        "exported_at": format_wall_time(exported_at),
        "events": [event.to_json() for event in events.for_session(session_id)],
    }
    if private_notes is not None:
        notes = private_notes.read_session(session_id, action=AuditAction.EXPORT)
        document["private_notes"] = [note.to_json() for note in notes]
        with database.transaction() as connection:
            write_audit_row(
                connection, AuditAction.EXPORT, SESSION_EXPORT_KIND, session_id, session_id
            )
        _log.info("session %s exported with %d private notes", session_id, len(notes))
    else:
        _log.info("session %s exported without private notes", session_id)
    return document


def dumps_export(document: JsonObject) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)


def write_export_file(document: JsonObject, destination: Path) -> Path:
    """Write atomically (temp file + rename) and readable by this user only, since the
    document may hold private notes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".export-", dir=destination.parent)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps_export(document))
            handle.flush()
            os.fsync(handle.fileno())
        temp_path.chmod(0o600)
        temp_path.replace(destination)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return destination
