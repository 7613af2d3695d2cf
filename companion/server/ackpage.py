"""The acknowledge page a notified person opens on their phone: ``GET /ack/<token>`` shows
one big button and changes nothing (link previews and scanners fetch links too);
``POST /ack/<token>`` is the answer. Each link is signed by the server, names one contact's
message in one round, works for an hour, and once.

No script, no outside resources: it works on any phone browser, and its content policy
lets it do nothing but post its own form. Its words are in the language the phone's
browser asks for (``Accept-Language``), unless the link names the message's own
(``?lang=es``: the support person's language, which the message was written in).
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from companion.i18n import N_, best_language, languages, translations
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.server.escalation import EscalationDriver
from companion.server.tokens import verify_ack

_log = logging.getLogger(__name__)

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",  # i18n: not words
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Companion</title>
<style>
body {{ font-family: sans-serif; background: #1d2127; color: #eef; margin: 0; padding: 8vw;
       font-size: 1.3rem; line-height: 1.5; }}
button {{ width: 100%; font-size: 1.5rem; padding: 1.2rem; border-radius: 0.6rem; border: 0;
         background: #8fd1a8; color: #102; }}
</style></head><body>
<main>{body}</main>
</body></html>
"""
ASK = (N_("Please check on the patient now."), N_("I am checking on them"))
PAGES: dict[str, tuple[str, str]] = {
    "done": (N_("Thank you"), N_("Everyone in the session now knows you are on your way.")),
    "already": (
        N_("Thank you"),
        N_("Someone has already answered. If you can, please check on the patient anyway."),
    ),
    "used": (N_("This link was already used"), N_("Each link works once.")),
    "expired": (N_("This link has expired"), N_("A newer message may have come.")),
    "invalid": (N_("This link is not valid"), ""),
}
"""Each answer's heading and line, in the language the phone's browser asks for."""


def _page(request: web.Request, page: str, status: int = 200) -> web.Response:
    # The message's language (``?lang=``, the support person's), else the phone's.
    asked = request.query.get("lang", "")
    lang = (
        asked
        if asked in languages()
        else best_language(
            request.headers.get("Accept-Language", "")  # i18n: not words
        )
    )
    say = translations(lang).gettext
    if page == "ask":
        body = (
            '<h1 id="ask">Companion</h1>\n'  # i18n: not words (the name; words below)
            f"<p>{html.escape(say(ASK[0]))}</p>\n"
            f'<form method="post"><button id="ack" type="submit">{html.escape(say(ASK[1]))}'
            "</button></form>"
        )
    else:
        heading, line = PAGES[page]
        body = f'<h1 id="{page}">{html.escape(say(heading))}</h1>' + (
            f"<p>{html.escape(say(line))}</p>" if line else ""
        )
    return web.Response(
        text=_PAGE.format(lang=lang, body=body),
        status=status,
        content_type="text/html",
        headers=HEADERS,
    )


class AckPages:
    def __init__(self, driver: EscalationDriver) -> None:
        self.driver = driver

    def register(self, app: web.Application) -> None:
        app.router.add_get("/ack/{token}", self.show)
        app.router.add_post("/ack/{token}", self.answer)

    def _check(self, request: web.Request, token: str) -> web.Response | None:
        try:
            verify_ack(self.driver.signer, token, self.driver.clock())
        except ProtocolError as exc:
            if exc.code == ErrorCode.TOKEN_EXPIRED:
                return _page(request, "expired", 410)
            return _page(request, "invalid", 403)
        return None

    async def show(self, request: web.Request) -> web.Response:
        refused = self._check(request, request.match_info["token"])
        return refused or _page(request, "ask")

    async def answer(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        refused = self._check(request, token)
        if refused is not None:
            _log.warning("acknowledge link refused (%d)", refused.status)
            return refused
        claims = verify_ack(self.driver.signer, token, self.driver.clock())
        if not self.driver.store.use_link(claims.link_id):
            return _page(request, "used", 410)
        running = await self.driver.link_pressed(claims)
        return _page(request, "done" if running else "already")
