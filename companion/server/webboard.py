"""The support person's board as a web page, served by the clinic server itself.

Plain HTML, CSS and JavaScript modules (``companion/server/board/``, package data): no
build step, nothing from another origin. The page joins the session with the support
invite carried in its address's fragment (``/board#invite=…``: a fragment never reaches
the server or its logs) and speaks the same protocol as the apps (docs/protocol.md,
"The support person's board in a browser").
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote

from aiohttp import web
from yarl import URL

from companion.i18n import languages
from companion.server.boardwords import board_messages

BOARD_PATH = "/board"
_FILES = {
    "board.css": "text/css",
    "board.js": "text/javascript",
    "wire.js": "text/javascript",
    "homelink.js": "text/javascript",
    "i18n.js": "text/javascript",
}
_HEADERS = {
    # Only our own scripts, styles and WebSocket; no framing, no referrer leaking the page.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def board_link(public_ws_url: str, invite_token: str) -> str:
    """The web address that opens the board with this invite: the page beside the
    server's WebSocket (``wss://h/ws`` -> ``https://h/board``), the token in the fragment."""
    url = URL(public_ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(url.scheme, url.scheme)
    base = url.with_scheme(scheme).with_query(None).with_fragment(None)
    path = base.path.rsplit("/", 1)[0] + BOARD_PATH
    return f"{base.with_path(path)}#invite={quote(invite_token, safe='.-_~')}"


def _read(name: str) -> bytes:
    return resources.files("companion.server").joinpath("board", name).read_bytes()


async def _page(_request: web.Request) -> web.Response:
    return web.Response(
        body=_read("index.html"), content_type="text/html", charset="utf-8", headers=_HEADERS
    )


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = _FILES.get(name)
    if kind is None:
        raise web.HTTPNotFound()
    return web.Response(body=_read(name), content_type=kind, charset="utf-8", headers=_HEADERS)


async def _messages(request: web.Request) -> web.Response:
    """A language's words for the board, from the gettext catalogue (boardwords.py)."""
    lang = request.match_info["lang"]
    if lang not in languages():
        raise web.HTTPNotFound()
    return web.json_response(board_messages(lang), headers=_HEADERS)


def add_board_routes(app: web.Application) -> None:
    app.router.add_get(BOARD_PATH, _page)
    app.router.add_get(BOARD_PATH + "/messages/{lang}.json", _messages)
    app.router.add_get(BOARD_PATH + "/{name}", _asset)
