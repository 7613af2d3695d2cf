"""Issue 17, at rest: after a whole session driven through the three app cores, none of
the words typed in it can be found in any file the apps or the server wrote (SQLite files
with their WAL, JSON, logs), byte for byte; every file is 0600 and every folder 0700."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from companion.cli import main
from companion.protocol.messages import EmergencyCard, SessionPlan
from companion.records import PassphraseKeyProvider, RecordStore, ScryptCost, TamperedRecord
from companion.records.private import NoteKind
from companion.server.app import ServerConfig, SignalingServer
from companion.server.clinicdb import ClinicDB, SessionRecord
from tests.app.conftest import CoreClinic
from tests.app.test_core import three
from tests.waiting import until

# What the people typed. Distinctive, so a hit can only be a leak.
WORDS = {
    "intention": "Lanternmoth intention to forgive my brother",
    "patient_name": "Zephyrine Okonkwo-Vale",
    "address": "17 Quillfeather Lane, Apt 3",
    "medications": "Brimstonex 40 mg nightly",
    "support_phone": "+44 7700 900417",
    "message": "Marigoldpath: please bring her a blanket",
    "instructions": "Sunderwick: call Dr Ashgrove if she vomits",
    "journal": "Tidewhistle journal: I saw my grandmother",
    "note": "Copperfen note: patient tearful at 40 min",
}
CHEAP = ScryptCost(n=2**10)


@pytest.fixture
def private_umask() -> Iterator[None]:
    """As every entry point does (companion.cli.main): files 0600, folders 0700."""
    before = os.umask(0o077)
    yield
    os.umask(before)


@pytest.fixture
async def core_clinic(tmp_path: Path, private_umask: None) -> AsyncIterator[CoreClinic]:
    async with SignalingServer(ServerConfig(data_dir=tmp_path / "server", port=0)) as server:
        _, secret = server.db.add_therapist("dr-test")
        yield CoreClinic(server, secret, tmp_path)


def written(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def leaks(folder: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every needle found in any file, as UTF-8 or UTF-16 bytes."""
    found = []
    for path in written(folder):
        data = path.read_bytes()
        for needle in needles:
            forms = (needle.encode(), needle.encode("utf-16-le"), needle.encode("utf-16-be"))
            if any(form in data for form in forms):
                found.append((str(path.relative_to(folder)), needle))
    return found


def loose_modes(folder: Path) -> list[str]:
    """Files not 0600 or folders not 0700 (anything group or others may touch)."""
    loose = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(folder.parent)} {mode:o}")
    return loose


