"""Reads raw audio from stdin at a fixed byte rate into a file: the clock of a sound card.

ALSA's ``file`` plugin pipes into this (``file "|python pacer.py RATE OUT"``); the pipe
fills and blocks PortAudio exactly as a real device's buffer would.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    rate = float(sys.argv[1])
    stdin = sys.stdin.fileno()
    with open(sys.argv[2], "ab", buffering=0) as out:  # noqa: PTH123 - appends: a reopened device continues the file
        start: float | None = None
        taken = 0
        while True:
            if start is None:
                chunk = os.read(stdin, 4096)
                start = time.monotonic()
            else:
                allowed = int(rate * (time.monotonic() - start)) - taken
                if allowed <= 0:
                    time.sleep(0.002)
                    continue
                chunk = os.read(stdin, min(allowed, 65536))
            if not chunk:
                return
            taken += len(chunk)
            out.write(chunk)


if __name__ == "__main__":
    main()
