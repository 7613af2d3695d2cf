"""The therapist's own voice for the patient's spoken lines (issue 22).

Before or during a session the therapist records each line, in the patient's language,
from their console (``VoiceBook``: kept as Ogg Opus in private notes of kind ``voice``,
AES-256-GCM under their record store's data key, per therapist, language and line, and
reused across sessions). At the start of a session the therapist's app sends them to the
patient's app as ``voice.chunk`` events, sealed for the patient (``voice_chunks``); the
patient's app puts the pieces together (``VoiceInbox``) and its speaker says a line in
the therapist's voice once a whole, intact recording of it has arrived. Until then, and
for any recording that arrives broken, the computer's voice stays: no line is ever
missing for want of a recording.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion.app.journal import Journal
from companion.app.spoken import SAFETY_LINES, THERAPIST_VOICE, spoken_lines
from companion.audio.recording import (
    BrokenRecording,
    Recorder,
    decode_audio,
    encode_opus,
    play,
    trimmed,
)
from companion.audio.speech import Speaker
from companion.protocol.messages import MAX_VOICE_CHUNKS, VOICE_CHUNK_BYTES, EventBody, VoiceChunk
from companion.records import RecordStore
from companion.records.private import NoteKind

_log = logging.getLogger(__name__)

VOICE_FOLDER = "voice"
"""The therapist's recordings, in a record store of their own under the console's folder."""


@dataclass(frozen=True)
class VoiceLine:
    line_id: str
    words: str
    """In the language being recorded."""
    recorded: bool


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def voice_session_id(therapist: str) -> str:
    """The pseudo-session the recordings are kept under: the therapist's name, hashed
    (the column is not encrypted)."""
    return "voice-" + hashlib.sha256(therapist.encode()).hexdigest()[:24]


class VoiceBook:
    """One therapist's recordings on this computer. ``unlock`` first (``Journal.unlock``:
    the keyring, else a passphrase); every read and write is in the audit trail."""

    def __init__(self, data_dir: Path, therapist: str) -> None:
        self.folder = data_dir / VOICE_FOLDER
        self.session_id = voice_session_id(therapist)
        self._store: RecordStore | None = None
        self._cache: dict[tuple[str, str], bytes] | None = None

    async def journal(self) -> Journal:
        if self._store is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._store = await asyncio.to_thread(RecordStore.open, self.folder)
        return Journal(self._store)

    async def unlock(self, passphrase: str | None = None) -> None:
        """Raises ``NeedsPassphrase`` / ``WRONG_KEY`` as ``Journal.unlock`` does."""
        await (await self.journal()).unlock(passphrase)

    @property
    def unlocked(self) -> bool:
        return self._store is not None and self._store.unlocked

    async def recordings(self, language: str | None = None) -> dict[tuple[str, str], bytes]:
        """(language, line id) → the latest Ogg Opus recording (one language, or all)."""
        if self._cache is None:
            journal = await self.journal()
            notes = await journal.entries(self.session_id, NoteKind.VOICE)
            found: dict[tuple[str, str], bytes] = {}
            for note in notes:  # oldest first: a line recorded again replaces the older
                try:
                    kept = json.loads(note.text)
                    found[(str(kept["language"]), str(kept["line_id"]))] = _unb64(kept["audio"])
                except (ValueError, KeyError, TypeError, binascii.Error):
                    _log.warning("voice note %s unreadable", note.note_id)
            self._cache = found
        return {k: v for k, v in self._cache.items() if language in (None, k[0])}

    async def save(self, language: str, line_id: str, ogg: bytes) -> None:
        """Keep a recording (a line recorded again: the new one is used from now on)."""
        await self.recordings()
        text = json.dumps({"language": language, "line_id": line_id, "audio": _b64(ogg)})
        journal = await self.journal()
        await journal.add(self.session_id, NoteKind.VOICE, text)
        assert self._cache is not None
        self._cache[(language, line_id)] = ogg

    async def lines(self, language: str) -> list[VoiceLine]:
        recorded = await self.recordings(language)
        return [
            VoiceLine(line_id, words, (language, line_id) in recorded)
            for line_id, words in spoken_lines(language).items()
        ]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._cache = None


def voice_chunks(recordings: dict[tuple[str, str], bytes]) -> list[VoiceChunk]:
    """Every recording in pieces, the safety lines' first (they matter most if the
    sending is cut short); a recording too long to send is left out (the computer's
    voice says that line)."""
    chunks: list[VoiceChunk] = []
    order = sorted(recordings, key=lambda key: (key[1] not in SAFETY_LINES, key))
    for language, line_id in order:
        data = recordings[(language, line_id)]
        count = -(-len(data) // VOICE_CHUNK_BYTES)
        if not 0 < count <= MAX_VOICE_CHUNKS:
            _log.warning("voice line %s not sent: %d bytes", line_id, len(data))
            continue
        digest, recording_id = hashlib.sha256(data).hexdigest(), uuid.uuid4().hex[:16]
        for index in range(count):
            piece = data[index * VOICE_CHUNK_BYTES : (index + 1) * VOICE_CHUNK_BYTES]
            chunks.append(
                VoiceChunk(
                    kind="voice.chunk",
                    recording_id=recording_id,
                    line_id=line_id,
                    language=language,
                    index=index,
                    count=count,
                    data=_b64(piece),
                    digest=digest,
                )
            )
    return chunks


@dataclass
class _Pieces:
    line_id: str
    language: str
    count: int
    digest: str
    parts: dict[int, bytes] = field(default_factory=dict)


class VoiceInbox:
    """The patient's side: pieces in, whole recordings out (for one language). A piece
    that does not fit its recording (another count, line or digest) is dropped; a
    recording whose pieces do not add up to its digest is never handed on."""

    MAX_OPEN = 256
    """Recordings being put together at once; more are dropped (a hostile flood)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._open: dict[str, _Pieces] = {}
        self._done: set[str] = set()

    def add(self, chunk: VoiceChunk) -> tuple[str, bytes] | None:
        """(line id, the whole Ogg file) once the last piece of a recording is in."""
        if chunk.language != self.language or chunk.recording_id in self._done:
            return None
        pieces = self._open.get(chunk.recording_id)
        if pieces is None:
            if len(self._open) >= self.MAX_OPEN:
                return None
            pieces = _Pieces(chunk.line_id, chunk.language, chunk.count, chunk.digest)
            self._open[chunk.recording_id] = pieces
        if (pieces.line_id, pieces.count, pieces.digest) != (
            chunk.line_id,
            chunk.count,
            chunk.digest,
        ):
            return None
        try:
            pieces.parts[chunk.index] = _unb64(chunk.data)
        except (ValueError, binascii.Error):
            return None
        if len(pieces.parts) < pieces.count:
            return None
        del self._open[chunk.recording_id]
        self._done.add(chunk.recording_id)
        data = b"".join(pieces.parts[i] for i in range(pieces.count))
        if hashlib.sha256(data).hexdigest() != pieces.digest:
            _log.warning("voice line %s arrived damaged: not used", pieces.line_id)
            return None
        return pieces.line_id, data

    def missing(self) -> Iterable[str]:
        """Lines whose recording is still incomplete."""
        return sorted({p.line_id for p in self._open.values()})


