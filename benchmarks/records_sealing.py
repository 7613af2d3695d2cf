"""What sealing person-entered words costs the event log (issue 17).

    .venv/bin/python benchmarks/records_sealing.py             # 400 events of each
    .venv/bin/python benchmarks/records_sealing.py --events 50

Appends ``--events`` events to a fresh ``records.sqlite3`` on the local disk: half of a
kind that is stored as is (``checkin``), half of a kind whose payload is sealed to the
store's key (``card``, about 300 bytes of words), interleaved as in a session. Each
append returns once committed and fsynced (``synchronous=FULL``), so the disk dominates;
the figures show what the X25519 + AES-GCM sealing adds on top. Then the store is
unlocked (a cheap scrypt) and every sealed payload read back.

* plain_append_p50_ms / p99: appends stored as is.
* sealed_append_p50_ms / p99: appends sealed first.
* seal_only_p50_ms: sealing one payload alone, without the write.
* open_all_ms: reading and opening every sealed event once unlocked.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.records import PassphraseKeyProvider, RecordStore, ScryptCost  # noqa: E402
from companion.records.sealed import row_data  # noqa: E402

CARD = {
    "kind": "card",
    "patient_name": "A. Person",
    "address": "1 Example Street, Flat 2, Sometown",
    "medications": "sertraline 50 mg in the morning, nothing else",
    "taken": "ketamine 100 mg sublingual",
    "support_name": "B. Person",
    "support_phone": "+44 7700 900000",
    "emergency_number": "112",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400)
    args = parser.parse_args()
    events = max(2, args.events)
    plain: list[float] = []
    sealed: list[float] = []
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        store = RecordStore.open(Path(folder))
        try:
            for n in range(events):
                kind, payload = ("card", CARD) if n % 2 else ("checkin", {"source": "key"})
                start = time.perf_counter()
                store.events.append("bench", kind, payload)  # type: ignore[arg-type]
                (sealed if n % 2 else plain).append((time.perf_counter() - start) * 1000)
            encoded = json.dumps(CARD, sort_keys=True)
            seal_only = []
            for n in range(200):
                start = time.perf_counter()
                store.sealer.seal(encoded, row_data(f"e{n}", "bench", "card"))
                seal_only.append((time.perf_counter() - start) * 1000)
            store.unlock(PassphraseKeyProvider("benchmark phrase", ScryptCost(n=2**10)))
            start = time.perf_counter()
            opened = [e for e in store.events.for_session("bench") if e.kind == "card"]
            open_all_ms = (time.perf_counter() - start) * 1000
            assert all(e.payload == CARD for e in opened)
        finally:
            store.close()
    figures = {
        "events": events,
        "plain_append_p50_ms": round(statistics.median(plain), 3),
        "plain_append_p99_ms": round(percentile(plain, 0.99), 3),
        "sealed_append_p50_ms": round(statistics.median(sealed), 3),
        "sealed_append_p99_ms": round(percentile(sealed, 0.99), 3),
        "seal_only_p50_ms": round(statistics.median(seal_only), 3),
        "open_all_ms": round(open_all_ms, 1),
        "sealed_events_opened": len(opened),
    }
    print(
        f"records_sealing: append p50 {figures['plain_append_p50_ms']} ms as is, "
        f"{figures['sealed_append_p50_ms']} ms sealed (sealing alone "
        f"{figures['seal_only_p50_ms']} ms); {len(opened)} sealed events opened in "
        f"{figures['open_all_ms']} ms"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
