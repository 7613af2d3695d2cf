"""A member's session keys: made on joining, vouched for by the server.

Two key pairs: Ed25519 to sign (``public_key``) and X25519 to receive sealed words
(``box_key``).

Each app makes a fresh key pair when it joins a session and gives the server the public
half in ``join``; the server hands it to everyone in the member list (``members[].
public_key``). What a member sends over a peer path (the call's data channels, the home
link), where no server stands between, it signs; the receiver checks the signature against
the key the server vouched for and so knows which member, and which role, sent it. The
private half never leaves the app's memory. Keys and signatures travel as base64url text
without padding (43 and 86 characters).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PEER_EVENT_CONTEXT = "companion/peer-event/1"
"""The first line of every signed peer event: a signature made for anything else (another
protocol, a later version) never verifies as one."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class MemberKey:
    """This app's key pairs for one session."""

    def __init__(self, private: Ed25519PrivateKey, box: X25519PrivateKey) -> None:
        self._private = private
        self._box = box
        self.public_key = b64url(raw_public(private.public_key()))
        self.box_key = b64url(raw_public(box.public_key()))

    @classmethod
    def generate(cls) -> MemberKey:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def sign(self, data: bytes) -> str:
        return b64url(self._private.sign(data))

    def exchange(self, peer_box_key: bytes) -> bytes:
        """X25519 with another public key (companion/protocol/sealing.py)."""
        return self._box.exchange(X25519PublicKey.from_public_bytes(peer_box_key))

    def __repr__(self) -> str:  # never the private halves, not even in a traceback
        return f"MemberKey(public_key={self.public_key!r}, box_key={self.box_key!r})"


def verify(public_key: str, data: bytes, signature: str) -> bool:
    """True only for a well-formed key and a signature by it over exactly ``data``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(from_b64url(public_key))
        key.verify(from_b64url(signature), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def peer_event_input(session_id: str, event_id: str, from_member: str, body: str) -> bytes:
    """What the signature of a peer event covers: the session (no replay into another),
    the event id (the receivers' deduplication key), the sender, and the body's exact text."""
    return "\n".join((PEER_EVENT_CONTEXT, session_id, event_id, from_member, body)).encode()
