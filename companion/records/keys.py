"""Where the key that encrypts private notes comes from, and therapist credentials.

The data key is 256 random bits. It lives either in the OS keyring
(:class:`KeyringKeyProvider`) or, where no keyring exists (a headless Linux box), wrapped
in the database under a key derived from a passphrase with scrypt
(:class:`PassphraseKeyProvider`). :func:`key_provider_for` picks one; it raises
:class:`KeyringUnavailable` rather than ever falling back to storing plain text.

Both paths store a key-check value (an HMAC of a constant under the data key) so a wrong
passphrase or a replaced keyring entry is reported as such instead of as damaged notes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import keyring
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from .db import Database
from .errors import (
    KeyMismatch,
    KeyringUnavailable,
    PassphraseRequired,
    PassphraseTooShort,
    WrongPassphrase,
)

_log = logging.getLogger(__name__)

KEYRING_SERVICE = "Companion"
DATA_KEY_USERNAME = "records-key"
DATA_KEY_BYTES = 32
MIN_PASSPHRASE_LENGTH = 8

# Names of the rows in the key_material table.
PROTECTION = "protection"
KEY_CHECK = "key_check"
PASSPHRASE_SALT = "passphrase.salt"
PASSPHRASE_KDF = "passphrase.kdf"
PASSPHRASE_WRAPPED_KEY = "passphrase.wrapped_key"

_KEY_CHECK_LABEL = b"companion.records key check v1"
_WRAP_AAD = b"companion.records wrapped data key v1"
# Errors a keyring backend raises when it exists but cannot serve us (locked, no D-Bus…).
_KEYRING_FAILURES = (keyring.errors.KeyringError, RuntimeError, OSError)


class KeyMaterialStore(Protocol):
    """Small persistent name → bytes map for salts and check values (never the key itself
    in clear)."""

    def get(self, name: str) -> bytes | None: ...

    def initialize(self, values: Mapping[str, bytes]) -> bool:
        """Store ``values`` in one transaction unless a protection mode is already recorded;
        returns False (and stores nothing) if another caller got there first."""
        ...


class KeyProvider(Protocol):
    """Produces the 256-bit data key for a record store, creating it on first use."""

    @property
    def protection(self) -> str:
        """``"keyring"`` or ``"passphrase"``: recorded in the store on first use."""
        ...

    def data_key(self, material: KeyMaterialStore) -> bytes: ...


class DatabaseKeyMaterial:
    """:class:`KeyMaterialStore` over the ``key_material`` table."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, name: str) -> bytes | None:
        with self._database.reading() as connection:
            row = connection.execute(
                "SELECT value FROM key_material WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, name: str, value: bytes) -> None:
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO key_material (name, value) VALUES (?, ?)", (name, value)
            )

    def add(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless ``name`` is there already; returns what is stored."""
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO key_material (name, value) VALUES (?, ?)", (name, value)
            )
            row = connection.execute(
                "SELECT value FROM key_material WHERE name = ?", (name,)
            ).fetchone()
        return bytes(row[0])

    def initialize(self, values: Mapping[str, bytes]) -> bool:
        with self._database.transaction() as connection:
            existing = connection.execute(
                "SELECT 1 FROM key_material WHERE name = ?", (PROTECTION,)
            ).fetchone()
            if existing is not None:
                return False
            connection.executemany(
                "INSERT INTO key_material (name, value) VALUES (?, ?)", values.items()
            )
        return True


def key_check_value(data_key: bytes) -> bytes:
    return hmac.new(data_key, _KEY_CHECK_LABEL, hashlib.sha256).digest()


def _verify_key_check(material: KeyMaterialStore, data_key: bytes, error: Exception) -> bytes:
    stored = material.get(KEY_CHECK)
    if stored is None or not hmac.compare_digest(stored, key_check_value(data_key)):
        raise error
    return data_key


def _recorded_protection(material: KeyMaterialStore) -> str | None:
    value = material.get(PROTECTION)
    return None if value is None else value.decode("ascii")


# ----------------------------------------------------------------------------- keyring


def usable_keyring() -> KeyringBackend:
    """The active keyring backend, or :class:`KeyringUnavailable` if it is a placeholder
    (keyring's ``fail``/``null`` backends, an empty chain) or cannot even be loaded."""
    try:
        backend = keyring.get_keyring()
    except _KEYRING_FAILURES as exc:
        raise KeyringUnavailable() from exc
    if isinstance(backend, fail.Keyring | null.Keyring):
        raise KeyringUnavailable()
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        raise KeyringUnavailable()
    return backend


def keyring_available() -> bool:
    try:
        usable_keyring()
    except KeyringUnavailable:
        return False
    return True


def _keyring_get(username: str) -> str | None:
    usable_keyring()
    try:
        return keyring.get_password(KEYRING_SERVICE, username)
    except _KEYRING_FAILURES as exc:
        raise KeyringUnavailable() from exc


def _keyring_set(username: str, secret: str) -> None:
    usable_keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, username, secret)
    except _KEYRING_FAILURES as exc:
        raise KeyringUnavailable() from exc


@dataclass(frozen=True)
class KeyringKeyProvider:
    """Keeps the data key in the OS keyring (service ``Companion``, user ``records-key``)."""

    username: str = DATA_KEY_USERNAME

    @property
    def protection(self) -> str:
        return "keyring"

    def data_key(self, material: KeyMaterialStore) -> bytes:
        recorded = _recorded_protection(material)
        if recorded == "passphrase":
            raise PassphraseRequired()
        if recorded is None:
            data_key = self._load() or self._create()
            if material.initialize({PROTECTION: b"keyring", KEY_CHECK: key_check_value(data_key)}):
                _log.info("private notes now protected by the system keyring")
                return data_key
            return self.data_key(material)  # another caller initialized first: verify
        stored_key = self._load()
        mismatch = KeyMismatch(
            "The key for your private notes is missing from this computer's keyring or was "
            "replaced, so the notes cannot be opened here."
        )
        if stored_key is None:
            raise mismatch
        return _verify_key_check(material, stored_key, mismatch)

    def _load(self) -> bytes | None:
        stored = _keyring_get(self.username)
        if stored is None:
            return None
        try:
            data_key = base64.b64decode(stored, validate=True)
        except ValueError:
            data_key = b""
        if len(data_key) != DATA_KEY_BYTES:
            raise KeyMismatch("The keyring entry for your private notes is damaged.")
        return data_key

    def _create(self) -> bytes:
        data_key = os.urandom(DATA_KEY_BYTES)
        _keyring_set(self.username, base64.b64encode(data_key).decode("ascii"))
        return data_key


# -------------------------------------------------------------------------- passphrase


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters; stored with the salt so they can be raised for new stores later."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        # NFC so the same passphrase typed on another keyboard/OS gives the same bytes.
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        return hashlib.scrypt(
            secret,
            salt=salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=256 * self.n * self.r + 2**20,
            dklen=DATA_KEY_BYTES,
        )

    def to_bytes(self) -> bytes:
        return json.dumps({"name": "scrypt", "n": self.n, "r": self.r, "p": self.p}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ScryptCost:
        fields = json.loads(raw)
        return cls(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"]))


@dataclass(frozen=True)
class PassphraseKeyProvider:
    """Wraps a random data key under a scrypt-derived key; salt, cost and the wrapped key
    are stored in the database. A wrong passphrase raises :class:`WrongPassphrase`."""

    passphrase: str
    cost: ScryptCost = field(default_factory=ScryptCost)

    def __repr__(self) -> str:
        # The passphrase must never reach a log line or a traceback.
        return f"PassphraseKeyProvider(cost={self.cost!r})"

    @property
    def protection(self) -> str:
        return "passphrase"

    def data_key(self, material: KeyMaterialStore) -> bytes:
        recorded = _recorded_protection(material)
        if recorded == "keyring":
            raise KeyMismatch(
                "Your private notes are protected by this computer's keyring, not a passphrase."
            )
        if recorded is None:
            if len(self.passphrase) < MIN_PASSPHRASE_LENGTH:
                raise PassphraseTooShort(MIN_PASSPHRASE_LENGTH)
            data_key = os.urandom(DATA_KEY_BYTES)
            salt = os.urandom(16)
            nonce = os.urandom(12)
            wrapping_key = self.cost.derive(self.passphrase, salt)
            wrapped = nonce + AESGCM(wrapping_key).encrypt(nonce, data_key, _WRAP_AAD)
            values = {
                PROTECTION: b"passphrase",
                KEY_CHECK: key_check_value(data_key),
                PASSPHRASE_SALT: salt,
                PASSPHRASE_KDF: self.cost.to_bytes(),
                PASSPHRASE_WRAPPED_KEY: wrapped,
            }
            if material.initialize(values):
                _log.info("private notes now protected by a passphrase")
                return data_key
            return self.data_key(material)
        if not self.passphrase:
            raise PassphraseRequired()
        stored_salt = material.get(PASSPHRASE_SALT)
        kdf = material.get(PASSPHRASE_KDF)
        stored_wrapped = material.get(PASSPHRASE_WRAPPED_KEY)
        if stored_salt is None or kdf is None or stored_wrapped is None:
            raise KeyMismatch("The passphrase settings of your private notes are missing.")
        unwrapping_key = ScryptCost.from_bytes(kdf).derive(self.passphrase, stored_salt)
        try:
            unwrapped = AESGCM(unwrapping_key).decrypt(
                stored_wrapped[:12], stored_wrapped[12:], _WRAP_AAD
            )
        except InvalidTag:
            raise WrongPassphrase() from None
        return _verify_key_check(material, unwrapped, WrongPassphrase())


def key_provider_for(
    material: KeyMaterialStore, passphrase: str | None = None
) -> KeyringKeyProvider | PassphraseKeyProvider:
    """Pick how the data key is protected.

    - A store already protected one way keeps that way (a passphrase store needs
      ``passphrase``, else :class:`PassphraseRequired`).
    - A new store uses ``passphrase`` if given, else the system keyring; with no usable
      keyring this raises :class:`KeyringUnavailable`, and the app should ask for a
      passphrase and call again. Plain text is never an option.
    """
    recorded = _recorded_protection(material)
    if recorded == "passphrase" or (recorded is None and passphrase is not None):
        if passphrase is None:
            raise PassphraseRequired()
        return PassphraseKeyProvider(passphrase)
    if recorded is None:
        usable_keyring()
    return KeyringKeyProvider()


# ------------------------------------------------------------------ therapist credentials


def _credential_username(server_url: str, therapist: str) -> str:
    if not server_url or not therapist:
        raise ValueError("server_url and therapist must not be empty")
    return f"therapist:{therapist}@{server_url.rstrip('/')}"


def store_credential(server_url: str, therapist: str, secret: str) -> None:
    """Keep a therapist's secret for ``server_url`` in the OS keyring (no passphrase
    fallback: without a keyring this raises :class:`KeyringUnavailable`)."""
    _keyring_set(_credential_username(server_url, therapist), secret)


def load_credential(server_url: str, therapist: str) -> str | None:
    return _keyring_get(_credential_username(server_url, therapist))


def delete_credential(server_url: str, therapist: str) -> bool:
    """Forget the secret; returns False if there was none."""
    username = _credential_username(server_url, therapist)
    if _keyring_get(username) is None:
        return False
    try:
        keyring.delete_password(KEYRING_SERVICE, username)
    except keyring.errors.PasswordDeleteError:
        return False
    except _KEYRING_FAILURES as exc:
        raise KeyringUnavailable() from exc
    return True
