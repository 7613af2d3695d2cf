"""Private notes (intentions, therapist notes, integration journal), encrypted at rest.

Each note is sealed with AES-256-GCM under the store's data key, with a fresh random
96-bit nonce, and associated data naming the row (note id, session id, kind, created
time). Moving a ciphertext to another row, or editing any of those columns, makes
decryption fail with :class:`TamperedRecord`. Every read and write leaves an audit row.

Stored blob layout: ``b"\\x01" (format) || nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .audit import AuditAction, write_audit_row
from .db import Database
from .errors import InvalidRecord, NoteNotFound, TamperedRecord
from .events import JsonObject, format_wall_time, require_identifier
from .keys import DATA_KEY_BYTES

_log = logging.getLogger(__name__)

_BLOB_FORMAT = b"\x01"
_NONCE_BYTES = 12
MAX_NOTE_CHARACTERS = 1_000_000


class NoteKind(StrEnum):
    INTENTION = "intention"
    NOTE = "note"
    JOURNAL = "journal"
    VOICE = "voice"
    """A spoken line in the therapist's own voice (companion/app/voice.py): the audio,
    base64 in JSON, under a per-therapist pseudo-session id."""


@dataclass(frozen=True)
class PrivateNote:
    """A decrypted note. ``text`` is left out of ``repr`` so it never lands in a log."""

    note_id: str
    session_id: str
    kind: NoteKind
    created_at: float
    """Seconds since the Unix epoch, UTC."""
    text: str = field(repr=False)

    def to_json(self) -> JsonObject:
        return {
            "note_id": self.note_id,
            "session_id": self.session_id,
            "kind": self.kind.value,
            "created_at": format_wall_time(self.created_at),
            "created_at_epoch": self.created_at,
            "text": self.text,
        }


def associated_data(note_id: str, session_id: str, kind: NoteKind, created_at: float) -> bytes:
    """Binds a ciphertext to its row. JSON keeps the fields unambiguous whatever they hold;
    ``repr`` of the float is exact so the value read back from SQLite matches."""
    return json.dumps(
        ["companion.records.private-note.v1", note_id, session_id, kind.value, repr(created_at)]
    ).encode("utf-8")


def _note_kind(kind: NoteKind | str) -> NoteKind:
    try:
        return NoteKind(kind)
    except ValueError:
        raise InvalidRecord(
            "a private note kind is 'intention', 'note', 'journal' or 'voice'"
        ) from None


_COLUMNS = "note_id, session_id, kind, created_at, ciphertext"


class PrivateNotes:
    """Encrypted notes of one record store, unlocked with its data key.

    Thread-safe through the shared :class:`Database` lock. The key stays in memory only
    as long as this object does.
    """

    def __init__(self, database: Database, data_key: bytes) -> None:
        if len(data_key) != DATA_KEY_BYTES:
            raise ValueError("the data key must be 256 bits")
        self._database = database
        self._aead = AESGCM(data_key)

    def add(
        self,
        session_id: str,
        kind: NoteKind | str,
        text: str,
        *,
        note_id: str | None = None,
        created_at: float | None = None,
    ) -> PrivateNote:
        """Encrypt and store a note; returns once it (and its audit row) is committed."""
        note_id = str(uuid.uuid4()) if note_id is None else note_id
        require_identifier("note_id", note_id)
        require_identifier("session_id", session_id)
        note_kind = _note_kind(kind)
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARACTERS:
            raise InvalidRecord(f"a note is text of at most {MAX_NOTE_CHARACTERS} characters")
        try:
            plaintext = text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRecord("the note contains characters that cannot be stored") from None
        created = time.time() if created_at is None else float(created_at)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, plaintext, associated_data(note_id, session_id, note_kind, created)
        )
        with self._database.transaction() as connection:
            connection.execute(
                f"INSERT INTO private_notes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (note_id, session_id, note_kind.value, created, _BLOB_FORMAT + nonce + sealed),
            )
            write_audit_row(connection, AuditAction.WRITE, note_kind.value, note_id, session_id)
        _log.info("private note %s written: kind=%s", note_id, note_kind.value)
        return PrivateNote(note_id, session_id, note_kind, created, text)

    def get(self, note_id: str) -> PrivateNote:
        """Decrypt one note (audited as a read)."""
        notes = self._read("note_id = ?", (note_id,), AuditAction.READ)
        if not notes:
            raise NoteNotFound(note_id)
        return notes[0]

    def for_session(self, session_id: str, kind: NoteKind | str | None = None) -> list[PrivateNote]:
        """A session's notes, oldest first (each audited as a read)."""
        return self.read_session(session_id, kind, action=AuditAction.READ)

    def read_session(
        self, session_id: str, kind: NoteKind | str | None = None, *, action: AuditAction
    ) -> list[PrivateNote]:
        """Like :meth:`for_session` but recorded in the audit trail as ``action`` (the
        exporter uses :attr:`AuditAction.EXPORT`)."""
        if kind is None:
            return self._read("session_id = ?", (session_id,), action)
        return self._read(
            "session_id = ? AND kind = ?", (session_id, _note_kind(kind).value), action
        )

    def _read(
        self, where: str, parameters: tuple[str, ...], action: AuditAction
    ) -> list[PrivateNote]:
        with self._database.transaction() as connection:
            rows: list[tuple[Any, ...]] = connection.execute(
                f"SELECT {_COLUMNS} FROM private_notes WHERE {where} ORDER BY created_at, rowid",
                parameters,
            ).fetchall()
            # Decrypt before auditing: a tampered row raises and nothing was disclosed.
            notes = [self._open(row) for row in rows]
            _audit_all(connection, action, notes)
        for note in notes:
            _log.info("private note %s %s: kind=%s", note.note_id, action.value, note.kind.value)
        return notes

    def _open(self, row: tuple[Any, ...]) -> PrivateNote:
        note_id, session_id, kind, created_at, blob = row
        note_kind = NoteKind(kind)
        created = float(created_at)
        blob = bytes(blob)
        if blob[:1] != _BLOB_FORMAT or len(blob) < 1 + _NONCE_BYTES + 16:
            raise TamperedRecord(str(note_id))
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            plaintext = self._aead.decrypt(
                nonce,
                blob[1 + _NONCE_BYTES :],
                associated_data(str(note_id), str(session_id), note_kind, created),
            )
        except InvalidTag:
            raise TamperedRecord(str(note_id)) from None
        return PrivateNote(str(note_id), str(session_id), note_kind, created, plaintext.decode())


def _audit_all(
    connection: sqlite3.Connection,
    action: AuditAction,
    notes: Iterable[PrivateNote],
) -> None:
    for note in notes:
        write_audit_row(connection, action, note.kind.value, note.note_id, note.session_id)
