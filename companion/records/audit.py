"""The audit trail: who-touched-what for sensitive records, never the content itself.

Every read, write or export of a private note leaves one row (time, action, kind, record
id, session id). Rows are append-only, enforced by SQLite triggers like the event log.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .db import Database


class AuditAction(StrEnum):
    READ = "read"
    WRITE = "write"
    EXPORT = "export"


@dataclass(frozen=True)
class AuditEntry:
    sequence: int
    time: float
    """Seconds since the Unix epoch, UTC."""
    action: AuditAction
    kind: str
    """The record's kind (``intention``, ``note``, ``journal``) or ``session`` for an export."""
    record_id: str
    session_id: str


def write_audit_row(
    connection: sqlite3.Connection,
    action: AuditAction,
    kind: str,
    record_id: str,
    session_id: str,
) -> None:
    """Insert an audit row inside the caller's open transaction (so it commits with the
    write it describes, or not at all)."""
    connection.execute(
        "INSERT INTO audit (time, action, kind, record_id, session_id) VALUES (?, ?, ?, ?, ?)",
        (time.time(), action.value, kind, record_id, session_id),
    )


def _entry_from_row(row: tuple[Any, ...]) -> AuditEntry:
    sequence, when, action, kind, record_id, session_id = row
    return AuditEntry(
        int(sequence), float(when), AuditAction(action), str(kind), str(record_id), str(session_id)
    )


class AuditLog:
    """Read access to the audit trail (rows are written by the records that are audited)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def entries(self, session_id: str | None = None) -> list[AuditEntry]:
        query = "SELECT sequence, time, action, kind, record_id, session_id FROM audit"
        parameters: tuple[str, ...] = ()
        if session_id is not None:
            query += " WHERE session_id = ?"
            parameters = (session_id,)
        with self._database.reading() as connection:
            rows = connection.execute(query + " ORDER BY sequence", parameters).fetchall()
        return [_entry_from_row(row) for row in rows]
