"""The TURN relay: does an Allocate get through from this network."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from dataclasses import dataclass
from typing import Any

from companion.i18n import _
from companion.selftest.report import CheckResult, Verdict


@dataclass(frozen=True)
class TurnTarget:
    host: str
    port: int
    transport: str = "udp"
    secure: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port} ({self.transport}{', TLS' if self.secure else ''})"


def parse_turn_url(
    url: str, username: str | None = None, password: str | None = None
) -> TurnTarget:
    """``turn:host[:port][?transport=udp|tcp]`` or ``turns:…`` (RFC 7065)."""
    scheme, sep, rest = url.strip().partition(":")
    if not sep or scheme not in ("turn", "turns"):
        raise ValueError("a TURN address starts with turn: or turns:")
    secure = scheme == "turns"
    rest = rest.removeprefix("//")
    hostport, _sep, query = rest.partition("?")
    transport = urllib.parse.parse_qs(query).get("transport", ["tcp" if secure else "udp"])[0]
    if transport not in ("udp", "tcp"):
        raise ValueError("transport must be udp or tcp")
    if hostport.startswith("["):
        host, _sep, port_text = hostport[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _sep, port_text = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if not host:
        raise ValueError("no host")
    port = int(port_text) if port_text else (5349 if secure else 3478)
    return TurnTarget(host, port, transport, secure, username, password)


def turn_from_health(health: dict[str, Any]) -> TurnTarget | None:
    """A TURN server (with credentials) from the server's answer, when it hands one out."""
    servers = health.get("ice_servers")
    if not isinstance(servers, list):
        return None
    for server in servers:
        if not isinstance(server, dict):
            continue
        urls = server.get("urls")
        for url in [urls] if isinstance(urls, str) else urls or []:
            if isinstance(url, str) and url.startswith("turn"):
                with contextlib.suppress(ValueError):
                    return parse_turn_url(url, server.get("username"), server.get("credential"))
    return None


async def check_turn(target: TurnTarget | None, timeout_s: float = 6.0) -> CheckResult:
    """A TURN Allocate (aioice). Without credentials, the relay's "401: who are you?"
    still proves it is reachable from here, which is what a home network can break."""
    name = _("Relay (TURN)")
    if target is None:
        return CheckResult(
            name,
            Verdict.NOT_CONFIGURED,
            _("No relay address was given, so it was not checked."),
            _(
                "That is fine: the app gets the relay from your clinic when you join. To check "
                "it now, run this again with --turn and the address your clinic gave you."
            ),
        )
    import ssl

    from aioice import stun
    from aioice.turn import TurnTransport, create_turn_endpoint

    context = ssl.create_default_context() if target.secure else None
    transport: TurnTransport | None = None
    try:
        turn_transport, _protocol = await asyncio.wait_for(
            create_turn_endpoint(
                asyncio.DatagramProtocol,
                (target.host, target.port),
                target.username,
                target.password,
                lifetime=60,
                ssl=context if context is not None else False,
                transport=target.transport,
            ),
            timeout_s,
        )
        transport = turn_transport
    except stun.TransactionFailed as exc:
        code = int(exc.response.attributes.get("ERROR-CODE", (0, ""))[0])
        if code == 401 and target.username is None:
            return CheckResult(
                name,
                Verdict.OK,
                _(
                    "The relay at {label} answered (it asks for the credentials the app gets when you join, as it should)."
                ).format(label=target.label),
            )
        if code in (401, 403, 438):
            return CheckResult(
                name,
                Verdict.FAILED,
                _("The relay at {label} answered but refused our credentials.").format(
                    label=target.label
                ),
                _(
                    "The credentials may have expired: run this check again from a fresh invite, "
                    "or let your clinic know."
                ),
            )
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The relay at {label} answered with an error ({code}).").format(
                label=target.label, code=code
            ),
            _(
                "This is on the clinic's side; let your clinic know. Calls may still connect directly."
            ),
        )
    except (TimeoutError, stun.TransactionTimeout, OSError, ConnectionError, ValueError):
        return CheckResult(
            name,
            Verdict.FAILED,
            _("Could not reach the relay at {label}.").format(label=target.label),
            _(
                "Calls may still connect directly. If your network blocks it (some work, school or hotel networks do), try from home, or let your clinic know that port {port} ({value}) seems blocked."
            ).format(port=target.port, value=target.transport.upper()),
        )
    finally:
        if transport is not None:
            transport.close()
    return CheckResult(
        name,
        Verdict.OK,
        _(
            "The relay at {label} works: it gave us a relayed address, so calls get through even behind a strict router."
        ).format(label=target.label),
    )
