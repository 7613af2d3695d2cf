"""Signed tokens: invites for patients and support people, access tokens for therapists.

Format: ``<prefix>.<base64url(payload JSON)>.<base64url(HMAC-SHA256)>``. The algorithm is
fixed (nothing in the token chooses it) and the signature is checked before the payload is
even parsed. Each purpose has its own key derived from the server's master secret, so an
access token can never pass as an invite or the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from companion.protocol.errors import ErrorCode, ProtocolError

Purpose = Literal["invite", "access", "ack"]
_PREFIX: dict[Purpose, str] = {"invite": "ci1", "access": "ca1", "ack": "ck1"}

# Short codes people read over the phone: no 0/O, 1/I/L, U (confusable or rude).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class InviteClaims:
    invite_id: str
    session_id: str
    role: str
    expires_at: float


@dataclass(frozen=True)
class AccessClaims:
    therapist_id: str
    expires_at: float


class TokenSigner:
    """Issues and verifies tokens for one server (``audience``) with one master secret."""

    def __init__(self, master_secret: bytes, audience: str) -> None:
        if len(master_secret) < 32:
            raise ValueError("master secret must be at least 32 bytes")
        self._keys = {
            purpose: hmac.new(master_secret, f"companion/{purpose}".encode(), "sha256").digest()
            for purpose in _PREFIX
        }
        self._hash_key = hmac.new(master_secret, b"companion/hash", "sha256").digest()
        self.audience = audience

    def keyed_hash(self, text: str) -> str:
        """What the server keeps of a short code or a device secret: a keyed hash, so a
        copy of the database alone gives no usable code (and cannot be brute-forced
        without the signing key)."""
        return hmac.new(self._hash_key, text.encode(), hashlib.sha256).hexdigest()

    def _sign(self, purpose: Purpose, claims: dict[str, object]) -> str:
        head = f"{_PREFIX[purpose]}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        mac = hmac.new(self._keys[purpose], head.encode("ascii"), hashlib.sha256).digest()
        return f"{head}.{_b64(mac)}"

    def _verify(self, purpose: Purpose, token: str, now: float | None) -> dict[str, object]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX[purpose]:
            raise ProtocolError(ErrorCode.TOKEN_INVALID)
        head = f"{parts[0]}.{parts[1]}"
        expected = hmac.new(self._keys[purpose], head.encode(), hashlib.sha256).digest()
        # Compare the canonical text: lenient base64 decoding would accept appended junk.
        if not hmac.compare_digest(parts[2].encode(), _b64(expected).encode()):
            raise ProtocolError(ErrorCode.TOKEN_INVALID)
        # Only a token we signed ourselves gets parsed.
        claims = json.loads(_unb64(parts[1]))
        if not isinstance(claims, dict) or claims.get("aud") != self.audience:
            raise ProtocolError(ErrorCode.TOKEN_INVALID)
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or (now if now is not None else time.time()) >= exp:
            raise ProtocolError(ErrorCode.TOKEN_EXPIRED)
        return claims

    def issue_invite(self, invite_id: str, session_id: str, role: str, expires_at: float) -> str:
        return self._sign(
            "invite",
            {
                "aud": self.audience,
                "iid": invite_id,
                "sid": session_id,
                "role": role,
                "exp": expires_at,
            },
        )

    def verify_invite(self, token: str, now: float | None = None) -> InviteClaims:
        claims = self._verify("invite", token, now)
        iid, sid, role = claims.get("iid"), claims.get("sid"), claims.get("role")
        if not (isinstance(iid, str) and isinstance(sid, str) and isinstance(role, str)):
            raise ProtocolError(ErrorCode.TOKEN_INVALID)
        return InviteClaims(iid, sid, role, float(claims["exp"]))  # type: ignore[arg-type]

    def issue_access(self, therapist_id: str, expires_at: float) -> str:
        return self._sign("access", {"aud": self.audience, "tid": therapist_id, "exp": expires_at})

    def verify_access(self, token: str, now: float | None = None) -> AccessClaims:
        claims = self._verify("access", token, now)
        tid = claims.get("tid")
        if not isinstance(tid, str):
            raise ProtocolError(ErrorCode.TOKEN_INVALID)
        return AccessClaims(tid, float(claims["exp"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class AckClaims:
    """An acknowledge link sent to one contact in one round of an escalation."""

    link_id: str
    session_id: str
    incident_id: str
    who: str
    """``support`` or ``oncall``: whose answer pressing it is."""
    expires_at: float


def issue_ack(signer: TokenSigner, claims: AckClaims) -> str:
    return signer._sign(
        "ack",
        {
            "aud": signer.audience,
            "lid": claims.link_id,
            "sid": claims.session_id,
            "inc": claims.incident_id,
            "who": claims.who,
            "exp": claims.expires_at,
        },
    )


def verify_ack(signer: TokenSigner, token: str, now: float | None = None) -> AckClaims:
    claims = signer._verify("ack", token, now)
    lid, sid, inc, who = (claims.get(k) for k in ("lid", "sid", "inc", "who"))
    if not (isinstance(lid, str) and isinstance(sid, str) and isinstance(inc, str)):
        raise ProtocolError(ErrorCode.TOKEN_INVALID)
    if who not in ("support", "oncall"):
        raise ProtocolError(ErrorCode.TOKEN_INVALID)
    return AckClaims(lid, sid, inc, str(who), float(claims["exp"]))  # type: ignore[arg-type]


def looks_like_token(text: str) -> bool:
    """Short codes never contain a dot; anything with one is checked as a signed token."""
    return "." in text


def new_short_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """Accept what a person types: any case, spaces or dashes between groups."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def new_id(nbytes: int = 9) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_resume_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
