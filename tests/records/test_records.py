"""The local record: append-only events, private notes sealed at rest, keys, audit, export."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyring.backend import KeyringBackend
from keyring.backends import fail

from companion.records import (
    KeyringKeyProvider,
    KeyringUnavailable,
    PassphraseKeyProvider,
    RecordStore,
    ScryptCost,
    WrongPassphrase,
    delete_credential,
    key_provider_for,
    load_credential,
    store_credential,
)
from companion.records.errors import TamperedRecord

SECRET = "I want to meet my younger self with kindness"
FAST = ScryptCost(n=2**10, r=8, p=1)  # keeps tests quick; the default cost is the real one


class MemoryKeyring(KeyringBackend):
    """A real keyring backend (the keyring API end to end), keeping secrets in memory."""

    priority = 10

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


def file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_events_append_once_in_order_and_never_change(tmp_path: Path) -> None:
    with RecordStore.open(tmp_path) as store:
        first = store.events.append("s1", "checkin", {"source": "key"}, event_id="e1")
        again = store.events.append("s1", "checkin", {"source": "key"}, event_id="e1")
        store.events.append("s1", "link.lost", {})
        assert again.sequence == first.sequence
        kinds = [e.kind for e in store.events.for_session("s1")]
        assert kinds == ["checkin", "link.lost"]
        path = store.path
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError):
        raw.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(sqlite3.DatabaseError):
        raw.execute("DELETE FROM events")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_private_notes_with_the_keyring_never_touch_disk_in_plain_text(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    with RecordStore.open(tmp_path) as store:
        provider = key_provider_for(store.key_material)
        assert isinstance(provider, KeyringKeyProvider)
        notes = store.unlock(provider)
        note = notes.add("s1", "intention", SECRET)
        assert notes.get(note.note_id).text == SECRET
    assert SECRET.encode() not in file_bytes(tmp_path)
    assert memory_keyring.secrets  # the data key lives in the keyring
    with RecordStore.open(tmp_path) as store:
        notes = store.unlock(KeyringKeyProvider())
        assert [n.text for n in notes.for_session("s1")] == [SECRET]
        actions = [(a.action, a.kind) for a in store.audit.entries("s1")]
        assert ("write", "intention") in actions and ("read", "intention") in actions


def test_without_a_keyring_it_says_so_and_a_passphrase_protects_the_notes(
    tmp_path: Path, no_keyring: None
) -> None:
    with RecordStore.open(tmp_path) as store:
        material = store.key_material
        with pytest.raises(KeyringUnavailable) as info:
            key_provider_for(material)
        assert "passphrase" in str(info.value)
        notes = store.unlock(PassphraseKeyProvider("correct horse battery", FAST))
        notes.add("s1", "journal", SECRET)
    assert SECRET.encode() not in file_bytes(tmp_path)
    with RecordStore.open(tmp_path) as store:
        with pytest.raises(WrongPassphrase):
            store.unlock(PassphraseKeyProvider("wrong horse battery", FAST))
        notes = store.unlock(PassphraseKeyProvider("correct horse battery", FAST))
        assert notes.for_session("s1")[0].text == SECRET


def test_a_note_moved_to_another_row_is_detected(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    with RecordStore.open(tmp_path) as store:
        notes = store.unlock(KeyringKeyProvider())
        a = notes.add("s1", "note", "first")
        b = notes.add("s1", "note", "second")
        path = store.path
    raw = sqlite3.connect(path)
    (blob,) = raw.execute(
        "SELECT ciphertext FROM private_notes WHERE note_id = ?", (a.note_id,)
    ).fetchone()
    raw.execute("UPDATE private_notes SET ciphertext = ? WHERE note_id = ?", (blob, b.note_id))
    raw.commit()
    raw.close()
    with RecordStore.open(tmp_path) as store:
        notes = store.unlock(KeyringKeyProvider())
        with pytest.raises(TamperedRecord):
            notes.get(b.note_id)


def test_export_is_json_and_private_text_only_on_request(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    with RecordStore.open(tmp_path) as store:
        store.events.append("s1", "checkin", {"source": "button"})
        store.unlock(KeyringKeyProvider()).add("s1", "note", SECRET)
        plain = json.dumps(store.export_session("s1"))
        assert "checkin" in plain and SECRET not in plain
        full = json.dumps(store.export_session("s1", include_private=True))
        assert SECRET in full
        assert "export" in [a.action for a in store.audit.entries("s1")]


def test_therapist_credentials_live_in_the_keyring(memory_keyring: MemoryKeyring) -> None:
    store_credential("wss://clinic.example/ws", "dr-rivera", "s3cret")
    assert load_credential("wss://clinic.example/ws", "dr-rivera") == "s3cret"
    assert delete_credential("wss://clinic.example/ws", "dr-rivera")
    assert load_credential("wss://clinic.example/ws", "dr-rivera") is None


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_round_trips_sealed(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder, RecordStore.open(folder) as store:
        notes = store.unlock(PassphraseKeyProvider("a long enough passphrase", FAST))
        note = notes.add("s1", "journal", text)
        assert notes.get(note.note_id).text == text
