"""Which part of ``companion`` imports which: one line per subpackage (or top-level
module) with the parts it imports, read from the source with ``ast`` (nothing is run).

``python benchmarks/import_graph.py [--ui]``; ``--ui`` also lists, for each module under
``companion/ui``, the companion modules it imports. The last line is one JSON object.
"""

from __future__ import annotations

import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "companion"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module a file imports by absolute name (at any depth: lazy imports inside
    functions and ``TYPE_CHECKING`` blocks count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules() -> dict[str, set[str]]:
    """Each ``companion`` module and what it imports."""
    return {module_name(path): imported(path) for path in sorted(ROOT.rglob("*.py"))}


def part(module: str) -> str:
    """``companion.app.core`` → ``app``; ``companion.cli`` → ``cli``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "companion"


def graph(every: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which part of ``companion`` imports which."""
    parts: dict[str, set[str]] = defaultdict(set)
    for name, targets in every.items():
        ours = {part(t) for t in targets if t.split(".")[0] == "companion"}
        parts[part(name)].update(ours - {part(name)})
    return parts


def main() -> None:
    every = modules()
    parts = graph(every)
    for name in sorted(parts):
        print(f"{name:10} -> {', '.join(sorted(parts[name])) or '(nothing)'}")
    if "--ui" in sys.argv:
        print()
        for name, targets in sorted(every.items()):
            if name.startswith("companion.ui"):
                outside = sorted(
                    t for t in targets if t.startswith("companion") and part(t) != "ui"
                )
                print(f"{name:32} -> {', '.join(outside) or '(nothing)'}")
    print(json.dumps({name: sorted(t) for name, t in sorted(parts.items())}))


if __name__ == "__main__":
    main()
