"""Person-entered words in the event log, sealed so only the records key opens them.

The event log must take every event from the moment the store opens (the safety ladder
writes before anyone unlocks anything), so payloads that carry a person's words
(``SEALED_KINDS``: the intention, the emergency card, messages, the plan, vitals) are
sealed to the store's X25519 *public* key: writing needs no secret, reading needs the
private key, which is kept only wrapped under the records data key (AES-256-GCM), the
same key that guards private notes. A store unlocks it with :meth:`RecordStore.unlock`.

A sealed payload is stored as ``{"sealed": base64(blob)}`` with blob =
``b"\\x01" || ephemeral public key (32) || nonce (12) || AES-256-GCM ciphertext+tag``;
the AES key is HKDF-SHA256 of the X25519 shared secret, and the associated data names the
row (event id, session id, kind), so a blob moved to another row does not open.

The key pair is made when a store first opens. Until the store is first unlocked its
private half exists only in memory; should the app close before any unlock, the words
sealed in that run stay sealed for good (a new pair is made at the next unlock). Nothing
is ever stored in plain text; a record written by a version from before sealing has its
words sealed the first time it opens (``EventLog.seal_older_payloads``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import TamperedRecord

_log = logging.getLogger(__name__)

SEALED_KINDS = frozenset({"intention", "card", "message", "plan", "vitals", "voice.chunk"})
"""Event kinds whose payload carries words (or numbers) a person entered."""

SEALED_FIELD = "sealed"
PUBLIC_KEY = "events.seal.public"
WRAPPED_PRIVATE_KEY = "events.seal.wrapped"
OLDER_PAYLOADS_SEALED = "events.seal.older-done"
"""Set once the words a version from before sealing stored in plain text are sealed."""

_FORMAT = b"\x01"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_INFO = b"companion.records sealed event payload v1"
_WRAP_AAD = b"companion.records wrapped event seal key v1"


class SealMaterial(Protocol):
    """Where the key pair is kept (the ``key_material`` table)."""

    def get(self, name: str) -> bytes | None: ...
    def put(self, name: str, value: bytes) -> None: ...
    def add(self, name: str, value: bytes) -> bytes:
        """Store unless present; returns what is stored."""
        ...


def _raw(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    if isinstance(key, X25519PrivateKey):
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _aead(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(hashes.SHA256(), _KEY_BYTES, None, _INFO + ephemeral + recipient).derive(shared)
    return AESGCM(key)


def row_data(event_id: str, session_id: str, kind: str) -> bytes:
    return json.dumps(["companion.records.sealed-event.v1", event_id, session_id, kind]).encode()


def is_sealed(payload: object) -> bool:
    return isinstance(payload, dict) and set(payload) == {SEALED_FIELD}


class PayloadSealer:
    """Seals payloads to the store's public key; opens them once unlocked."""

    def __init__(self, material: SealMaterial) -> None:
        self._material = material
        self._private: X25519PrivateKey | None = None
        public = material.get(PUBLIC_KEY)
        if public is None:
            # First open: the private half waits in memory for the first unlock to wrap it
            # (unless another process opening the same new store got there first).
            candidate = X25519PrivateKey.generate()
            public = material.add(PUBLIC_KEY, _raw(candidate.public_key()))
            self._private = candidate if public == _raw(candidate.public_key()) else None
        self._public = X25519PublicKey.from_public_bytes(public)
        self._unlocked = False

    def seal(self, payload: str, aad: bytes) -> str:
        """``payload`` (canonical JSON) as the JSON of ``{"sealed": …}``."""
        ephemeral = X25519PrivateKey.generate()
        ephemeral_raw, recipient = _raw(ephemeral.public_key()), _raw(self._public)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _aead(ephemeral.exchange(self._public), ephemeral_raw, recipient).encrypt(
            nonce, payload.encode("utf-8"), aad
        )
        blob = _FORMAT + ephemeral_raw + nonce + sealed
        return json.dumps({SEALED_FIELD: base64.b64encode(blob).decode("ascii")})

    def open(self, payload: object, aad: bytes, record_id: str) -> object:
        """The payload as written, or still sealed while the store is locked."""
        if not is_sealed(payload) or not self._unlocked or self._private is None:
            return payload
        assert isinstance(payload, dict)
        try:
            blob = base64.b64decode(str(payload[SEALED_FIELD]), validate=True)
        except ValueError:
            raise TamperedRecord(record_id) from None
        head = 1 + _KEY_BYTES + _NONCE_BYTES
        if blob[:1] != _FORMAT or len(blob) < head + 16:
            raise TamperedRecord(record_id)
        ephemeral_raw, nonce = blob[1 : 1 + _KEY_BYTES], blob[1 + _KEY_BYTES : head]
        ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
        aead = _aead(self._private.exchange(ephemeral), ephemeral_raw, _raw(self._public))
        try:
            return json.loads(aead.decrypt(nonce, blob[head:], aad))
        except InvalidTag:
            raise TamperedRecord(record_id) from None

    def unlock(self, data_key: bytes) -> None:
        """With the records data key: unwrap the private key, or wrap the new one."""
        wrap = AESGCM(data_key)
        wrapped = self._material.get(WRAPPED_PRIVATE_KEY)
        if wrapped is not None:
            try:
                raw = wrap.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _WRAP_AAD)
            except InvalidTag:
                raise TamperedRecord(WRAPPED_PRIVATE_KEY) from None
            self._private = X25519PrivateKey.from_private_bytes(raw)
        else:
            if self._private is None:
                # Made in a run that closed before any unlock: what it sealed stays sealed.
                _log.warning("event seal key was never wrapped: a new one is made")
                self._private = X25519PrivateKey.generate()
                self._public = self._private.public_key()
                self._material.put(PUBLIC_KEY, _raw(self._public))
            nonce = os.urandom(_NONCE_BYTES)
            sealed = wrap.encrypt(nonce, _raw(self._private), _WRAP_AAD)
            self._material.put(WRAPPED_PRIVATE_KEY, nonce + sealed)
        self._unlocked = True

    def lock(self) -> None:
        """Forget the private key (it stays wrapped in the store)."""
        self._unlocked = False
        if self._material.get(WRAPPED_PRIVATE_KEY) is not None:
            self._private = None
