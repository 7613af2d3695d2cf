"""What the outer ladder keeps on disk (``escalation.sqlite3`` in the server's data dir):
each session's contacts (encrypted), open incidents, every message handed to a channel,
and the acknowledge links already used. A restarted server reads it back, so nothing is
sent twice nor forgotten.

Contacts are people's phone numbers and e-mail addresses: kept with AES-256-GCM under a key
derived from the server's signing key (a copy of the database alone reveals none), bound to
their session, and deleted with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from companion.files import make_private
from companion.server.outer_ladder import Incident

SendStatus = Literal["pending", "sent", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    sealed BLOB NOT NULL,
    set_by TEXT NOT NULL,
    set_at REAL NOT NULL,
    PRIMARY KEY (session_id, kind)
);
CREATE TABLE IF NOT EXISTS languages (
    session_id TEXT NOT NULL,
    member_id TEXT PRIMARY KEY,
    lang TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    opened_at REAL NOT NULL,
    conditions TEXT NOT NULL,
    rounds_sent INTEGER NOT NULL,
    closed TEXT,
    closed_at REAL
);
CREATE TABLE IF NOT EXISTS sends (
    incident_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    link_id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (incident_id, round, target)
);
CREATE TABLE IF NOT EXISTS used_links (
    link_id TEXT PRIMARY KEY,
    used_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class StoredContact:
    kind: str
    address: str
    set_by: str


@dataclass(frozen=True)
class Send:
    incident_id: str
    round: int
    target: str
    """``support:<kind>`` or ``oncall:<n>``: never the address itself."""
    status: SendStatus
    link_id: str


class EscalationStore:
    """Thread-safe (one connection, one lock); every write is committed before it returns."""

    def __init__(self, path: Path, master_secret: bytes) -> None:
        make_private(path)
        self._key = hmac.new(master_secret, b"companion/contacts", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA secure_delete=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- contacts

    def _aad(self, session_id: str, kind: str) -> bytes:
        return f"companion/contact/1\n{session_id}\n{kind}".encode()

    def set_contacts(self, session_id: str, contacts: dict[str, str], set_by: str) -> None:
        """Replace the session's contacts (kind -> address; an empty dict removes them)."""
        rows = []
        for kind, address in contacts.items():
            nonce = secrets.token_bytes(12)
            sealed = nonce + AESGCM(self._key).encrypt(
                nonce, address.encode(), self._aad(session_id, kind)
            )
            rows.append((session_id, kind, sealed, set_by, time.time()))
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM contacts WHERE session_id = ?", (session_id,))
            self._conn.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?)", rows)
            self._conn.execute("COMMIT")

    def contacts(self, session_id: str) -> list[StoredContact]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT kind, sealed, set_by FROM contacts WHERE session_id = ? ORDER BY kind",
                (session_id,),
            ).fetchall()
        out = []
        for kind, sealed, set_by in rows:
            address = AESGCM(self._key).decrypt(
                sealed[:12], sealed[12:], self._aad(session_id, kind)
            )
            out.append(StoredContact(kind, address.decode(), set_by))
        return out

    def forget_session(self, session_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM contacts WHERE session_id = ?", (session_id,))
            self._conn.execute("DELETE FROM languages WHERE session_id = ?", (session_id,))

    # -- languages: what each member last said they read (join, set_language)

    def set_language(self, session_id: str, member_id: str, lang: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO languages VALUES (?, ?, ?)", (session_id, member_id, lang)
            )

    def language_of(self, member_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT lang FROM languages WHERE member_id = ?", (member_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    # -- incidents

    def save_incident(self, incident: Incident) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    incident.incident_id,
                    incident.session_id,
                    incident.opened_at,
                    json.dumps(sorted(incident.conditions)),
                    incident.rounds_sent,
                    incident.closed,
                    incident.closed_at,
                ),
            )

    def open_incidents(self) -> list[Incident]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT incident_id, session_id, opened_at, conditions, rounds_sent"
                " FROM incidents WHERE closed IS NULL"
            ).fetchall()
        return [Incident(r[0], r[1], r[2], frozenset(json.loads(r[3])), r[4]) for r in rows]

    def incident(self, incident_id: str) -> Incident | None:
        with self._lock:
            r = self._conn.execute(
                "SELECT incident_id, session_id, opened_at, conditions, rounds_sent, closed,"
                " closed_at FROM incidents WHERE incident_id = ?",
                (incident_id,),
            ).fetchone()
        if r is None:
            return None
        return Incident(r[0], r[1], r[2], frozenset(json.loads(r[3])), r[4], r[5], r[6])

    # -- sends: claimed before the channel is called, confirmed after

    def claim_send(self, incident_id: str, round_: int, target: str) -> Send | None:
        """Record that this message is about to go out; None if it was claimed before
        (by an earlier run that got this far)."""
        link_id = secrets.token_urlsafe(12)
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO sends VALUES (?, ?, ?, 'pending', ?, ?)",
                (incident_id, round_, target, link_id, time.time()),
            )
        return Send(incident_id, round_, target, "pending", link_id) if cursor.rowcount else None

    def finish_send(self, send: Send, status: SendStatus) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE sends SET status = ?, at = ? WHERE incident_id = ? AND round = ?"
                " AND target = ?",
                (status, time.time(), send.incident_id, send.round, send.target),
            )

    def pending_sends(self) -> list[Send]:
        """Claimed and never confirmed: the server stopped while handing them over."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT incident_id, round, target, status, link_id FROM sends"
                " WHERE status = 'pending' ORDER BY at"
            ).fetchall()
        return [Send(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def sends(self, incident_id: str) -> list[Send]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT incident_id, round, target, status, link_id FROM sends"
                " WHERE incident_id = ? ORDER BY round, target",
                (incident_id,),
            ).fetchall()
        return [Send(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # -- acknowledge links

    def use_link(self, link_id: str) -> bool:
        """Mark the link used; False if it had been used already."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO used_links VALUES (?, ?)", (link_id, time.time())
            )
        return bool(cursor.rowcount)
