"""Private words, encrypted at rest: the patient's intention and journal, the therapist's
notes. A thin layer over ``RecordStore.private_notes`` that picks how the key is kept
(the OS keyring, else a passphrase the person chooses) and never logs the text.

Also the patient's small local preferences that are not health information: the time of
their integration session (shown the next time the app opens) and "reduce motion".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from companion.i18n import SETTINGS_FILE, _, clock, date_words
from companion.records import (
    KeyringUnavailable,
    PassphraseRequired,
    RecordStore,
    WrongPassphrase,
    key_provider_for,
)
from companion.records.errors import KeyMismatch
from companion.records.private import NoteKind, PrivateNote

REMINDER_FILE = "integration-reminder.txt"
MIN_PASSPHRASE = 8
WRONG_KEY = (WrongPassphrase, KeyMismatch)
"""What ``Journal.unlock`` raises for a passphrase that is not the one chosen before."""


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
        ``WrongPassphrase`` (or ``KeyMismatch``) for a wrong one: see ``WRONG_KEY``."""
        if self.records.unlocked:
            return

        def unlock() -> None:
            try:
                provider = key_provider_for(self.records.key_material, passphrase)
            except (KeyringUnavailable, PassphraseRequired) as exc:
                raise NeedsPassphrase(type(exc).__name__) from exc
            self.records.unlock(provider)

        await asyncio.to_thread(unlock)

    async def add(self, session_id: str, kind: NoteKind, text: str) -> PrivateNote:
        return await asyncio.to_thread(self.records.private_notes.add, session_id, kind, text)

    async def entries(self, session_id: str, kind: NoteKind) -> list[PrivateNote]:
        return await asyncio.to_thread(self.records.private_notes.for_session, session_id, kind)


# -- the integration reminder --------------------------------------------------------------


def save_reminder(data_dir: Path, when: float) -> None:
    """Remember the integration session's time (Unix seconds)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / REMINDER_FILE).write_text(str(int(when)), encoding="utf-8")


def load_reminder(data_dir: Path) -> float | None:
    try:
        return float(int((data_dir / REMINDER_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def reminder_words(data_dir: Path, now: float | None = None) -> str:
    """The integration session the patient asked to be reminded of, in plain words; ""
    when there is none, or it was more than a day ago."""
    when = load_reminder(data_dir)
    if when is None or when < (now or time.time()) - 86_400:
        return ""
    return _("Reminder: your integration session is on {day} at {time}.").format(
        day=date_words(when), time=clock(when, seconds=False)
    )


# -- small preferences -----------------------------------------------------------------------


def load_settings(data_dir: Path) -> dict[str, bool]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return {str(k): v for k, v in data.items() if isinstance(v, bool)}
    return {}


def save_setting(data_dir: Path, name: str, value: bool) -> None:
    settings: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((data_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
        settings = data if isinstance(data, dict) else {}  # the language kept there too
    settings[name] = value
    with contextlib.suppress(OSError):
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
