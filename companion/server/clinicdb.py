"""The clinic's durable data on one server: therapist accounts, sessions, invites, audit.

SQLite in the server's data directory. Secrets are stored only as scrypt hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from companion.storage.sqlite import Database, Migration, append_only_triggers

# Never edit a released step: add a new one (the numbers are the files' user_version).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "therapists, sessions, invites and audit",
        (
            """
            CREATE TABLE therapists (
                therapist_id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                secret_salt BLOB NOT NULL,
                secret_hash BLOB NOT NULL,
                created_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE sessions (
                session_id TEXT PRIMARY KEY,
                therapist_id TEXT NOT NULL REFERENCES therapists(therapist_id),
                label TEXT NOT NULL,
                created_at REAL NOT NULL,
                ended INTEGER NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE invites (
                invite_id TEXT PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions(session_id),
                role TEXT NOT NULL,
                code TEXT NOT NULL UNIQUE,
                expires_at REAL NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL
            )
            """,
            """
            CREATE TABLE audit (
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                object_kind TEXT NOT NULL,
                object_id TEXT NOT NULL,
                session_id TEXT
            )
            """,
        ),
    ),
    # Relay only (issue 9): the session's members use TURN relay candidates alone.
    Migration(
        2,
        "relay-only sessions",
        ("ALTER TABLE sessions ADD COLUMN relay_only INTEGER NOT NULL DEFAULT 0",),
    ),
    # Issue 17: short codes are kept as keyed hashes; codes stored in plain text before
    # are retired (their invite links still work).
    Migration(
        3, "plain-text codes retired", ("UPDATE invites SET code = 'retired:' || invite_id",)
    ),
    # The audit trail is evidence: nothing rewrites or removes a row once written.
    Migration(4, "append-only audit trail", append_only_triggers("audit")),
)


@dataclass(frozen=True)
class Therapist:
    therapist_id: str
    name: str


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    therapist_id: str
    label: str
    created_at: float
    ended: bool = False
    relay_only: bool = False
    """Members use TURN relay candidates only, so their IP addresses stay hidden."""


@dataclass(frozen=True)
class InviteRecord:
    invite_id: str
    session_id: str
    role: str
    code_hash: str
    """The short code's keyed hash (``TokenSigner.keyed_hash``), never the code."""
    expires_at: float
    revoked: bool = False


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


class ClinicDB:
    """Thread-safe: one connection guarded by a lock (calls come from an executor)."""

    def __init__(self, path: Path | str) -> None:
        # Quietly: a node's stderr carries only what its operator must act on.
        self._db = Database(Path(path), MIGRATIONS, label="clinic", log_level=logging.DEBUG)
        if self._db.upgraded_from < self._db.version:
            # What a step replaced (plain-text codes) must not linger in the WAL.
            self._db.forget_replaced()

    def close(self) -> None:
        self._db.close()

    # -- therapists

    def add_therapist(self, name: str) -> tuple[Therapist, str]:
        """Create a therapist; returns the one-time secret (only its hash is kept)."""
        secret = secrets.token_urlsafe(18)
        salt = secrets.token_bytes(16)
        therapist = Therapist(secrets.token_urlsafe(9), name)
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT INTO therapists VALUES (?, ?, ?, ?, ?)",
                (therapist.therapist_id, name, salt, hash_secret(secret, salt), time.time()),
            )
            _audit(connection, "admin", "create", "therapist", therapist.therapist_id, None)
        return therapist, secret

    def check_therapist(self, name: str, secret: str) -> Therapist | None:
        with self._db.reading() as connection:
            row = connection.execute(
                "SELECT therapist_id, secret_salt, secret_hash FROM therapists WHERE name = ?",
                (name,),
            ).fetchone()
        # Hash even for unknown names so timing does not reveal which names exist.
        salt = row[1] if row else b"\0" * 16
        digest = hash_secret(secret, salt)
        if row and hmac.compare_digest(digest, row[2]):
            return Therapist(row[0], name)
        return None

    def therapist(self, therapist_id: str) -> Therapist | None:
        with self._db.reading() as connection:
            row = connection.execute(
                "SELECT therapist_id, name FROM therapists WHERE therapist_id = ?", (therapist_id,)
            ).fetchone()
        return Therapist(row[0], row[1]) if row else None

    # -- sessions and invites

    def save_session(self, session: SessionRecord) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.session_id,
                    session.therapist_id,
                    session.label,
                    session.created_at,
                    int(session.ended),
                    int(session.relay_only),
                ),
            )

    def load_sessions(self) -> list[SessionRecord]:
        with self._db.reading() as connection:
            rows = connection.execute(
                "SELECT session_id, therapist_id, label, created_at, ended, relay_only FROM sessions"
            ).fetchall()
        return [SessionRecord(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5])) for r in rows]

    def save_invite(self, invite: InviteRecord) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO invites VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    invite.invite_id,
                    invite.session_id,
                    invite.role,
                    invite.code_hash,
                    invite.expires_at,
                    int(invite.revoked),
                    time.time(),
                ),
            )

    def load_invites(self) -> list[InviteRecord]:
        with self._db.reading() as connection:
            rows = connection.execute(
                "SELECT invite_id, session_id, role, code, expires_at, revoked FROM invites"
            ).fetchall()
        return [InviteRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    # -- audit

    def audit(
        self, actor: str, action: str, object_kind: str, object_id: str, session_id: str | None
    ) -> None:
        with self._db.transaction() as connection:
            _audit(connection, actor, action, object_kind, object_id, session_id)

    def audit_rows(self) -> list[tuple[float, str, str, str, str, str | None]]:
        with self._db.reading() as connection:
            return list(connection.execute("SELECT * FROM audit ORDER BY rowid"))


def _audit(
    connection: sqlite3.Connection,
    actor: str,
    action: str,
    object_kind: str,
    object_id: str,
    session_id: str | None,
) -> None:
    connection.execute(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)",
        (time.time(), actor, action, object_kind, object_id, session_id),
    )
