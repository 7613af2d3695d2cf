"""The clinic server: is its health address reachable and ready from here."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from companion.i18n import _
from companion.selftest.report import CheckResult, Verdict


def healthz_url(server: str) -> str:
    """The server's health address from what a person may have: ``wss://…/ws``,
    ``https://…``, or an invite link ``companion://join?server=…``."""
    server = server.strip()
    if server.startswith("companion:"):
        query = urllib.parse.urlsplit(server).query
        found = urllib.parse.parse_qs(query).get("server")
        if not found:
            raise ValueError("this invite link names no server")
        server = found[0]
    if "://" not in server:
        server = f"https://{server}"
    parts = urllib.parse.urlsplit(server)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not a server address")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/ws").removesuffix("/healthz")
    return urllib.parse.urlunsplit((scheme, parts.netloc, f"{path}/healthz", "", ""))


@dataclass
class ServerAnswer:
    result: CheckResult
    health: dict[str, Any] = field(default_factory=dict)


async def check_server(server: str | None, timeout_s: float = 8.0) -> ServerAnswer:
    """``GET /healthz`` on the clinic server."""
    name = _("Clinic server")
    if not server:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.NOT_CONFIGURED,
                _("No clinic server was given, so it was not checked."),
                _(
                    "To check it too, run this again with --server and the address from your "
                    "invite (or your whole invite link)."
                ),
            )
        )
    try:
        url = healthz_url(server)
    except ValueError:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.FAILED,
                _("That does not look like a server address."),
                _(
                    "Copy the address (or the whole invite link) from your clinic's message "
                    "exactly, and run this check again."
                ),
            )
        )
    import aiohttp

    host = urllib.parse.urlsplit(url).hostname or _("the server")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            status = response.status
            try:
                body = await response.json(content_type=None)
            except (ValueError, aiohttp.ClientError):
                body = None
    except aiohttp.ClientConnectorCertificateError:
        return ServerAnswer(_server_failed(host, "certificate"))
    except aiohttp.ClientConnectorDNSError:
        return ServerAnswer(_server_failed(host, "dns"))
    except (aiohttp.ClientConnectorError, ConnectionError):
        return ServerAnswer(_server_failed(host, "refused"))
    except TimeoutError:
        return ServerAnswer(_server_failed(host, "timeout"))
    except aiohttp.ClientError:
        return ServerAnswer(_server_failed(host, "other"))
    health = body if isinstance(body, dict) else {}
    if status == 200 and health.get("status") == "ok":
        version = str(health.get("version", "?"))[:20]
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.OK,
                _("{host} answered and is ready (version {version}).").format(
                    host=host, version=version
                ),
            ),
            health,
        )
    if status == 503:
        return ServerAnswer(
            CheckResult(
                name,
                Verdict.FAILED,
                _("{host} answered, but it is not ready right now.").format(host=host),
                _(
                    "This is on the clinic's side. Try again in a few minutes; if it stays like "
                    "this, let your clinic know."
                ),
            ),
            health,
        )
    return ServerAnswer(
        CheckResult(
            name,
            Verdict.FAILED,
            _("{host} answered, but not like a Companion server (HTTP {status}).").format(
                host=host, status=status
            ),
            _(
                "Check the address against your clinic's message; if it is right, let your "
                "clinic know."
            ),
        ),
        health,
    )


def _server_failed(host: str, why: str) -> CheckResult:
    detail, advice = {
        "dns": (
            _("The address {host} could not be found.").format(host=host),
            _(
                "Check that you are online (open any web page) and that the address matches "
                "your clinic's message exactly."
            ),
        ),
        "refused": (
            _("Could not reach {host}: nothing answered there.").format(host=host),
            _(
                "Check that you are online (open any web page). If you are, the clinic's server "
                "may be down: let your clinic know."
            ),
        ),
        "timeout": (
            _("{host} did not answer in time.").format(host=host),
            _(
                "Your connection may be slow, or a firewall (at work, in a hotel) may block it. "
                "Try from your home network, or let your clinic know."
            ),
        ),
        "certificate": (
            _("The connection to {host} is not secure (its certificate was not accepted).").format(
                host=host
            ),
            _("Please do not continue on this network; let your clinic know."),
        ),
        "other": (
            _("The connection to {host} failed.").format(host=host),
            _(
                "Check that you are online and run this check again; if it still fails, let "
                "your clinic know."
            ),
        ),
    }[why]
    return CheckResult(_("Clinic server"), Verdict.FAILED, detail, advice)
