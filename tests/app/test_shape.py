"""The shape of the house, read from the source (``ast``; nothing is imported): the
windows' one door is the app core, and the core imports no Qt."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "import_graph.py"
UI_MAY_IMPORT = ("companion.app", "companion.protocol", "companion.ui", "companion.i18n")
"""Besides Qt and the standard library: the app core, the protocol's types, itself, and the
words' catalogues (one language per process, shared by the windows and the core)."""
QT = ("PySide6", "shiboken6", "qasync")
QT_ALLOWED = ("companion.ui", "companion.selftest")
"""The windows; and the self-test, which checks that the built app can draw a widget."""


def _graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_windows_import_only_the_app_core_and_protocol_types() -> None:
    wrong = {
        module: sorted(
            t for t in targets if t.startswith("companion") and not _within(t, UI_MAY_IMPORT)
        )
        for module, targets in _graph().modules().items()
        if _within(module, ("companion.ui",))
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_core_imports_no_qt() -> None:
    wrong = {
        module: sorted(t for t in targets if _within(t, QT))
        for module, targets in _graph().modules().items()
        if not _within(module, QT_ALLOWED)
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_scan_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from companion.call.media import LocalMedia\n"
        "def f() -> None:\n    import PySide6.QtCore\n"
    )
    found = _graph().imported(source)
    assert {"companion.call.media", "PySide6.QtCore"} <= found


def test_benchmarks_and_devtools_import_nothing_from_the_tests() -> None:
    """What a benchmark and a test share (the simulated room, the playout simulator, the
    network lab) lives in ``devtools/``: ``tests/`` is not a library."""
    root = _SCRIPT.parents[1]
    graph = _graph()
    wrong = {
        path.relative_to(root).as_posix(): sorted(t for t in found if _within(t, ("tests",)))
        for folder in ("benchmarks", "devtools")
        for path in sorted((root / folder).glob("*.py"))
        if (found := graph.imported(path))
    }
    assert {p: t for p, t in wrong.items() if t} == {}


def test_the_formatter_formats_everything() -> None:
    """Issue 23: 385 lines told the formatter to keep away (a hand layout each); now it
    formats every line, and a new exemption fails here."""
    root = _SCRIPT.parents[1]
    pragmas = ("fmt: " + "skip", "fmt: " + "off")
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("companion", "tests", "benchmarks", "devtools", "tools")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(pragma in line for pragma in pragmas)
    ]
    assert found == []