SEND_BYTES_PER_S = 48 * 1024
"""The pieces' pace: well within a connection's byte budget on the server (128 KiB/s)
and a patient's outbox there (1 MiB), so the session's other events never wait long."""


class VoiceSender:
    """The therapist's app: sends the recordings, paced, each time a patient arrives
    (their app caches them for the session; a relaunched one gets them again)."""

    def __init__(
        self,
        publish: Callable[[EventBody], Awaitable[str]],
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        self._publish = publish
        self._spawn = spawn
        self._chunks: list[VoiceChunk] = []
        self._task: asyncio.Task[Any] | None = None
        self.sent = 0
        """Pieces sent so far (all rounds)."""

    def use(self, recordings: dict[tuple[str, str], bytes]) -> None:
        self._chunks = voice_chunks(recordings)

    def send(self) -> None:
        """Send every piece (again), after any round still going is stopped."""
        if self._task is not None:
            self._task.cancel()
        if self._chunks:
            self._task = self._spawn(self._run(list(self._chunks)))

    async def _run(self, chunks: list[VoiceChunk]) -> None:
        for chunk in chunks:
            await self._publish(chunk)
            self.sent += 1
            await asyncio.sleep(len(chunk.data) * 1.4 / SEND_BYTES_PER_S)  # sealed: ~4/3 more
        _log.info("voice lines sent: %d pieces", len(chunks))


class VoiceReceiver:
    """The patient's app: pieces in; each whole recording decoded off the event loop and
    handed to the speaker, which then says that line in the therapist's voice."""

    def __init__(
        self,
        speaker: Callable[[], Speaker | None],
        language: str,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
    ) -> None:
        self._speaker = speaker
        self._spawn = spawn
        self.inbox = VoiceInbox(language)
        self.used: set[str] = set()
        """Lines now said in the therapist's voice."""
        self.arrived: dict[str, bytes] = {}
        """Whole recordings received (line id → Ogg), cached for the session."""

    def add(self, chunk: VoiceChunk) -> None:
        whole = self.inbox.add(chunk)
        if whole is not None:
            self.arrived[whole[0]] = whole[1]
            self._spawn(asyncio.to_thread(self._use, *whole))

    def _use(self, line_id: str, data: bytes) -> None:
        speaker = self._speaker()
        if speaker is None:
            return
        try:
            samples = decode_audio(data)
        except BrokenRecording as exc:
            _log.warning("voice line %s not usable (%s): the computer's voice stays", line_id, exc)
            return
        speaker.use_recording(line_id, samples, THERAPIST_VOICE)
        self.used.add(line_id)
        _log.info("voice line %s: the therapist's recording", line_id)


MIN_RECORDING_S = 0.3


class VoiceStudio:
    """The console's "Your voice": record a line from the microphone, keep it, play it
    back. One line records at a time."""

    def __init__(
        self, data_dir: Path, therapist: str, microphone: Callable[[], Recorder] = Recorder
    ) -> None:
        self.book = VoiceBook(data_dir, therapist)
        self.microphone = microphone
        """Makes a ``Recorder`` (a test's stand-in where this computer has no microphone)."""
        self._recorder: Recorder | None = None
        self.recording: tuple[str, str] | None = None
        """(language, line id) being recorded now."""

    def start(self, language: str, line_id: str) -> None:
        """Raises ``OSError`` when there is no microphone."""
        if self._recorder is not None:
            self._recorder.stop()
        recorder = self.microphone()
        recorder.start()
        self._recorder, self.recording = recorder, (language, line_id)

    async def stop(self) -> bool:
        """Keep what was recorded; False when it held no words (nothing is kept)."""
        recorder, which = self._recorder, self.recording
        self._recorder, self.recording = None, None
        if recorder is None or which is None:
            return False
        words = trimmed(await asyncio.to_thread(recorder.stop))
        if len(words) < MIN_RECORDING_S * 48_000:
            return False
        ogg = await asyncio.to_thread(encode_opus, words)
        await self.book.save(*which, ogg)
        return True

    async def play(self, language: str, line_id: str) -> bool:
        """Raises ``OSError`` when there is nothing to play on."""
        data = (await self.book.recordings(language)).get((language, line_id))
        if data is None:
            return False
        samples = await asyncio.to_thread(decode_audio, data)
        await asyncio.to_thread(play, samples)
        return True

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        self.book.close()
