"""STUN/TURN configuration handed to clients, with short-lived TURN REST credentials.

coturn's ``use-auth-secret``: username ``<expiry unix time>:<member id>``, password
``base64(HMAC-SHA1(shared secret, username))``; coturn refuses it after the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from companion.protocol.messages import IceServer


@dataclass(frozen=True)
class IceConfig:
    stun_urls: list[str] = field(default_factory=list)
    """e.g. ``stun:turn.clinic.example:3478``; empty on a LAN-only or loopback setup."""
    turn_urls: list[str] = field(default_factory=list)
    """e.g. ``turn:turn.clinic.example:3478?transport=udp``."""
    turn_secret: str | None = None
    """coturn's ``static-auth-secret``; without it no TURN server is handed out."""
    turn_ttl_s: int = 6 * 3600
    """How long issued TURN credentials stay valid (covers a 2-hour session with margin)."""


def turn_credentials(
    secret: str, member_id: str, ttl_s: int, now: float | None = None
) -> tuple[str, str]:
    expiry = int((now if now is not None else time.time()) + ttl_s)
    username = f"{expiry}:{member_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers_for(config: IceConfig, member_id: str) -> list[IceServer]:
    servers: list[IceServer] = []
    if config.stun_urls:
        servers.append(IceServer(urls=list(config.stun_urls)))
    if config.turn_urls and config.turn_secret:
        username, credential = turn_credentials(config.turn_secret, member_id, config.turn_ttl_s)
        servers.append(
            IceServer(urls=list(config.turn_urls), username=username, credential=credential)
        )
    return servers
