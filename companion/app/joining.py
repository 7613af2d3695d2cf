"""Joining a session with a link or a code, shared by the patient's and the support
person's apps: the server the app knows, a fresh connection on every try, and an
answer within a few seconds — in, or one plain sentence why not.

Qt-free on purpose (the windows show the sentence); nothing here logs the code.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import TYPE_CHECKING

from companion.app.clinic import normalize_server, remember_server
from companion.app.words import error_words
from companion.i18n import N_, _
from companion.protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from companion.app.core import RoleCore

_log = logging.getLogger(__name__)

JOIN_WITHIN_S = 5.0
"""A join attempt gets an answer (in, or a plain sentence why not) within this."""
ANSWER_WITHIN_S = 15.0
"""A server that welcomed us answers a code within this (a missing, wrong or silent server
is told within ``JOIN_WITHIN_S``)."""
RELAUNCH_WITHIN_S = 20.0
"""After a restart the server may hold the old place for a few seconds: wait that long."""
WHAT_TO_DO = N_("Check the code, or ask your therapist for a new one.")
NO_SERVER = N_(
    "This app does not know your clinic's server yet. Open the link your therapist sent "
    "you once (it carries the address), or type the server address below."
)
BAD_SERVER = N_(
    "That server address does not look right: it looks like wss://clinic.example/ws. "
    "Check it with your therapist."
)
UNREACHABLE = N_(
    "The clinic's server could not be reached. Check your internet connection and try "
    "again in a moment."
)


def invite_from_link(text: str) -> str:
    """The token or short code inside ``companion://join?invite=…``, an https link with
    ``invite=…``, or the code as typed (spaces and dashes read over the phone are fine)."""
    text = text.strip()
    if "invite=" in text:
        query = urllib.parse.urlparse(text).query or text.split("?", 1)[-1]
        values = urllib.parse.parse_qs(query).get("invite")
        if values:
            return values[0]
    if len(text) <= 16:
        return text.replace(" ", "").replace("-", "").upper()
    return text


def link_details(text: str) -> tuple[str | None, str | None]:
    """(server URL, role) named in an invite link; (None, None) for a bare code."""
    if "://" not in text or "?" not in text:
        return None, None
    query = urllib.parse.parse_qs(urllib.parse.urlparse(text.strip()).query)
    server = query.get("server", [None])[0]
    role = query.get("role", [None])[0]
    return server, role if role in ("patient", "support") else None


def what_to_do(error: ProtocolError) -> str:
    """The server's plain sentence, then what to do (without saying the same twice), in
    this app's language (read from the English the code stands for)."""
    lower = error.message.lower()
    if "therapist for a new one" in lower:
        then = _("If you typed a code, check it too.")
    elif "check it" in lower:
        then = _("If it still does not work, ask your therapist for a new one.")
    else:
        then = _(WHAT_TO_DO)
    return f"{error_words(error)}\n{then}"


class JoinRefused(Exception):
    """Not in: ``sentence`` says why, in plain words."""

    def __init__(self, sentence: str, ask_server: bool = False, forget: bool = False) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.ask_server = ask_server
        """The server address may be what is wrong: show its field."""
        self.forget = forget
        """The server refused this invite for good (ended, revoked, wrong)."""


async def close_quietly(core: RoleCore | None, within_s: float = 3.0) -> None:
    if core is not None:
        try:
            await asyncio.wait_for(core.close(), within_s)
        except Exception as exc:  # closing anyway: say what went wrong, not hide it
            _log.warning("closing the app core failed: %s", type(exc).__name__)


async def join_fresh(
    made: RoleCore, code: str, typed_server: str, within_s: float = JOIN_WITHIN_S
) -> RoleCore:
    """Connect a new core and join with ``code`` (a link names its own server; else the
    one typed, else the one ``made`` was made with). Raises ``JoinRefused``."""
    known = made.server_urls[0] if made.server_urls else ""
    server = link_details(code)[0] or typed_server.strip() or known
    if not server:
        raise JoinRefused(_(NO_SERVER), ask_server=True)
    url = normalize_server(server)
    if url is None:
        raise JoinRefused(_(BAD_SERVER), ask_server=True)
    core = made if url in made.server_urls else made.on_server(url)
    try:
        async with asyncio.timeout(within_s):
            await core.connect()  # a server that welcomes us: the right one, reachable
        # Its answer to the code may take longer on a busy computer (connecting alone took
        # 2.4 s under load, and a join in time was told "cannot reach"): still bounded.
        async with asyncio.timeout(ANSWER_WITHIN_S):
            await core.join(code, retry_in_use_s=max(0.0, within_s - 1.5))
    except ProtocolError as exc:
        await close_quietly(core)
        raise JoinRefused(what_to_do(exc), forget=exc.code is not ErrorCode.INVITE_IN_USE) from exc
    except Exception as exc:  # unreachable, refused, a bad address, silence: one sentence
        _log.info("join failed: %s", type(exc).__name__)
        await close_quietly(core)
        raise JoinRefused(_(UNREACHABLE), ask_server=True) from exc
    await asyncio.to_thread(remember_server, made.options.data_dir, url)
    return core
