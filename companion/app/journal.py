"""Private words, encrypted at rest: the patient's intention and journal, the therapist's
notes. A thin layer over ``RecordStore.private_notes`` that picks how the key is kept
(the OS keyring, else a passphrase the person chooses) and never logs the text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from companion.records import (
    KeyringUnavailable,
    PassphraseRequired,
    RecordStore,
    key_provider_for,
)
from companion.records.private import NoteKind, PrivateNote


class NeedsPassphrase(Exception):
    """No keyring here (or the store was made with a passphrase): ask the person for one."""


@dataclass
class Journal:
    records: RecordStore

    @property
    def unlocked(self) -> bool:
        return self.records.unlocked

    async def unlock(self, passphrase: str | None = None) -> None:
        """Raises ``NeedsPassphrase`` when only a passphrase can protect the notes, and
        ``WrongPassphrase`` for a wrong one."""
        if self.records.unlocked:
            return

        def unlock() -> None:
            try:
                provider = key_provider_for(self.records.key_material, passphrase)
            except (KeyringUnavailable, PassphraseRequired) as exc:
                raise NeedsPassphrase(str(exc)) from exc
            self.records.unlock(provider)

        await asyncio.to_thread(unlock)

    async def add(self, session_id: str, kind: NoteKind, text: str) -> PrivateNote:
        return await asyncio.to_thread(self.records.private_notes.add, session_id, kind, text)

    async def entries(self, session_id: str, kind: NoteKind) -> list[PrivateNote]:
        return await asyncio.to_thread(self.records.private_notes.for_session, session_id, kind)
