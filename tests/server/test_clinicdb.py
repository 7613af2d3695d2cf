"""The clinic's SQLite file on the shared storage layer: its audit trail is append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from companion.server.clinicdb import ClinicDB


def test_the_clinic_audit_trail_refuses_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    db = ClinicDB(path)
    try:
        db.add_therapist("dr")
        db.audit("t1", "create", "session", "s1", "s1")
        before = db.audit_rows()
    finally:
        db.close()
    assert len(before) == 2
    # Even someone with the file in hand, going round the server, cannot rewrite it.
    with sqlite3.connect(path) as raw:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("UPDATE audit SET actor = 'someone else'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("DELETE FROM audit")
    reopened = ClinicDB(path)
    try:
        assert reopened.audit_rows() == before
    finally:
        reopened.close()


def test_a_clinic_file_from_before_the_trigger_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite3"
    ClinicDB(path).close()
    with sqlite3.connect(path) as raw:  # as a server of format 3 left it
        raw.execute("DROP TRIGGER audit_no_update")
        raw.execute("DROP TRIGGER audit_no_delete")
        raw.execute("INSERT INTO audit VALUES (0, 'admin', 'create', 'therapist', 't1', NULL)")
        raw.execute("PRAGMA user_version = 3")
    ClinicDB(path).close()
    with (
        sqlite3.connect(path) as raw,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        raw.execute("DELETE FROM audit")
