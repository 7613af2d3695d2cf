"""One SQLite layer for every file Companion keeps: its pragmas, its migrations, its lock.

Used by the patient's records (``companion.records``) and by the server's clinic data
(``companion.server.clinicdb``); it knows nothing of either's tables.

Thread safety: a :class:`Database` owns exactly one ``sqlite3`` connection, opened with
``check_same_thread=False`` and guarded by a re-entrant lock. Every statement runs inside
:meth:`Database.transaction` (writes, ``BEGIN IMMEDIATE``) or :meth:`Database.reading`
(reads), both of which hold the lock, so any thread may call in (e.g. through
``loop.run_in_executor``) and calls are serialized. Other processes coordinate through
SQLite's own file locking (``busy_timeout``).

Durability: WAL journal with ``synchronous=FULL`` so a commit is fsynced before
:meth:`Database.transaction` returns; a process killed afterwards cannot lose the row.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from companion.files import make_private

_log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000


class DatabaseError(Exception):
    """Base class for the errors of this layer."""


class DatabaseClosed(DatabaseError):
    """The database was closed; open it again to continue."""

    def __init__(self) -> None:
        super().__init__("The database is closed.")


class SchemaTooNew(DatabaseError):
    """The file was written by a newer Companion than this one."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"The database was created by a newer version of Companion (format {found}, "
            f"this version reads up to {supported}). Update Companion to open it."
        )


class NotOnLocalDisk(DatabaseError):
    """The folder does not allow SQLite's WAL journal (a network or odd file system)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__(
            f"The database needs a local disk; this folder does not allow it ({mode})."
        )


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
    """Triggers that refuse every UPDATE and DELETE on ``table`` (kept if already there)."""
    message = f"{table} are append-only"
    return (
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END",
    )


def schema_version(connection: sqlite3.Connection) -> int:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    return int(version)


def migrate(
    connection: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    label: str = "database",
    too_new: type[SchemaTooNew] = SchemaTooNew,
    log_level: int = logging.INFO,
) -> int:
    """Apply every step newer than the file's ``user_version``; returns the final version.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with the
    ``user_version`` bump, so a failing step leaves the file exactly at the previous version.
    The connection must be in autocommit mode (``isolation_level=None``). Statements run
    one by one (no executescript), which would COMMIT the step's transaction early.
    """
    versions = [step.version for step in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3… without gaps, got {versions}")
    current = schema_version(connection)
    supported = versions[-1] if versions else 0
    if current > supported:
        raise too_new(current, supported)
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
        _log.log(
            log_level,
            "%s schema %d -> %d (%s)",
            label,
            step.version - 1,
            step.version,
            step.description,
        )
    return schema_version(connection)


def connect(
    path: Path, *, not_on_local_disk: type[NotOnLocalDisk] = NotOnLocalDisk
) -> sqlite3.Connection:
    """Open ``path`` with the pragmas every file relies on (WAL, ``synchronous=FULL``,
    ``busy_timeout``, ``secure_delete``)."""
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
            raise not_on_local_disk(str(mode))
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        # Freed pages are zeroed so nothing lingers in the file after SQLite reuses space.
        connection.execute("PRAGMA secure_delete = ON")
    except BaseException:
        connection.close()
        raise
    return connection


class Database:
    """One migrated SQLite connection plus the lock that serializes access to it.

    Subclasses name their own error types (class attributes) so their callers keep
    catching the errors of their own package.
    """

    closed_error: ClassVar[type[DatabaseClosed]] = DatabaseClosed
    too_new_error: ClassVar[type[SchemaTooNew]] = SchemaTooNew
    not_on_local_disk_error: ClassVar[type[NotOnLocalDisk]] = NotOnLocalDisk

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        label: str = "database",
        log_level: int = logging.INFO,
    ) -> None:
        """``label`` and ``log_level`` are for the line each migration step logs."""
        self.path = path
        # Private to this user before SQLite opens it; -wal/-shm copy the file's mode.
        make_private(path)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = connect(
            path, not_on_local_disk=self.not_on_local_disk_error
        )
        try:
            self.upgraded_from = schema_version(self._connection)
            """The file's schema version before this opening migrated it."""
            self.version = migrate(
                self._connection,
                migrations,
                label=label,
                too_new=self.too_new_error,
                log_level=log_level,
            )
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
                raise self.closed_error()
            yield self._connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; it is committed (and fsynced) when the block exits."""
        with self._lock:
            if self._connection is None:
                raise self.closed_error()
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
