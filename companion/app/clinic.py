"""The clinic's server as the app knows it, so a patient given only a short code over the
phone never has to type an address: ``clinic.json`` beside the app, set when the clinic
builds it (``build_installer.py --server URL``), or remembered in the app's data folder
from the first link opened. Qt-free.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

_log = logging.getLogger(__name__)

CLINIC_FILE = "clinic.json"
"""``{"server": "wss://…/ws"}``: beside the app (written by ``build_installer.py
--server``), or in an app's data folder (remembered from the first link opened)."""


def app_folder() -> Path:
    """The folder the app runs from: the built app's own, or the checkout's."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent.parent


def normalize_server(text: str) -> str | None:
    """A clinic server address as people may type it, as a ws(s):// URL; None when it
    cannot be one. ``https://clinic.example/ws`` and a bare host name are accepted."""
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        return None
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "wss", text
    scheme = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme.lower())
    host = rest.split("/", 1)[0]
    if scheme not in ("ws", "wss") or not host or host.startswith(":"):
        return None
    if "/" not in rest:
        rest += "/ws"
    return f"{scheme}://{rest}"


def _server_in(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    server = data.get("server") if isinstance(data, dict) else None
    return normalize_server(server) if isinstance(server, str) else None


def clinic_server(data_dir: Path, app_dir: Path | None = None) -> str | None:
    """The server this app joins with a bare code: the one remembered in its data folder
    (the last link opened), else the one its clinic set beside the app, else None."""
    return _server_in(data_dir / CLINIC_FILE) or _server_in((app_dir or app_folder()) / CLINIC_FILE)


def remember_server(data_dir: Path, server: str) -> None:
    """Keep the server of a session joined, for the next code read over the phone."""
    url = normalize_server(server)
    if url is None or _server_in(data_dir / CLINIC_FILE) == url:
        return
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = data_dir / (CLINIC_FILE + ".partial")
        partial.write_text(json.dumps({"server": url}), encoding="utf-8")
        partial.replace(data_dir / CLINIC_FILE)
    except OSError as exc:
        _log.info("could not remember the clinic's server: %s", type(exc).__name__)
