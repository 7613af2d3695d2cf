"""The acknowledge page a notified person opens on their phone: ``GET /ack/<token>`` shows
one big button and changes nothing (link previews and scanners fetch links too);
``POST /ack/<token>`` is the answer. Each link is signed by the server, names one contact's
message in one round, works for an hour, and once.

No script, no outside resources: it works on any phone browser, and its content policy
lets it do nothing but post its own form.
"""

from __future__ import annotations

import logging

from aiohttp import web

from companion.protocol.errors import ErrorCode, ProtocolError
from companion.server.escalation import EscalationDriver
from companion.server.tokens import verify_ack

_log = logging.getLogger(__name__)

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
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
ASK = """<h1 id="ask">Companion</h1>
<p>Please check on the patient now.</p>
<form method="post"><button id="ack" type="submit">I am checking on them</button></form>"""
DONE = '<h1 id="done">Thank you</h1><p>Everyone in the session now knows you are on your way.</p>'
ALREADY = (
    '<h1 id="already">Thank you</h1><p>Someone has already answered. '
    "If you can, please check on the patient anyway.</p>"
)
USED = '<h1 id="used">This link was already used</h1><p>Each link works once.</p>'
EXPIRED = '<h1 id="expired">This link has expired</h1><p>A newer message may have come.</p>'
INVALID = '<h1 id="invalid">This link is not valid</h1>'


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(body=body), status=status,
                        content_type="text/html", headers=HEADERS)  # fmt: skip


class AckPages:
    def __init__(self, driver: EscalationDriver) -> None:
        self.driver = driver

    def register(self, app: web.Application) -> None:
        app.router.add_get("/ack/{token}", self.show)
        app.router.add_post("/ack/{token}", self.answer)

    def _check(self, token: str) -> web.Response | None:
        try:
            verify_ack(self.driver.signer, token, self.driver.clock())
        except ProtocolError as exc:
            if exc.code == ErrorCode.TOKEN_EXPIRED:
                return _page(EXPIRED, 410)
            return _page(INVALID, 403)
        return None

    async def show(self, request: web.Request) -> web.Response:
        refused = self._check(request.match_info["token"])
        return refused or _page(ASK)

    async def answer(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        refused = self._check(token)
        if refused is not None:
            _log.warning("acknowledge link refused (%d)", refused.status)
            return refused
        claims = verify_ack(self.driver.signer, token, self.driver.clock())
        if not self.driver.store.use_link(claims.link_id):
            return _page(USED, 410)
        running = await self.driver.link_pressed(claims)
        return _page(DONE if running else ALREADY)
