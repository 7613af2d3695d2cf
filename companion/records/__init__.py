"""The local session record: append-only events, encrypted private notes, an audit trail.

Pure Python (no Qt). One SQLite file, ``records.sqlite3``, in the data folder chosen by
:func:`resolve_data_dir` (argument, then ``$COMPANION_DATA_DIR``, then
``platformdirs.user_data_dir("Companion", "Companion")``), in WAL mode with
``synchronous=FULL``: a write has reached the disk when its method returns.

- :class:`RecordStore` opens the file and holds the parts below; ``close()`` is idempotent.
- :class:`EventLog` (``store.events``): ``append()`` is idempotent on the event id; rows
  cannot be updated or deleted (SQLite triggers abort it). Payloads of kinds that carry a
  person's words are sealed to the store's key (:mod:`.sealed`); they read back in clear
  once the store is unlocked.
- :class:`PrivateNotes` (``store.unlock(provider)``): intentions, therapist notes and
  journal entries sealed with AES-256-GCM bound to their row; every read/write is audited.
- Key providers: :class:`KeyringKeyProvider` (OS keyring) or :class:`PassphraseKeyProvider`
  (scrypt); :func:`key_provider_for` chooses and raises :class:`KeyringUnavailable` when
  only a passphrase can protect the notes. Plain text is never stored.
- Therapist credentials: :func:`store_credential`, :func:`load_credential`,
  :func:`delete_credential` (OS keyring only).

All methods are synchronous and thread-safe (one connection per store, guarded by a
lock); the asyncio core calls them through an executor. Logs carry event kinds and ids
only, never note text or names.
"""

from .audit import AuditAction, AuditEntry, AuditLog
from .db import (
    DATA_DIR_ENV_VAR,
    DATABASE_FILENAME,
    LATEST_VERSION,
    MIGRATIONS,
    Database,
    Migration,
    migrate,
    resolve_data_dir,
)
from .errors import (
    InvalidRecord,
    KeyMismatch,
    KeyringUnavailable,
    NoteNotFound,
    PassphraseRequired,
    PassphraseTooShort,
    RecordsClosed,
    RecordsError,
    RecordsLocked,
    SchemaTooNew,
    TamperedRecord,
    WrongPassphrase,
)
from .events import Event, EventLog, JsonObject, JsonValue
from .export import EXPORT_FORMAT, EXPORT_VERSION, dumps_export
from .keys import (
    KeyMaterialStore,
    KeyProvider,
    KeyringKeyProvider,
    PassphraseKeyProvider,
    ScryptCost,
    delete_credential,
    key_provider_for,
    keyring_available,
    load_credential,
    store_credential,
)
from .private import NoteKind, PrivateNote, PrivateNotes
from .store import RecordStore

__all__ = [
    "DATABASE_FILENAME",
    "DATA_DIR_ENV_VAR",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "LATEST_VERSION",
    "MIGRATIONS",
    "AuditAction",
    "AuditEntry",
    "AuditLog",
    "Database",
    "Event",
    "EventLog",
    "InvalidRecord",
    "JsonObject",
    "JsonValue",
    "KeyMaterialStore",
    "KeyMismatch",
    "KeyProvider",
    "KeyringKeyProvider",
    "KeyringUnavailable",
    "Migration",
    "NoteKind",
    "NoteNotFound",
    "PassphraseKeyProvider",
    "PassphraseRequired",
    "PassphraseTooShort",
    "PrivateNote",
    "PrivateNotes",
    "RecordStore",
    "RecordsClosed",
    "RecordsError",
    "RecordsLocked",
    "SchemaTooNew",
    "ScryptCost",
    "TamperedRecord",
    "WrongPassphrase",
    "delete_credential",
    "dumps_export",
    "key_provider_for",
    "keyring_available",
    "load_credential",
    "migrate",
    "resolve_data_dir",
    "store_credential",
]