async def test_a_whole_session_leaves_no_typed_word_on_disk(
    core_clinic: CoreClinic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    therapist, patient, support, codes = await three(core_clinic)
    code = codes["patient"]
    cores = (patient, support, therapist)
    try:
        await until(lambda: support.facts.home_link == "connected")
        # The patient's preparation: the intention and the emergency card, shared.
        await patient.share_intention(WORDS["intention"])
        card = EmergencyCard(
            kind="card",
            patient_name=WORDS["patient_name"],
            address=WORDS["address"],
            medications=WORDS["medications"],
            support_phone=WORDS["support_phone"],
            emergency_number="112",
        )
        await patient.share_card(card)
        plan = SessionPlan(kind="plan", dose_at=time.time(), instructions=WORDS["instructions"])
        await therapist.set_plan(plan)
        await therapist.send_message("support", WORDS["message"])
        await support.record_vitals(187, 113, 97)
        await until(lambda: support.facts.card == card and support.facts.plan == plan)
        await until(lambda: therapist.facts.intention == WORDS["intention"])
        await until(lambda: patient.facts.plan == plan)
        # Private notes and the journal (already encrypted before issue 17).
        for core, kind, words in (
            (patient, NoteKind.JOURNAL, WORDS["journal"]),
            (therapist, NoteKind.NOTE, WORDS["note"]),
        ):
            assert core.records is not None
            await asyncio.to_thread(
                core.records.unlock, PassphraseKeyProvider("a long phrase", CHEAP)
            )
            await asyncio.to_thread(core.records.private_notes.add, core.session_id, kind, words)
        await asyncio.sleep(0.5)  # the record writers catch up
        needles = list(WORDS.values())
        # While the apps are open: the records' WAL holds the newest pages.
        assert leaks(core_clinic.folder, needles) == []
    finally:
        for core in cores:
            await core.close()
    await core_clinic.server.stop()
    assert leaks(core_clinic.folder, list(WORDS.values())) == []
    # The server keeps no short code (the patient's app keeps its invite in resume.json,
    # private to its user, to take its place back after a crash).
    assert leaks(core_clinic.folder / "server", [code, code.replace("-", "")]) == []
    assert not [w for w in WORDS.values() if w in caplog.text]
    assert loose_modes(core_clinic.folder) == []
    for role in ("patient", "support", "therapist"):  # every app wrote its record here
        assert (core_clinic.folder / role / "records.sqlite3").exists()


async def test_sealed_words_come_back_once_the_record_is_unlocked(tmp_path: Path) -> None:
    """Sealing hides words on disk without losing them: the store opens them with its key
    (and only then), whether it was first unlocked before or after they were written."""
    for unlock_first in (True, False):
        folder = tmp_path / f"unlock-first-{unlock_first}"
        store = RecordStore.open(folder)
        provider = PassphraseKeyProvider("a long phrase", CHEAP)
        if unlock_first:
            store.unlock(provider)
        store.events.append("s1", "intention", {"text": WORDS["intention"]}, event_id="e1")
        store.events.append("s1", "checkin", {"source": "key"}, event_id="e2")
        if not unlock_first:
            store.unlock(provider)
        store.close()
        assert leaks(folder, [WORDS["intention"]]) == []
        reopened = RecordStore.open(folder)
        try:
            locked = reopened.events.for_session("s1")
            assert set(locked[0].payload) == {"sealed"}
            assert locked[1].payload == {"source": "key"}  # ids and states stay readable
            reopened.unlock(provider)
            opened = reopened.events.get("e1")
            assert opened is not None and opened.payload == {"text": WORDS["intention"]}
        finally:
            reopened.close()


def test_every_entry_point_makes_what_it_writes_private() -> None:
    before = os.umask(0o022)
    try:
        with pytest.raises(SystemExit):
            main(["--version"])
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(before)


async def test_the_server_keeps_its_files_private_and_no_short_code(tmp_path: Path) -> None:
    """Even when started with a lax umask (embedded, or an older install's 0755 folder)."""
    data = tmp_path / "server"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    before = os.umask(0o022)
    try:
        async with SignalingServer(ServerConfig(data_dir=data, port=0)) as server:
            therapist, _ = server.db.add_therapist("dr-test")
            session = SessionRecord("s1", therapist.therapist_id, "evening", time.time())
            await server.store.create_session(session)
            session_codes = []
            for _ in range(3):
                invite = await server.service.new_invite("s1", "patient", 3600)
                session_codes.append(invite.code)
    finally:
        os.umask(before)
    assert loose_modes(data) == []
    files = {p.name for p in written(data)}
    assert "clinic.sqlite3" in files
    codes = [c.replace("-", "") for c in session_codes] + session_codes
    assert leaks(data, codes) == []


def test_an_app_folder_an_older_version_left_open_is_closed(tmp_path: Path) -> None:
    folder = tmp_path / "patient"
    RecordStore.open(folder).close()
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    before = os.umask(0o022)
    try:
        RecordStore.open(folder).close()
    finally:
        os.umask(before)
    assert loose_modes(folder) == []


def test_a_sealed_payload_copied_to_another_row_does_not_open(tmp_path: Path) -> None:
    store = RecordStore.open(tmp_path)
    provider = PassphraseKeyProvider("a long phrase", CHEAP)
    store.unlock(provider)
    store.events.append("s1", "message", {"text": WORDS["message"]}, event_id="e1")
    store.close()
    with sqlite3.connect(tmp_path / "records.sqlite3") as db:  # someone with the file
        db.execute(
            "INSERT INTO events (event_id, session_id, kind, wall_time, monotonic_time, payload)"
            " SELECT 'e2', 's2', kind, wall_time, monotonic_time, payload FROM events"
        )
    reopened = RecordStore.open(tmp_path)
    try:
        reopened.unlock(provider)
        with pytest.raises(TamperedRecord):
            reopened.events.get("e2")
        opened = reopened.events.get("e1")
        assert opened is not None and opened.payload == {"text": WORDS["message"]}
    finally:
        reopened.close()


def test_codes_an_older_server_kept_in_plain_text_are_retired(tmp_path: Path) -> None:
    path = tmp_path / "server" / "clinic.sqlite3"
    old = ClinicDB(path)  # as an older server left it: its codes in plain text
    old.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO therapists VALUES ('t1', 'dr', x'00', x'00', 0)")
        db.execute("INSERT INTO sessions VALUES ('s1', 't1', '', 0, 0, 0)")
        db.execute("INSERT INTO invites VALUES ('i1', 's1', 'patient', 'K7QMW3RT', 9e9, 0, 0)")
        db.execute("PRAGMA user_version = 2")
    reopened = ClinicDB(path)
    try:
        assert [i.code_hash for i in reopened.load_invites()] == ["retired:i1"]
    finally:
        reopened.close()
    assert leaks(path.parent, ["K7QMW3RT"]) == []


def test_words_an_older_version_stored_in_plain_text_are_sealed_on_opening(
    tmp_path: Path,
) -> None:
    provider = PassphraseKeyProvider("a long phrase", CHEAP)
    store = RecordStore.open(tmp_path)
    store.unlock(provider)
    store.close()
    with sqlite3.connect(tmp_path / "records.sqlite3") as db:  # as the older version wrote
        db.execute(
            "INSERT INTO events (event_id, session_id, kind, wall_time, monotonic_time, payload)"
            " VALUES ('old', 's1', 'intention', 1.0, 1.0, ?)",
            (json.dumps({"text": WORDS["intention"]}),),
        )
        db.execute("DELETE FROM key_material WHERE name = 'events.seal.older-done'")
    reopened = RecordStore.open(tmp_path)
    try:
        assert leaks(tmp_path, [WORDS["intention"]]) == []  # the file and its WAL
        reopened.unlock(provider)
        event = reopened.events.get("old")
        assert event is not None and event.payload == {"text": WORDS["intention"]}
        with (
            pytest.raises(sqlite3.IntegrityError),  # append-only again
            sqlite3.connect(tmp_path / "records.sqlite3") as db,
        ):
            db.execute("UPDATE events SET payload = '{}' WHERE event_id = 'old'")
    finally:
        reopened.close()
