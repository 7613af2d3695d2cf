"""The records' SQLite file: where it lives and its migrations.

The connection, its pragmas, lock and migration runner are the shared layer in
:mod:`companion.storage.sqlite`; this module adds the records' tables and errors.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

from companion.storage import sqlite as storage
from companion.storage.sqlite import BUSY_TIMEOUT_MS, Migration, append_only_triggers

from .errors import NotOnLocalDisk, RecordsClosed, SchemaTooNew

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DATABASE_FILENAME",
    "DATA_DIR_ENV_VAR",
    "LATEST_VERSION",
    "MIGRATIONS",
    "Database",
    "Migration",
    "append_only_triggers",
    "migrate",
    "resolve_data_dir",
]

APP_NAME = "Companion"
APP_AUTHOR = "Companion"
DATA_DIR_ENV_VAR = "COMPANION_DATA_DIR"
DATABASE_FILENAME = "records.sqlite3"


# Never edit a released step: add a new one. Statements are listed one by one (no
# executescript) because executescript would COMMIT the migration's transaction early.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "append-only event log",
        (
            """
            CREATE TABLE events (
                sequence       INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id       TEXT NOT NULL UNIQUE,
                session_id     TEXT NOT NULL,
                kind           TEXT NOT NULL,
                wall_time      REAL NOT NULL,
                monotonic_time REAL NOT NULL,
                payload        TEXT NOT NULL CHECK (json_valid(payload))
            )
            """,
            "CREATE INDEX events_by_session ON events (session_id, sequence)",
            *append_only_triggers("events"),
        ),
    ),
    Migration(
        2,
        "encrypted private notes, key material and audit trail",
        (
            """
            CREATE TABLE key_material (
                name  TEXT PRIMARY KEY,
                value BLOB NOT NULL
            )
            """,
            """
            CREATE TABLE private_notes (
                note_id    TEXT PRIMARY KEY,
                session_id TEXT NOT NULL,
                kind       TEXT NOT NULL CHECK (kind IN ('intention', 'note', 'journal')),
                created_at REAL NOT NULL,
                ciphertext BLOB NOT NULL
            )
            """,
            "CREATE INDEX private_notes_by_session ON private_notes (session_id, created_at)",
            """
            CREATE TABLE audit (
                sequence   INTEGER PRIMARY KEY AUTOINCREMENT,
                time       REAL NOT NULL,
                action     TEXT NOT NULL CHECK (action IN ('read', 'write', 'export')),
                kind       TEXT NOT NULL,
                record_id  TEXT NOT NULL,
                session_id TEXT NOT NULL
            )
            """,
            "CREATE INDEX audit_by_session ON audit (session_id, sequence)",
            *append_only_triggers("audit"),
        ),
    ),
    Migration(
        3,
        "private notes may hold the therapist's recorded voice lines",
        (
            # SQLite cannot change a CHECK in place: the table is made again, rows kept.
            """
            CREATE TABLE private_notes_v3 (
                note_id    TEXT PRIMARY KEY,
                session_id TEXT NOT NULL,
                kind       TEXT NOT NULL
                           CHECK (kind IN ('intention', 'note', 'journal', 'voice')),
                created_at REAL NOT NULL,
                ciphertext BLOB NOT NULL
            )
            """,
            "INSERT INTO private_notes_v3 SELECT * FROM private_notes",
            "DROP TABLE private_notes",
            "ALTER TABLE private_notes_v3 RENAME TO private_notes",
            "CREATE INDEX private_notes_by_session ON private_notes (session_id, created_at)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Where the records live: ``data_dir`` if given, else ``$COMPANION_DATA_DIR``, else the
    platform's user data folder (``platformdirs.user_data_dir("Companion", "Companion")``)."""
    if data_dir is not None:
        return Path(data_dir)
    environment = os.environ if env is None else env
    from_env = environment.get(DATA_DIR_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env)
    return Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the records' steps newer than the file's ``user_version`` (see
    :func:`companion.storage.sqlite.migrate`); returns the final version."""
    return storage.migrate(connection, migrations, label="records", too_new=SchemaTooNew)


class Database(storage.Database):
    """The records' migrated connection; raises the records' own errors."""

    closed_error = RecordsClosed
    too_new_error = SchemaTooNew
    not_on_local_disk_error = NotOnLocalDisk

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        super().__init__(path, migrations, label="records")
