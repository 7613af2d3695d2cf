"""Real services started by tests and benchmarks, on 127.0.0.1: a free port to put them on,
and Redis's command line (no snapshots, no append-only file: a test's Redis keeps nothing)."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (a service that finds it taken
    since should be started again on another)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_command(port: int, folder: Path) -> list[str]:
    """``redis-server`` on 127.0.0.1:``port``, persisting nothing, its files in ``folder``."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
    ]
