"""This install's device secret: the server binds an invite's place to the first device
that joined with it, and only that device may take the place again by joining (after a
crash, or when its resume token was lost). A leaked code on another device is kept out."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEVICE_FILE = "device.secret"


def device_secret(data_dir: Path) -> str:
    """The secret kept in ``data_dir`` (made on first use, readable by this user only)."""
    path = data_dir / DEVICE_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 22:
            return text
    except (OSError, UnicodeDecodeError):
        pass
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(24)
    temporary = path.with_name(DEVICE_FILE + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret)
    temporary.replace(path)
    return secret
