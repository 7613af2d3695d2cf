"""Files only their user may read: what the apps and the server write is 0600, in 0700
folders (issue 17). Every entry point also sets umask 077 (``companion.cli``)."""

from __future__ import annotations

import os
from pathlib import Path


def make_private(path: Path) -> None:
    """A database's folder 0700 and the file (with its WAL and shared-memory files)
    0600, before SQLite opens it. Folders and files an older version left readable by
    others are tightened too."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            name.chmod(0o600)
