"""The therapist's recorded lines: kept encrypted, sent in pieces, put together whole or
not at all (issue 22)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from companion.app.journal import NeedsPassphrase
from companion.app.voice import VoiceBook, VoiceInbox, voice_chunks
from companion.audio.recording import decode_audio, encode_opus
from companion.protocol.identity import MemberKey
from companion.protocol.messages import MAX_MESSAGE_BYTES, SendEvent, VoiceChunk
from companion.protocol.sealing import open_event, seal_event
from tests.app.conftest import CoreClinic
from tests.app.test_core import three
from tests.waiting import until

PASSPHRASE = "correct horse battery"


def _voice(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(int(48_000 * seconds)) / 48_000
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + rng.standard_normal(len(t)) * 0.2)).astype(
        np.float32
    )


async def _unlocked(folder: Path) -> VoiceBook:
    book = VoiceBook(folder, "dr-test")
    try:
        await book.unlock()
    except NeedsPassphrase:
        await book.unlock(PASSPHRASE)
    return book


async def test_recordings_are_kept_encrypted_and_found_again(tmp_path: Path) -> None:
    ogg = encode_opus(_voice(2.0))
    pcm = (decode_audio(ogg) * 32767).astype("<i2").tobytes()
    book = await _unlocked(tmp_path)
    await book.save("es", "link_lost", ogg)
    await book.save("es", "link_lost", ogg + b"")  # recorded again: the latest is used
    await book.save("en", "welcome", ogg)
    lines = {line.line_id: line for line in await book.lines("es")}
    assert lines["link_lost"].recorded and not lines["welcome"].recorded
    assert "conexión" in lines["link_lost"].words.lower()  # the patient's language's words
    book.close()
    again = await _unlocked(tmp_path)
    assert await again.recordings("es") == {("es", "link_lost"): ogg}
    assert set(await again.recordings()) == {("es", "link_lost"), ("en", "welcome")}
    again.close()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "voice").iterdir() if p.is_file())
    assert b"OggS" not in on_disk and ogg[200:264] not in on_disk
    assert pcm[48_000:48_064] not in on_disk
    # Another therapist on the same computer has none of them.
    other = VoiceBook(tmp_path, "dr-other")
    try:
        await other.unlock()
    except NeedsPassphrase:
        await other.unlock(PASSPHRASE)
    assert await other.recordings() == {}
    other.close()


def test_pieces_fit_the_wire_and_come_together_in_any_order() -> None:
    ogg = encode_opus(_voice(8.0))
    chunks = voice_chunks({("en", "welcome"): ogg, ("en", "link_lost"): ogg[:5000]})
    assert chunks[0].line_id == "link_lost"  # the safety lines first
    welcome = [c for c in chunks if c.line_id == "welcome"]
    assert len(welcome) >= 2
    patient = MemberKey.generate()
    opened: list[VoiceChunk] = []
    for n, chunk in enumerate(chunks):
        event_id = f"00000000-0000-4000-8000-{n:012d}"
        sealed = seal_event(chunk, {"p1": patient.box_key, "t1": patient.box_key}, "s1", event_id)
        wire = SendEvent(type="event", event=sealed, event_id=event_id).model_dump_json()
        assert len(wire.encode()) < MAX_MESSAGE_BYTES
        assert chunk.data not in wire
        back = open_event(sealed, "p1", patient, "s1", event_id)
        assert isinstance(back, VoiceChunk)
        opened.append(back)
    random.Random(3).shuffle(opened)
    inbox = VoiceInbox("en")
    whole = dict(filter(None, (inbox.add(c) for c in opened)))
    assert whole == {"welcome": ogg, "link_lost": ogg[:5000]}


def test_a_missing_or_foreign_piece_never_makes_a_recording() -> None:
    ogg = encode_opus(_voice(8.0))
    chunks = voice_chunks({("en", "welcome"): ogg})
    inbox = VoiceInbox("en")
    assert [inbox.add(c) for c in chunks[1:]] == [None] * (len(chunks) - 1)
    assert list(inbox.missing()) == ["welcome"]
    # A piece of the same count and line but another recording's bytes does not fit.
    other = voice_chunks({("en", "welcome"): ogg[::-1]})
    assert inbox.add(other[0].model_copy(update={"recording_id": chunks[0].recording_id})) is None
    assert list(inbox.missing()) == ["welcome"]
    # Pieces whose bytes were swapped: the digest does not match, nothing is used.
    swapped = [c.model_copy(update={"data": other[c.index].data}) for c in chunks]
    assert all(VoiceInbox("en").add(c) is None for c in swapped[:1])
    fresh = VoiceInbox("en")
    assert [r for c in swapped if (r := fresh.add(c)) is not None] == []
    # Another language's recording is not this patient's.
    assert all(VoiceInbox("es").add(c) is None for c in chunks)


def test_a_piece_index_must_be_below_its_count() -> None:
    with pytest.raises(ValueError):
        VoiceChunk(
            kind="voice.chunk",
            recording_id="r",
            line_id="link_lost",
            language="en",
            index=2,
            count=2,
            data="AA",
            digest="0" * 64,
        )


async def test_recordings_reach_the_patient_sealed_and_only_the_patient(
    core_clinic: CoreClinic,
) -> None:
    ogg = encode_opus(_voice(6.0))
    therapist, patient, support, _ = await three(core_clinic)
    kinds: list[str] = []
    support.signaling.event_received.connect(lambda e: kinds.append(e.event.kind))
    try:
        therapist.send_voice({("en", "link_lost"): ogg, ("es", "welcome"): ogg})
        await until(lambda: "link_lost" in patient.voice_receiver.arrived, within_s=20)
        assert patient.voice_receiver.arrived == {"link_lost": ogg}  # its own language only
        await until(
            lambda: (
                therapist.voice_sender.sent
                == len(voice_chunks({("en", "link_lost"): ogg, ("es", "welcome"): ogg}))
            ),
            within_s=20,
        )
        assert "voice.chunk" not in kinds
        assert not any(e.kind == "voice.chunk" for e in patient.facts.timeline)
    finally:
        for core in (patient, support, therapist):
            await core.close()
    server_files = [p for p in (core_clinic.folder / "server").rglob("*") if p.is_file()]
    stored = b"".join(p.read_bytes() for p in server_files)
    assert b"T2dnUw" not in stored and b"OggS" not in stored  # "OggS", base64 or not


async def test_a_patient_app_started_again_mid_session_gets_the_recordings_again(
    core_clinic: CoreClinic,
) -> None:
    ogg = encode_opus(_voice(3.0))
    therapist, patient, support, codes = await three(core_clinic)
    again = None
    try:
        therapist.send_voice({("en", "checkin_request"): ogg})
        await until(lambda: "checkin_request" in patient.voice_receiver.arrived, within_s=20)
        await patient.close()  # the app closed, and started again
        again = core_clinic.core("patient")
        await again.connect()
        await again.join(codes["patient"])
        await again.start()
        await until(lambda: "checkin_request" in again.voice_receiver.arrived, within_s=20)
    finally:
        for core in (again, patient, support, therapist):
            if core is not None:
                await core.close()
