"""Audio engine soak: music, a voice, chimes, and a busy Python thread, in real time.

    .venv/bin/python benchmarks/audio_engine.py              # 10 minutes
    .venv/bin/python benchmarks/audio_engine.py --minutes 1

Plays the bundled playlist (4 s crossfades) with a synthetic therapist's voice pushed in
20 ms frames (speech bursts, so ducking works) and a chime every minute, while another
thread keeps the interpreter busy (as the call's asyncio loop and the UI do). Output goes
to a real PortAudio stream: without ``--real-device`` a temporary HOME points ALSA's
default device at a file plugin drained at exactly 48 kHz by ``tests/audio/pacer.py``
into /dev/null, so the run takes real time.

* callback_p999_ratio: callback duration / block period (10 ms), 99.9th percentile,
  timed inside the callback with perf_counter into a preallocated array.
* underruns: device underflows + music blocks the worker had not ready.
* cpu_core_pct: process CPU time minus the busy thread's own, in % of one core.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.audio import AudioEngine, ChimeKind, EngineOptions, bundled_playlist  # noqa: E402

RATE = 48_000
FRAME = 960


def point_alsa_at_paced_null(home: Path) -> None:
    """ALSA reads ~/.asoundrc when PortAudio starts: set it up before the first stream."""
    pacer = ROOT / "tests" / "audio" / "pacer.py"
    command = f"|{sys.executable} {pacer} {RATE * 8} /dev/null"
    (home / ".asoundrc").write_text(
        f'pcm.!default {{ type file; slave.pcm "null"; file "{command}"; format "raw" }}\n',
        encoding="utf-8",
    )
    os.environ["HOME"] = str(home)


class Busy(threading.Thread):
    """Pure-Python work that always wants the GIL."""

    def __init__(self) -> None:
        super().__init__(name="busy", daemon=True)
        self.stop = threading.Event()
        self.cpu_s = 0.0

    def run(self) -> None:
        start = time.thread_time()
        while not self.stop.is_set():
            sum(i * i for i in range(2000))
        self.cpu_s = time.thread_time() - start


def speech_frames(seconds: float) -> list[np.ndarray]:
    """A voice-like test signal: 1.5 s harmonic bursts every 5 s, silence between."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 160 * k * t) / k for k in range(1, 6))
    gate = ((t % 5.0) < 1.5) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    signal = (0.12 * tone * gate).astype(np.float32)
    return [signal[i : i + FRAME] for i in range(0, len(signal) - FRAME + 1, FRAME)]


def main() -> None:
    parser = argparse.ArgumentParser(description="audio engine soak")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--real-device", action="store_true", help="use the system's own default output"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="companion-audio-bench-") as tmp:
        if not args.real_device:
            point_alsa_at_paced_null(Path(tmp))
        engine = AudioEngine(EngineOptions())
        engine.load_playlist(bundled_playlist())
        notes: list[str] = []
        engine.note.connect(notes.append)
        engine.start()
        voice = engine.add_voice()
        frames = speech_frames(10.0)
        duration = args.minutes * 60
        busy = Busy()
        cpu0 = time.process_time()
        busy.start()  # after cpu0, so its whole CPU time falls inside the measured window
        wall0 = time.monotonic()
        next_chime = wall0 + 30.0
        next_report = wall0 + 60.0
        i = 0
        while True:
            now = time.monotonic()
            if now - wall0 >= duration:
                break
            voice.push(frames[i % len(frames)], RATE)
            i += 1
            if now >= next_chime:
                engine.play_chime(ChimeKind.CHECK_IN if int(now) % 2 else ChimeKind.RECONNECTED)
                next_chime += 60.0
            if now >= next_report:
                next_report += 60.0
                status = engine.status()
                print(
                    f"{(now - wall0) / 60:.0f} min: {status.title} {status.position_s:.0f}s, "
                    f"underruns {engine.underruns}",
                    flush=True,
                )
            time.sleep(max(0.0, wall0 + i * FRAME / RATE - time.monotonic()))
        wall = time.monotonic() - wall0
        busy.stop.set()
        busy.join()
        cpu = time.process_time() - cpu0 - busy.cpu_s
        durations = engine.callback_stats.durations()
        underruns = engine.underruns
        engine.close()

    period = engine.options.device.block_frames / RATE
    result = {
        "minutes": round(wall / 60, 2),
        "callback_p999_ratio": round(float(np.percentile(durations / period, 99.9)), 4),
        "callback_max_ratio": round(float(durations.max() / period), 4),
        "callbacks": len(durations),
        "underruns": int(underruns),
        "voice_underruns": int(voice.underruns),
        "cpu_core_pct": round(100 * cpu / wall, 2),
        "notes": len(notes),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
