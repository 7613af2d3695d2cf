"""The append-only event log: everything the session and the safety ladder did, in order.

Kinds are short machine names ("checkin", "alert.raised", "link.lost"). Payloads of
kinds that carry a person's words (the intention, the emergency card, messages, the plan,
vitals) are sealed to the store's key (:mod:`companion.records.sealed`) and read back
in clear only once the store is unlocked; everything else holds ids, states and numbers.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from .db import Database, append_only_triggers
from .errors import InvalidRecord
from .sealed import SEALED_KINDS, PayloadSealer, is_sealed, row_data

_log = logging.getLogger(__name__)

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

MAX_ID_LENGTH = 128
MAX_KIND_LENGTH = 64
_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*")


def require_identifier(name: str, value: object) -> str:
    """Ids are short printable strings (uuids in practice)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidRecord(f"{name} must be a string of 1 to {MAX_ID_LENGTH} characters")
    if not value.isprintable():
        raise InvalidRecord(f"{name} must contain printable characters only")
    return value


def require_event_kind(kind: object) -> str:
    if (
        not isinstance(kind, str)
        or len(kind) > MAX_KIND_LENGTH
        or not _KIND_PATTERN.fullmatch(kind)
    ):
        raise InvalidRecord(
            "an event kind is a short dotted lower-case name such as 'checkin' or 'link.lost'"
        )
    return kind


def encode_payload(payload: object) -> str:
    """Canonical JSON for a payload; refuses anything that would not come back unchanged."""
    if not isinstance(payload, dict):
        raise InvalidRecord("an event payload must be a JSON object (a dict)")
    try:
        encoded = json.dumps(payload, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"the event payload is not JSON: {type(exc).__name__}") from None
    # json.dumps quietly turns tuples into lists and int keys into strings; reject those so
    # what is read back is exactly what was appended.
    if json.loads(encoded) != payload:
        raise InvalidRecord("the event payload does not survive a JSON round trip unchanged")
    return encoded


