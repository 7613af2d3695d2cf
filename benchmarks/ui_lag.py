"""UI loop lag during a call: the patient's window on Qt's loop (qasync) with the call core.

    .venv/bin/python benchmarks/ui_lag.py               # 60 s of call
    .venv/bin/python benchmarks/ui_lag.py --seconds 10

The signaling server and the therapist's app (640x480 at 30 fps + Opus, synthetic media)
each run in their own process; this process is the patient's app: the real session
window (``PatientWindow``) showing the therapist's video, running the call, the monitor and
the record on the one loop Qt and asyncio share. A 20 ms Qt timer measures how late the
loop serves it.

* ui_lag_p99_ms: 99th percentile of that lateness (target < 50).
* frames_shown: remote video frames painted in the window.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from companion.app import CoreOptions, RoleCore
from companion.ui.common import LoopLagMeter, run_qt

ROOT = Path(__file__).resolve().parent.parent


def start_server(data: Path) -> tuple[subprocess.Popen[str], str, str]:
    me = [sys.executable, "-m", "companion"]
    added = subprocess.run(
        [*me, "server", "add-therapist", "bench", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    secret = added.stdout.strip().split()[-1]
    server = subprocess.Popen(
        [*me, "server", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdout is not None
    url = server.stdout.readline().split(" on ")[1].split()[0]
    return server, url, secret


async def measure(app: QApplication, seconds: float, warmup: float) -> dict[str, float]:
    from companion.ui.patient import PatientWindow

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, url, secret = start_server(folder / "server")
        therapist = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.call.peer_process",
            "therapist",
            url,
            "--name",
            "bench",
            f"--secret={secret}",
            "--seconds",
            str(seconds + warmup + 30),
            "--camera-like",
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        try:
            assert therapist.stdout is not None
            token = ""
            while not token:
                line = json.loads(await therapist.stdout.readline())
                token = line.get("token", "") if line.get("event") == "invite" else ""
            options = CoreOptions(data_dir=folder / "patient", fake_media=True, audio=False)
            window = PatientWindow(lambda: RoleCore("patient", url, options), folder / "patient")
            window.resize(1280, 800)
            window.show()
            assert await window.join(token)
            await window.begin_session()
            core = window.core
            assert core is not None and core.call is not None
            call = core.call
            async with asyncio.timeout(30):
                while call.video.frames_received < 10:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(warmup)
            meter = LoopLagMeter()
            shown0 = call.video.frames_shown
            meter.start()
            started = time.monotonic()
            await asyncio.sleep(seconds)
            meter.stop()
            elapsed = time.monotonic() - started
            result = {
                "seconds": round(elapsed, 1),
                "ui_lag_p99_ms": round(meter.p99_ms(), 1),
                "ui_lag_max_ms": round(max(meter.samples, default=0.0), 1),
                "samples": len(meter.samples),
                "frames_shown": call.video.frames_shown - shown0,
                "fps_shown": round((call.video.frames_shown - shown0) / elapsed, 1),
            }
            await core.close()
            window.hide()
        finally:
            therapist.kill()
            await therapist.wait()
            server.terminate()
            server.wait(timeout=10)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()
    figures: dict[str, float] = {}

    async def run(app: QApplication) -> int:
        figures.update(await measure(app, args.seconds, args.warmup))
        return 0

    run_qt(run)
    print(
        f"UI loop lag p99 {figures['ui_lag_p99_ms']} ms over {figures['seconds']} s, "
        f"{figures['fps_shown']} fps of remote video shown"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
