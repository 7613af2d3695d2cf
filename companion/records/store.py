"""The record store: one database file holding the event log, private notes and audit trail.

The event log works from the moment the store is open, so the safety ladder can always
write. Private notes need :meth:`RecordStore.unlock` with a key provider first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from .audit import AuditLog
from .db import DATABASE_FILENAME, MIGRATIONS, Database, Migration, resolve_data_dir
from .errors import RecordsClosed, RecordsLocked
from .events import EventLog, JsonObject
from .export import build_session_export, write_export_file
from .keys import DatabaseKeyMaterial, KeyProvider
from .private import PrivateNotes
from .sealed import OLDER_PAYLOADS_SEALED, PayloadSealer

_log = logging.getLogger(__name__)


class RecordStore:
    """Everything Companion records locally about sessions.

    Thread safety: all parts share one SQLite connection guarded by a lock, so every
    method may be called from any thread (the asyncio core calls it through
    ``run_in_executor``); calls are serialized. Each write returns only after it is
    committed with ``synchronous=FULL``.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self.audit = AuditLog(database)
        self.key_material = DatabaseKeyMaterial(database)
        self.sealer = PayloadSealer(self.key_material)
        self.events = EventLog(database, self.sealer)
        if self.key_material.get(OLDER_PAYLOADS_SEALED) is None:
            self.events.seal_older_payloads()
            self.key_material.put(OLDER_PAYLOADS_SEALED, b"1")
        self._private_notes: PrivateNotes | None = None

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> RecordStore:
        """Open (creating and migrating as needed) ``records.sqlite3`` in ``data_dir``, or
        ``$COMPANION_DATA_DIR``, or the platform's user data folder."""
        path = resolve_data_dir(data_dir, env=env) / DATABASE_FILENAME
        return cls(Database(path, migrations))

    @property
    def path(self) -> Path:
        return self._database.path

    @property
    def schema_version(self) -> int:
        return self._database.version

    @property
    def closed(self) -> bool:
        return self._database.closed

    @property
    def unlocked(self) -> bool:
        return self._private_notes is not None

    def unlock(self, provider: KeyProvider) -> PrivateNotes:
        """Load (or, for a new store, create) the data key and open the private notes.

        Raises :class:`~companion.records.errors.WrongPassphrase`,
        :class:`~companion.records.errors.KeyringUnavailable`,
        :class:`~companion.records.errors.KeyMismatch` or
        :class:`~companion.records.errors.PassphraseRequired` as appropriate.
        """
        if self.closed:
            raise RecordsClosed()
        data_key = provider.data_key(self.key_material)
        self.sealer.unlock(data_key)
        self._private_notes = PrivateNotes(self._database, data_key)
        _log.info("private notes unlocked (%s)", provider.protection)
        return self._private_notes

    @property
    def private_notes(self) -> PrivateNotes:
        if self._private_notes is None:
            raise RecordsLocked()
        return self._private_notes

    def export_session(self, session_id: str, *, include_private: bool = False) -> JsonObject:
        """The session as a JSON-ready dict: events in order, plus decrypted private notes
        only when ``include_private`` is True (audited; needs :meth:`unlock` first)."""
        notes = self.private_notes if include_private else None
        return build_session_export(self._database, self.events, session_id, private_notes=notes)

    def export_session_to_file(
        self, session_id: str, destination: Path, *, include_private: bool = False
    ) -> Path:
        document = self.export_session(session_id, include_private=include_private)
        return write_export_file(document, destination)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a healthy file."""
        return self._database.integrity_check()

    def close(self) -> None:
        """Close the database and forget the data key; safe to call twice."""
        self._private_notes = None
        if not self._database.closed:
            self.sealer.lock()
        self._database.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
