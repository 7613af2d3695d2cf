"""Durability of the local record: a writer killed with SIGKILL, fifty times over."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from companion.records import RecordStore


def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    rng = random.Random(5)
    acknowledged: list[str] = []
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.records.writer", str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it has started writing
        time.sleep(rng.uniform(0.02, 0.15))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        # A partial last line was never a complete promise.
        lines = (first + rest).split("\n")
        acknowledged += [line for line in lines[:-1] if line]
    with RecordStore.open(tmp_path) as store:
        assert store.integrity_check() == "ok"
        stored = {event.event_id for event in store.events.for_session("durability")}
    assert len(acknowledged) > 50
    missing = [event_id for event_id in acknowledged if event_id not in stored]
    assert missing == []
