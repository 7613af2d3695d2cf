"""Every error the local records can raise, in one place.

Messages are written for the person in front of the screen: plain words, what to do next.
They never contain note text, names or other personal health information.
"""

from __future__ import annotations

from companion.storage import sqlite


class RecordsError(Exception):
    """Base class for every error raised by ``companion.records``."""


class RecordsClosed(RecordsError, sqlite.DatabaseClosed):
    """The record store was closed; open it again to continue."""

    def __init__(self) -> None:
        RecordsError.__init__(self, "The session record is closed.")


class SchemaTooNew(RecordsError, sqlite.SchemaTooNew):
    """The database was written by a newer Companion than this one."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        RecordsError.__init__(
            self,
            f"The session record was created by a newer version of Companion "
            f"(format {found}, this version reads up to {supported}). Update Companion to open it.",
        )


class NotOnLocalDisk(RecordsError, sqlite.NotOnLocalDisk):
    """The records folder does not allow SQLite's WAL journal."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        RecordsError.__init__(
            self, f"The session record needs a local disk; this folder does not allow it ({mode})."
        )


class InvalidRecord(RecordsError, ValueError):
    """A value handed to the records API has the wrong shape (bad id, kind or payload)."""


class KeyringUnavailable(RecordsError):
    """No usable system keyring exists here; a passphrase must protect the private notes."""

    DEFAULT_MESSAGE = (
        "No system keyring is available on this computer; "
        "choose a passphrase to protect your private notes."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.DEFAULT_MESSAGE)


class PassphraseRequired(RecordsError):
    """The private notes are protected by a passphrase and none was given."""

    def __init__(self) -> None:
        super().__init__("Your private notes are protected by a passphrase. Enter it to open them.")


class PassphraseTooShort(RecordsError, ValueError):
    """A new passphrase is shorter than the minimum length."""

    def __init__(self, minimum: int) -> None:
        self.minimum = minimum
        super().__init__(f"Choose a passphrase of at least {minimum} characters.")


class WrongPassphrase(RecordsError):
    """The passphrase does not open the private notes."""

    def __init__(self) -> None:
        super().__init__(
            "That passphrase does not open your private notes. Check it and try again."
        )


class KeyMismatch(RecordsError):
    """The key offered (keyring entry or protection mode) does not belong to this record."""


class RecordsLocked(RecordsError):
    """Private notes were used before the store was unlocked with a key provider."""

    def __init__(self) -> None:
        super().__init__("Your private notes are locked. Unlock them first.")


class TamperedRecord(RecordsError):
    """A private note failed authentication: it was altered, moved to another row or corrupted."""

    def __init__(self, note_id: str) -> None:
        self.note_id = note_id
        super().__init__(
            f"Private note {note_id} could not be opened: it was changed or damaged on disk."
        )


class NoteNotFound(RecordsError, KeyError):
    """No private note has the requested id."""

    def __init__(self, note_id: str) -> None:
        self.note_id = note_id
        super().__init__(f"There is no private note with id {note_id}.")

    def __str__(self) -> str:
        # KeyError would repr() the message; keep it readable.
        return str(self.args[0])
