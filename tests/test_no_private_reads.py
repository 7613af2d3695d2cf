"""Tests see the app's state through its public views, as the windows and a person do
(issue 23, item 5): a test that reads ``thing._private`` pins the inside of a class and
breaks when the inside is tidied. Read from the source (``ast``; nothing is imported).

``self._x`` and ``cls._x`` (a test helper's own state) are fine. The allow-list is for
what no public view should offer: fault injection (a forged message, a stalled socket, a
device unplugged) and third-party insides (aiortc, aioice, aiohttp). Each place also says
why in a comment on its line."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tests", "devtools")

ALLOWED = {
    # fault injection: a forged message, a stalled socket, a device unplugged, a crash
    ("tests/audio/scenarios.py", "_device"),
    ("tests/audio/scenarios.py", "_stream"),
    ("tests/call/mic_unplug_probe.py", "_stream"),
    ("tests/board/test_homelink.py", "_channel"),
    ("tests/board/test_board.py", "_transport"),
    ("tests/server/test_hostile.py", "_transport"),
    ("tests/server/test_escalation.py", "_conn"),
    ("tests/security/test_hostile_member.py", "_send_on"),
    ("tests/security/test_hostile_member.py", "_channel"),
    ("tests/security/test_hostile_member.py", "_send_raw"),
    ("tests/journeys/test_patient_journeys.py", "_request"),
    ("tests/monitor/test_watch.py", "_seq"),
    ("tests/ui/test_confusers.py", "_on_call_state"),
    ("tests/ui/test_confusers.py", "_on_event"),
    ("tests/call/conftest.py", "_connection"),  # aioice's sockets closed: an end gone silent
    ("tests/call/conftest.py", "_protocols"),
    # third-party insides: aioice's candidates and pair, aiohttp's socket, keyring's backend
    ("tests/ui/test_no_modal.py", "_keyring_backend"),
    ("tests/board/test_homelink.py", "_connection"),
    ("tests/call/turn_peer.py", "_connection"),
    ("tests/call/turn_peer.py", "_nominated"),
    ("tests/server/test_bad_input.py", "_response"),
    ("tests/server/test_hostile.py", "_response"),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _named(node: ast.Call) -> str:
    """The attribute a ``getattr(x, "_name")`` or ``monkeypatch.setattr(x, "_name", …)``
    names, else ""."""
    func = node.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    if called not in ("getattr", "setattr", "delattr", "hasattr") or len(node.args) < 2:
        return ""
    name = node.args[1]
    return name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else ""


def private_reads(source: str) -> list[tuple[int, str]]:
    """(line, attribute) for each ``x._name`` where ``x`` is not ``self`` or ``cls``, and
    each such name given to ``getattr``/``setattr`` (``monkeypatch`` too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _private(name := _named(node)):
            found.append((node.lineno, name))
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append((node.lineno, node.attr))
    return sorted(found)


def test_no_test_reads_a_private_attribute_outside_the_allow_list() -> None:
    seen: set[tuple[str, str]] = set()
    wrong = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, name in private_reads(path.read_text()):
                if (relative, name) in ALLOWED:
                    seen.add((relative, name))
                else:
                    wrong.append(f"{relative}:{line} reads {name}")
    assert wrong == []
    assert ALLOWED - seen == set(), "allowed, no longer read: take it off the list"


def test_the_scan_sees_a_private_read_and_leaves_a_helpers_own_state() -> None:
    source = (
        "class Probe:\n"
        "    def look(self, window):\n"
        "        self._mine = window._last_checkin\n"
        "        return self.engine._taps, window.__class__, self._mine.public\n"
        "    def poke(self, monkeypatch, core):\n"
        "        monkeypatch.setattr(core, '_clock', None); getattr(core, 'facts')\n"
    )
    assert private_reads(source) == [(3, "_last_checkin"), (4, "_taps"), (6, "_clock")]
