"""The catalogues against the code: every user-facing literal marked, every marked message
translated in every language, and the same placeholders in each translation."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from companion import i18n
from tests.i18n.scan import (
    ROOT,
    Finding,
    is_words,
    scan_file,
    scan_js,
    unmarked,
    unmarked_js,
)

LANGUAGES = [lang for lang in i18n.languages() if lang != i18n.SOURCE_LANGUAGE]


def _catalogue(lang: str) -> Catalog:
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po").open("rb") as f:
        return read_po(f, locale=lang)


def _extracted() -> set[str | tuple[str, ...]]:
    """What Babel's extractor finds in the package now, by ``babel.cfg`` as
    ``script/translations`` does: the Python, and the browser board's script and page."""
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "companion"), method_map=method_map, options_map=options_map
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_spanish_is_there() -> None:
    assert "es" in LANGUAGES


@pytest.mark.parametrize("scan", [unmarked, unmarked_js], ids=["python", "board-script"])
def test_no_user_facing_literal_is_left_unmarked(scan: Callable[[], list[Finding]]) -> None:
    left = scan()
    assert not left, "mark these with _() (or N_() in a table):\n" + "\n".join(map(str, left))


def test_the_scan_sees_what_it_should(tmp_path: Path) -> None:
    # The scan itself: words are caught where they are shown, not where they are ids.
    source = tmp_path / "sample.py"
    source.write_text(
        "import logging\n_log = logging.getLogger(__name__)\n"
        "def build(label, name):\n"
        '    """A docstring is for developers."""\n'
        '    label.setText("Your therapist is with you")\n'
        '    label.setToolTip(f"Hello {name}")\n'
        '    label.setText(_("Marked words"))\n'
        '    label.setStyleSheet("color: #fff; font-size: 12pt;")\n'
        '    _log.info("link state %s", name)\n'
        '    label.setObjectName("status")\n'
        '    return {"Key words": 1}["Key words"]\n',
        encoding="utf-8",
    )
    found = scan_file(source)
    assert [f.text for f in found] == ["Your therapist is with you", "Hello "]
    assert is_words("Connected") and is_words("I'm OK")
    assert not is_words("connected") and not is_words("%H:%M") and not is_words("text/plain")


def test_the_board_scan_and_extraction_see_what_they_should(tmp_path: Path) -> None:
    from companion.server.boardwords import extract_html

    script = tmp_path / "sample.js"
    script.write_text(
        'const WORDS = { lost: N_("Therapist disconnected") };\n'
        '$("state").textContent = "Connection hiccup";\n'
        '$("call").textContent = `Since ${when}. Press the button`;\n'
        'console.warn("refused an event over the home link");\n'
        'if (e.key === "Escape") close();\n'
        '$("x").textContent = _("Marked words");\n',
        encoding="utf-8",
    )
    assert [f.text for f in scan_js(script)] == [
        "Connection hiccup",
        "Since  . Press the button",
    ]
    page = (
        b"<html><head><title>Companion \xe2\x80\x94 board</title></head><body>\n"
        b'<label>Upper (systolic)<br><span translate="no">mmHg</span></label>\n'
        b'<input placeholder="Code or link"><p id="x">  Two\n   lines  </p><p>42</p>'
        b'<script>ignored("words here")</script></body></html>'
    )
    import io

    found = [m for _line, _f, m, _c in extract_html(io.BytesIO(page), {}, (), {})]
    assert found == ["Companion — board", "Upper (systolic)", "Code or link", "Two lines"]


def test_the_board_is_given_each_languages_words() -> None:
    """What /board/messages/<lang>.json serves: every message the board shows, each
    translated (the catalogue test above fails first for one that is not)."""
    from companion.server.boardwords import board_message_ids, board_messages

    ids = board_message_ids()
    assert "Please go to the patient now" in ids and "Upper (systolic)" in ids
    assert "Last check-in: {ago}" in ids and "I'm with the patient" in ids
    for lang in LANGUAGES:
        words = board_messages(lang)
        assert words["language"] == lang
        assert {w["code"] for w in words["languages"]} == set(i18n.languages())
        same = [m for m, said in words["messages"].items() if m == said and is_words(m)]
        assert same == [], f"{lang}: the board would show these in English: {same}"


def test_the_boards_formats_are_given_their_placeholders() -> None:
    """``format(_("… {name} …"), { name })`` in the board: the same check as the Python's
    ``.format(name=…)`` below (a renamed field would show "{name}" to the person)."""
    from tests.i18n.scan import BOARD

    call = re.compile(r'format\(_\("((?:[^"\\]|\\.)*)"\),\s*\{([^}]*)\}')
    wrong, seen = [], 0
    for path in sorted(BOARD.glob("*.js")):
        for match in call.finditer(path.read_text(encoding="utf-8")):
            seen += 1
            wanted = {name for _l, name, _s, _c in string.Formatter().parse(match[1]) if name}
            given = {part.split(":")[0].strip() for part in match[2].split(",") if part.strip()}
            if wanted != given:
                wrong.append(f"{path.name}: {match[1]!r}: {sorted(wanted)} ≠ {sorted(given)}")
    assert seen >= 8 and not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    catalogue = _catalogue(lang)
    have = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalogue if m.id}
    missing = sorted(map(str, _extracted() - set(have)))
    assert not missing, f"{lang}: not in the catalogue (run script/translations update):\n" + (
        "\n".join(missing)
    )
    empty = sorted(
        str(key)
        for key, m in have.items()
        if m.fuzzy or (not all(m.string) if isinstance(m.string, tuple) else not m.string)
    )
    assert not empty, f"{lang}: untranslated or fuzzy:\n" + "\n".join(empty)


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def placeholders(text: str) -> list[str]:
    """``{name}`` fields (with conversion and spec) and ``%s``/``%(n)d`` specifiers."""
    fields = sorted(
        f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
        for _lit, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    )
    return fields + sorted(m for m in _PERCENT.findall(text) if m != "%%")


def test_placeholders_are_read() -> None:
    assert placeholders("{n} of {total:.1f} · %s %(n)d") == ["{n}", "{total:.1f}", "%(n)d", "%s"]
    assert placeholders("{a}/{b}") != placeholders("{a}/{c}")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_the_english(lang: str) -> None:
    wrong = []
    for m in _catalogue(lang):
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string or ())
        want = placeholders(ids[-1])  # a plural's forms each match the English plural
        for translated in strings:
            if translated and placeholders(translated) != want:
                wrong.append(f"{ids[0]!r} → {translated!r}")
    assert not wrong, f"{lang}: placeholders differ:\n" + "\n".join(wrong)


def test_every_marked_format_is_given_its_placeholders() -> None:
    """``_("… {name} …").format(name=…)``: a placeholder renamed on one side only would
    fail at the moment the words are shown (a KeyError on a person's screen)."""
    import ast

    from tests.i18n.scan import MARKERS, scanned_files

    wrong = []
    for path in scanned_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Call)
                and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id in MARKERS
                and node.func.value.args
                and isinstance(node.func.value.args[0], ast.Constant)
            ):
                continue
            if node.args or any(k.arg is None for k in node.keywords):
                continue  # positional or **kwargs: not checked here
            text = str(node.func.value.args[0].value)
            wanted = {
                re.split(r"[.\[]", name)[0]
                for _lit, name, _spec, _conv in string.Formatter().parse(text)
                if name
            }
            given = {k.arg or "" for k in node.keywords}
            if wanted != given:
                wrong.append(f"{path.name}:{node.lineno}: {sorted(wanted)} ≠ {sorted(given)}")
    assert not wrong, "\n".join(wrong)
