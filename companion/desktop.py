"""The desktop's side of an installed Companion (Linux, freedesktop): the ``.desktop``
entry and the ``companion://`` link handler. Qt-free.

``install.sh`` (made by ``build_installer.py``) registers the handler when a person
installs the tarball; the installed app also checks on its first run and registers itself
if nothing handles ``companion://`` yet, so a link from the clinic's email opens the app
even when it was unpacked by hand. Windows and macOS register the handler in their
installers (see docs/installer.md); there these functions do nothing.

The clinic's server the app knows (``clinic.json``) is ``companion.app.clinic``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_log = logging.getLogger(__name__)

DESKTOP_ID = "companion.desktop"
URL_SCHEME = "companion"
MIME_TYPE = f"x-scheme-handler/{URL_SCHEME}"

# Commands that open a window: the first run of one of these registers the link handler.
_APP_COMMANDS = frozenset({"patient", "therapist", "support", "open", "demo"})


def desktop_entry(exec_path: str, icon: str = "companion") -> str:
    """A freedesktop ``.desktop`` entry that opens Companion and handles ``companion://``."""
    quoted = f'"{exec_path}"' if " " in exec_path else exec_path
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.5\n"
        "Name=Companion\n"
        "GenericName=Therapy session companion\n"
        "Comment=Join your therapy session: call, calm music and check-ins\n"
        f"Exec={quoted} %u\n"
        f"TryExec={quoted}\n"
        f"Icon={icon}\n"
        "Terminal=false\n"
        "Categories=Network;AudioVideo;\n"
        f"MimeType={MIME_TYPE};\n"
        "StartupWMClass=companion\n"
    )


def applications_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "applications"


def mimeapps_list() -> Path:
    """The user's ``mimeapps.list``: the freedesktop table of default handlers."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "mimeapps.list"


def _handler_in_mimeapps(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    section = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        elif section == "[Default Applications]" and stripped.startswith(f"{MIME_TYPE}="):
            return stripped.partition("=")[2].split(";")[0].strip() or None
    return None


def _set_handler_in_mimeapps(path: Path) -> None:
    """What ``xdg-mime default`` does on a desktop without its own tool, for a system
    without xdg-utils: our line under ``[Default Applications]``, other lines kept."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    lines = [line for line in lines if not line.strip().startswith(f"{MIME_TYPE}=")]
    entry = f"{MIME_TYPE}={DESKTOP_ID}"
    if "[Default Applications]" in (line.strip() for line in lines):
        at = [line.strip() for line in lines].index("[Default Applications]")
        lines.insert(at + 1, entry)
    else:
        lines += ["[Default Applications]", entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def registered_handler() -> str | None:
    """The ``.desktop`` id that opens ``companion://`` links now (``None``: none)."""
    xdg_mime = shutil.which("xdg-mime")
    if xdg_mime is None:
        return _handler_in_mimeapps(mimeapps_list())
    try:
        out = subprocess.run(
            [xdg_mime, "query", "default", MIME_TYPE],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return _handler_in_mimeapps(mimeapps_list())
    return out.stdout.strip() or None


def register_link_handler(exec_path: str, icon: str = "companion") -> Path:
    """Write our ``.desktop`` entry under the user's applications folder and make it the
    handler of ``companion://`` (with ``xdg-mime`` when there is one, else in
    ``mimeapps.list`` directly). Returns the entry's path."""
    folder = applications_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / DESKTOP_ID
    entry.write_text(desktop_entry(exec_path, icon), encoding="utf-8")
    if shutil.which("xdg-mime") is None:
        _set_handler_in_mimeapps(mimeapps_list())
    commands = [["xdg-mime", "default", DESKTOP_ID, MIME_TYPE]]
    commands.append(["update-desktop-database", str(folder)])
    for command in commands:
        tool = shutil.which(command[0])
        if tool is None:
            continue
        try:
            subprocess.run([tool, *command[1:]], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _log.info("%s failed: %s", command[0], type(exc).__name__)
    return entry


def ensure_link_handler(exec_path: str | None = None) -> bool:
    """Register the installed app as the ``companion://`` handler unless one already is.

    Only for a built (frozen) app on Linux: a checkout run from source leaves the desktop
    alone. Returns True when it registered. Never raises: a desktop without the
    freedesktop tools only means links are opened by hand (``companion open LINK``).
    """
    if not sys.platform.startswith("linux") or not getattr(sys, "frozen", False):
        return False
    try:
        if registered_handler():
            return False
        register_link_handler(exec_path or sys.executable)
    except OSError as exc:
        _log.info("could not register the companion:// handler: %s", type(exc).__name__)
        return False
    return True


def frozen_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the built app: first-run desktop registration, then the CLI."""
    from companion.cli import main, private_files

    private_files()  # before the first-run registration writes anything
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["patient"]  # a double click: the patient's app, which asks for the code
    elif len(args) == 1 and args[0].startswith(f"{URL_SCHEME}:"):
        args = ["open", args[0]]  # a clicked link (the .desktop entry's ``%u``)
    if args[0] in _APP_COMMANDS:
        ensure_link_handler()
    return main(args)
