"""What a screen reader reads: every showing accessible object of every application on
this session's accessibility bus, as one JSON list on stdout.

Runs under the system Python (Debian ``python3-gi`` + ``gir1.2-atspi-2.0``), not the
project's virtualenv: ``/usr/bin/python3 a11y_dump.py``. DISPLAY and
DBUS_SESSION_BUS_ADDRESS name the desktop to read. Each object: its application, role,
accessible name, description, text (labels and fields), states and screen extents.
"""

import json
import sys
import warnings
from typing import Any

warnings.simplefilter("ignore")

import gi  # type: ignore[import-not-found]  # noqa: E402

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # type: ignore[import-not-found]  # noqa: E402

STATES = ("showing", "visible", "focused", "enabled", "checked", "editable", "modal")
MAX_NODES = 3000


def text_of(node: Any) -> str:
    try:
        iface = node.get_text_iface()
        if iface is None:
            return ""
        return str(iface.get_text(0, iface.get_character_count()) or "")
    except Exception:
        return ""


def walk(app_name: str, node: Any, path: str, out: list[dict[str, Any]]) -> None:
    if len(out) >= MAX_NODES:
        return
    try:
        states = node.get_state_set()
        showing = states.contains(Atspi.StateType.SHOWING)
        role = node.get_role_name()
    except Exception:
        return
    # Hidden subtrees are not read by a screen reader either (and are slow to walk).
    if not showing and path:
        return
    try:
        box = node.get_extents(Atspi.CoordType.SCREEN)
        extents = [box.x, box.y, box.width, box.height]
    except Exception:
        extents = [0, 0, 0, 0]
    out.append(
        {
            "app": app_name,
            "path": path,
            "role": role,
            "name": node.get_name() or "",
            "description": node.get_description() or "",
            "text": text_of(node),
            "states": [s for s in STATES if states.contains(getattr(Atspi.StateType, s.upper()))],
            "extents": extents,
        }
    )
    try:
        count = node.get_child_count()
    except Exception:
        return
    for index in range(min(count, 400)):
        try:
            child = node.get_child_at_index(index)
        except Exception:
            continue
        if child is not None:
            walk(app_name, child, f"{path}/{index}", out)


def main() -> None:
    desktop = Atspi.get_desktop(0)
    out: list[dict[str, Any]] = []
    for index in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(index)
        if app is None:
            continue
        name = app.get_name() or ""
        for child in range(app.get_child_count()):
            window = app.get_child_at_index(child)
            if window is not None:
                walk(name, window, str(child), out)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
