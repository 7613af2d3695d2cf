"""The SQLite connection behind the records: where it lives, its pragmas, its migrations.

Thread safety: a :class:`Database` owns exactly one ``sqlite3`` connection, opened with
``check_same_thread=False`` and guarded by a re-entrant lock. Every statement runs inside
:meth:`Database.transaction` (writes, ``BEGIN IMMEDIATE``) or :meth:`Database.reading`
(reads), both of which hold the lock, so any thread may call in (e.g. through
``loop.run_in_executor``) and calls are serialized. Other processes coordinate through
SQLite's own file locking (``busy_timeout``).

Durability: WAL journal with ``synchronous=FULL`` so a commit is fsynced before
:meth:`transaction` returns; a process killed afterwards cannot lose the row.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from companion.files import make_private

from .errors import RecordsClosed, RecordsError, SchemaTooNew

_log = logging.getLogger(__name__)

APP_NAME = "Companion"
APP_AUTHOR = "Companion"
DATA_DIR_ENV_VAR = "COMPANION_DATA_DIR"
DATABASE_FILENAME = "records.sqlite3"
BUSY_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; its statements run in a single transaction."""

    version: int
    description: str
    statements: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError("migration versions start at 1")
        if not self.statements:
            raise ValueError("a migration needs at least one statement")


def append_only_triggers(table: str) -> tuple[str, str]:
    message = f"{table} are append-only"
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
    )


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


def schema_version(connection: sqlite3.Connection) -> int:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return int(version)


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every step newer than the file's ``user_version``; returns the final version.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the
    ``user_version`` bump, so a failing step leaves the file exactly at the previous version.
    The connection must be in autocommit mode (``isolation_level=None``).
    """
    versions = [step.version for step in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3… without gaps, got {versions}")
    current = schema_version(connection)
    supported = versions[-1] if versions else 0
    if current > supported:
        raise SchemaTooNew(current, supported)
    for step in migrations[current:]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in step.statements:
                connection.execute(statement)
            # PRAGMA does not take parameters; the version is an int we own.
            connection.execute(f"PRAGMA user_version = {int(step.version)}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        _log.info("records schema %d -> %d (%s)", step.version - 1, step.version, step.description)
    return schema_version(connection)


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` with the pragmas the records rely on (WAL, ``synchronous=FULL``)."""
    connection = sqlite3.connect(
        path,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=False,  # guarded by Database's lock instead
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RecordsError(
                f"The session record needs a local disk; this folder does not allow it ({mode})."
            )
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        # Freed pages are zeroed so nothing lingers in the file after SQLite reuses space.
        connection.execute("PRAGMA secure_delete = ON")
    except BaseException:
        connection.close()
        raise
    return connection


class Database:
    """One migrated SQLite connection plus the lock that serializes access to it."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        # Private to this user before SQLite opens it; -wal/-shm copy the file's mode.
        make_private(path)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = connect(path)
        try:
            self.version = migrate(self._connection, migrations)
        except BaseException:
            self._connection.close()
            self._connection = None
            raise

    @property
    def closed(self) -> bool:
        return self._connection is None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock for a read; each statement sees committed data."""
        with self._lock:
            if self._connection is None:
                raise RecordsClosed()
            yield self._connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; it is committed (and fsynced) when the block exits."""
        with self._lock:
            if self._connection is None:
                raise RecordsClosed()
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def forget_replaced(self) -> None:
        """Copy the WAL into the file and empty it, so rows just rewritten (with
        ``secure_delete`` zeroing their old cells) leave no old copy behind."""
        with self.reading() as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def integrity_check(self) -> str:
        with self.reading() as connection:
            return str(connection.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
