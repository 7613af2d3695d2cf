"""Appends events to a record as fast as it can, printing each id once append() returned.

    python -m tests.records.writer DATA_DIR

Used by the durability test, which kills this process with SIGKILL mid-write.
"""

from __future__ import annotations

import sys
import uuid

from companion.records import RecordStore


def main() -> None:
    store = RecordStore.open(sys.argv[1])
    out = sys.stdout
    while True:
        event_id = str(uuid.uuid4())
        store.events.append("durability", "checkin", {"source": "key"}, event_id=event_id)
        # Printed only after the row is durable: every printed id is a promise.
        out.write(event_id + "\n")
        out.flush()


if __name__ == "__main__":
    main()
