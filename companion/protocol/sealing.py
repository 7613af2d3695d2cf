"""Sealed words: what a person typed, readable only by the members allowed to read it.

An event that carries person-entered words (``Sealable.PRIVATE``: the intention, the
emergency card, the therapist's messages, the plan's instructions, vitals) goes through the server
sealed: its words are taken out, encrypted once with a fresh AES-256-GCM content key, and
that key is wrapped for each member the authority table lets read the event, with the
member's ``box_key`` (X25519, vouched for by the server in the member list). The server
and Redis relay and store only ciphertext, routed by the kind (and ``to_role``) left in
clear. The associated data binds the ciphertext to its session, event id and kind, so it
cannot be moved to another event. docs/protocol.md, "Sealed words", is the prose twin.

    content key  CK = 32 random bytes; nonce = 12 random bytes
    ct           = AES-256-GCM(CK, nonce, JSON of the words, aad)
    for each reader: shared = X25519(eph, reader.box_key)
                     KEK = HKDF-SHA256(shared, salt none, info = INFO + eph + reader.box_key)
                     key = AES-256-GCM(KEK, 12 zero bytes, CK, aad)   (a KEK is used once)
    aad          = "companion/sealed/1\\n<session_id>\\n<event_id>\\n<kind>"
"""

from __future__ import annotations

import binascii
import json
import os
from collections.abc import Mapping
from typing import Any, TypeGuard, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from companion.protocol.identity import MemberKey, b64url, from_b64url, raw_public
from companion.protocol.messages import EventBody, Sealable, Sealed, WrappedKey

S = TypeVar("S", bound=Sealable)
SEAL_CONTEXT = "companion/sealed/1"
_KEK_INFO = b"companion/sealed/1 key"
_ZERO_NONCE = bytes(12)


def sealed_aad(session_id: str, event_id: str, kind: str) -> bytes:
    return "\n".join((SEAL_CONTEXT, session_id, event_id, kind)).encode()


def _kek(shared: bytes, eph: bytes, recipient: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO + eph + recipient)
    return AESGCM(hkdf.derive(shared))


def seal_words(words: Mapping[str, Any], recipients: Mapping[str, str], aad: bytes) -> Sealed:
    """Encrypt ``words`` for ``recipients`` (member id -> box key)."""
    content_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    text = json.dumps(dict(words), separators=(",", ":"), ensure_ascii=False).encode()
    ct = AESGCM(content_key).encrypt(nonce, text, aad)
    eph = X25519PrivateKey.generate()
    eph_raw = raw_public(eph.public_key())
    keys = []
    for member_id, box_key in recipients.items():
        recipient = from_b64url(box_key)
        shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient))
        wrapped = _kek(shared, eph_raw, recipient).encrypt(_ZERO_NONCE, content_key, aad)
        keys.append(WrappedKey(member_id=member_id, key=b64url(wrapped)))
    return Sealed(eph=b64url(eph_raw), nonce=b64url(nonce), ct=b64url(ct), keys=keys)


def open_words(sealed: Sealed, member_id: str, key: MemberKey, aad: bytes) -> dict[str, Any] | None:
    """The words, if they were sealed for this member and nothing was changed; else None."""
    mine = next((k for k in sealed.keys if k.member_id == member_id), None)
    if mine is None:
        return None
    try:
        eph, box = from_b64url(sealed.eph), from_b64url(key.box_key)
        content_key = _kek(key.exchange(eph), eph, box).decrypt(
            _ZERO_NONCE, from_b64url(mine.key), aad
        )
        words = json.loads(
            AESGCM(content_key).decrypt(from_b64url(sealed.nonce), from_b64url(sealed.ct), aad)
        )
    except (InvalidTag, ValueError, binascii.Error):
        return None
    return words if isinstance(words, dict) else None


def has_words(event: object) -> TypeGuard[Sealable]:
    return isinstance(event, Sealable) and any(getattr(event, f) for f in event.PRIVATE)


def seal_event(event: S, recipients: Mapping[str, str], session_id: str, event_id: str) -> S:
    """The copy of ``event`` for the server: its words sealed for ``recipients``."""
    words = {f: getattr(event, f) for f in event.PRIVATE}
    sealed = seal_words(words, recipients, sealed_aad(session_id, event_id, event.kind))
    cleared = {f: type(event).model_fields[f].default for f in event.PRIVATE}
    return event.model_copy(update={**cleared, "sealed": sealed})


def open_event(
    event: EventBody, member_id: str, key: MemberKey, session_id: str, event_id: str
) -> EventBody | None:
    """The event with its words back in, validated as strictly as any event; None if it
    was not sealed for this member, was changed, or its words do not fit."""
    if not isinstance(event, Sealable) or event.sealed is None:
        return event
    words = open_words(event.sealed, member_id, key, sealed_aad(session_id, event_id, event.kind))
    if words is None or not set(words) <= set(event.PRIVATE):
        return None
    body = {**event.model_dump(exclude={"sealed"}), **words}
    try:
        return type(event).model_validate(body)
    except ValueError:
        return None
