"""The browser board's words, from the same gettext catalogues as the apps.

The board's messages are its JavaScript's ``_("…")`` / ``ngettext("…", "…", n)`` calls
(Babel's own JavaScript extractor) and the words of its page (``extract_html`` below, named
in ``babel.cfg`` so ``script/translations update`` puts them in the catalogue). The server
serves each language's translations of exactly those messages as JSON
(``/board/messages/<lang>.json``): no second dictionary kept by hand.

In the page, every text with a word in it is a message (whitespace folded to single
spaces), and so are the ``placeholder``, ``aria-label`` and ``title`` attributes; an
element marked ``translate="no"`` is left as it is (a name, a unit).
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Collection, Iterator, Mapping
from html.parser import HTMLParser
from importlib import resources
from typing import IO, Any

from babel.messages.extract import DEFAULT_KEYWORDS, extract_javascript

from companion.i18n import language_name, languages, translations
from companion.protocol.errors import ERROR_MESSAGES

ATTRIBUTES = ("placeholder", "aria-label", "title")
"""The attributes a person reads (or hears from a screen reader)."""
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_SKIP = frozenset({"script", "style"})


def fold(text: str) -> str:
    """Whitespace as the page's script folds it: one space, none at the ends."""
    return _SPACE.sub(" ", text).strip()


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._open: list[tuple[str, bool]] = []  # (tag, words inside are left as they are)

    def _left(self) -> bool:
        return any(skip for _tag, skip in self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = values.get("translate") == "no" or tag in _SKIP
        if not (skip or self._left()):
            for name in ATTRIBUTES:
                text = fold(values.get(name) or "")
                if _WORD.search(text):
                    self.found.append((self.getpos()[0], text))
        if tag not in _VOID:
            self._open.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        text = fold(data)
        if text and not self._left() and _WORD.search(text):
            self.found.append((self.getpos()[0], text))


def extract_html(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel's extraction method for the board's page (``babel.cfg``)."""
    parser = _Words()
    parser.feed(fileobj.read().decode(str(options.get("encoding", "utf-8"))))
    parser.close()
    for line, text in parser.found:
        yield line, None, text, []


MessageId = str | tuple[str, str]


def _board_files() -> list[tuple[str, bytes]]:
    folder = resources.files("companion.server").joinpath("board")
    return sorted(
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.name.endswith((".js", ".html"))
    )


@functools.cache
def board_message_ids() -> tuple[MessageId, ...]:
    """Every message the board shows, as Babel extracts it from its files, and the
    server's error messages (a refused join shows the server's words, ``_(m.message)``)."""
    found: dict[MessageId, None] = dict.fromkeys(ERROR_MESSAGES.values())
    for name, data in _board_files():
        method = extract_javascript if name.endswith(".js") else extract_html
        messages: list[object] = [
            found_message
            for _line, _func, found_message, _comments in method(
                io.BytesIO(data), DEFAULT_KEYWORDS, (), {}
            )
        ]
        for message in messages:
            if isinstance(message, str):
                found[message] = None
            elif isinstance(message, tuple) and len(message) == 2 and all(message):
                found[(str(message[0]), str(message[1]))] = None
    return tuple(found)


@functools.cache
def board_messages(lang: str) -> dict[str, Any]:
    """``lang``'s words for the board: ``messages`` (English id -> words) and ``plurals``
    (the English singular -> the forms for one and for many), with the language list for
    the board's picker."""
    say = translations(lang)
    messages: dict[str, str] = {}
    plurals: dict[str, list[str]] = {}
    for message in board_message_ids():
        if isinstance(message, str):
            messages[message] = say.gettext(message)
        else:
            singular, plural = message
            plurals[singular] = [
                say.ngettext(singular, plural, 1),
                say.ngettext(singular, plural, 2),
            ]
    return {
        "language": lang,
        "languages": [{"code": code, "name": language_name(code)} for code in languages()],
        "messages": messages,
        "plurals": plurals,
    }