def format_wall_time(wall_time: float) -> str:
    """UTC ISO 8601 with microseconds, e.g. ``2025-01-31T09:15:02.123456+00:00``."""
    return datetime.fromtimestamp(wall_time, UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Event:
    """One row of the event log."""

    sequence: int
    """Position in this database's log; strictly increasing in append order."""
    event_id: str
    """Globally unique id (a uuid4 string unless the caller chose one); appends are idempotent on it."""
    session_id: str
    kind: str
    wall_time: float
    """Seconds since the Unix epoch, UTC (``time.time()``)."""
    monotonic_time: float
    """``time.monotonic()`` of the appending process; only comparable within one run."""
    payload: JsonObject = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_identifier("event_id", self.event_id)
        require_identifier("session_id", self.session_id)
        require_event_kind(self.kind)
        encode_payload(self.payload)

    @property
    def wall_time_iso(self) -> str:
        return format_wall_time(self.wall_time)

    def to_json(self) -> JsonObject:
        return {
            "sequence": self.sequence,
            "event_id": self.event_id,
            "session_id": self.session_id,
            "kind": self.kind,
            "wall_time": self.wall_time_iso,
            "wall_time_epoch": self.wall_time,
            "monotonic_time": self.monotonic_time,
            "payload": self.payload,
        }


_COLUMNS = "sequence, event_id, session_id, kind, wall_time, monotonic_time, payload"


class EventLog:
    """Append and query events. Thread-safe through the shared :class:`Database` lock.

    Rows can never be changed or removed: SQLite triggers abort any UPDATE or DELETE.
    """

    def __init__(self, database: Database, sealer: PayloadSealer | None = None) -> None:
        self._database = database
        self._sealer = sealer

    def _event_from_row(self, row: tuple[Any, ...]) -> Event:
        sequence, event_id, session_id, kind, wall_time, monotonic_time, payload = row
        opened = json.loads(payload)
        if self._sealer is not None:
            aad = row_data(str(event_id), str(session_id), str(kind))
            opened = self._sealer.open(opened, aad, str(event_id))
        return Event(
            sequence=int(sequence),
            event_id=str(event_id),
            session_id=str(session_id),
            kind=str(kind),
            wall_time=float(wall_time),
            monotonic_time=float(monotonic_time),
            payload=opened,
        )

    def append(
        self,
        session_id: str,
        kind: str,
        payload: JsonObject | None = None,
        *,
        event_id: str | None = None,
        wall_time: float | None = None,
        monotonic_time: float | None = None,
    ) -> Event:
        """Append one event and return it once it is committed to disk.

        Appending an ``event_id`` that is already stored changes nothing and returns the
        stored row, so a retry after a timeout never writes the event twice.
        """
        event_id = str(uuid.uuid4()) if event_id is None else event_id
        require_identifier("event_id", event_id)
        require_identifier("session_id", session_id)
        require_event_kind(kind)
        encoded = encode_payload({} if payload is None else payload)
        if self._sealer is not None and kind in SEALED_KINDS:
            encoded = self._sealer.seal(encoded, row_data(event_id, session_id, kind))
        wall = time.time() if wall_time is None else float(wall_time)
        monotonic = time.monotonic() if monotonic_time is None else float(monotonic_time)
        with self._database.transaction() as connection:
            inserted = connection.execute(
                "INSERT INTO events (event_id, session_id, kind, wall_time, monotonic_time, payload)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                (event_id, session_id, kind, wall, monotonic, encoded),
            ).rowcount
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
        event = self._event_from_row(row)
        if inserted:
            _log.debug("event %s appended: kind=%s seq=%d", event_id, kind, event.sequence)
        else:
            _log.info("event %s was already recorded; append ignored", event_id)
        return event

    def seal_older_payloads(self) -> int:
        """Seal the words a version from before sealing stored in plain text (once per
        store: the rows are append-only, so the guard is lifted for this one rewrite).
        Returns how many rows were sealed."""
        if self._sealer is None:
            return 0
        kinds = sorted(SEALED_KINDS)
        marks = ", ".join("?" for _ in kinds)
        no_update, _ = append_only_triggers("events")
        with self._database.transaction() as connection:
            rows = connection.execute(
                f"SELECT event_id, session_id, kind, payload FROM events WHERE kind IN ({marks})",
                kinds,
            ).fetchall()
            plain = [row for row in rows if not is_sealed(json.loads(row[3]))]
            if plain:
                connection.execute("DROP TRIGGER events_no_update")
                for event_id, session_id, kind, payload in plain:
                    sealed = self._sealer.seal(payload, row_data(event_id, session_id, kind))
                    connection.execute(
                        "UPDATE events SET payload = ? WHERE event_id = ?", (sealed, event_id)
                    )
                connection.execute(no_update)
        if plain:
            self._database.forget_replaced()
            _log.info("sealed %d event payloads stored before sealing", len(plain))
        return len(plain)

    def get(self, event_id: str) -> Event | None:
        with self._database.reading() as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return None if row is None else self._event_from_row(row)

    def for_session(
        self, session_id: str, *, after_sequence: int = 0, limit: int | None = None
    ) -> list[Event]:
        """A session's events in append order, optionally only those after ``after_sequence``
        (pass the last ``Event.sequence`` you saw to read on from there)."""
        return self._select("session_id = ? AND sequence > ?", (session_id, after_sequence), limit)

    def since(
        self, after_sequence: int = 0, *, session_id: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events of all sessions (or one) appended after ``after_sequence``, in order."""
        if session_id is not None:
            return self.for_session(session_id, after_sequence=after_sequence, limit=limit)
        return self._select("sequence > ?", (after_sequence,), limit)

    def since_wall_time(self, session_id: str, wall_time: float) -> list[Event]:
        """A session's events stamped at or after ``wall_time`` (epoch seconds), in append
        order. The wall clock can jump; prefer sequences when reading on incrementally."""
        return self._select("session_id = ? AND wall_time >= ?", (session_id, wall_time), None)

    def session_ids(self) -> list[str]:
        with self._database.reading() as connection:
            rows = connection.execute(
                "SELECT session_id FROM events GROUP BY session_id ORDER BY MIN(sequence)"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _select(self, where: str, parameters: tuple[object, ...], limit: int | None) -> list[Event]:
        query = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY sequence"
        if limit is not None:
            query += " LIMIT ?"
            parameters = (*parameters, int(limit))
        with self._database.reading() as connection:
            rows: list[tuple[Any, ...]] = connection.execute(query, parameters).fetchall()
        return [self._event_from_row(row) for row in rows]


__all__ = ["Event", "EventLog", "JsonObject", "JsonValue"]
