"""Helpers for the therapist and support UI tests.

Run as a module it is a patient's app core in a process of its own, with its audio engine
playing into the ALSA device that ``HOME/.asoundrc`` names (PortAudio reads HOME when it
starts, so the test process itself never opens it). It reports, as JSON lines, each new
title the engine plays and how many bytes have reached the device file:

    python -m tests.ui.support_fixtures URL CODE FOLDER SECONDS
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def asoundrc(home: Path, raw: Path) -> None:
    """ALSA's default device: the null plugin, every sample also written to ``raw``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(
        f'pcm.!default {{ type file; slave.pcm "null"; file "{raw}"; format "raw" }}\n',
        encoding="utf-8",
    )


def spawn_patient(
    url: str, code: str, folder: Path, seconds: float = 40.0
) -> subprocess.Popen[str]:
    home, raw = folder / "home", folder / "out.raw"
    asoundrc(home, raw)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ui.support_fixtures", url, code, str(folder), str(seconds)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def _patient(url: str, code: str, folder: Path, seconds: float) -> int:
    from companion.app import CoreOptions, RoleCore

    options = CoreOptions(
        data_dir=folder / "data", fake_media=True, audio=True, video=(160, 120, 10)
    )
    core = RoleCore("patient", url, options)
    titles: list[str] = []

    def on_music(status: object) -> None:
        title = getattr(status, "title", "")
        if not titles or titles[-1] != title:
            titles.append(title)
            _report(event="title", title=title, playing=getattr(status, "playing", False))

    core.music_changed.connect(on_music)
    core.timeline_added.connect(
        lambda e: _report(event="timeline", kind=e.kind) if e.kind == "music.command" else None
    )
    await core.connect()
    await core.join(code)
    await core.start()
    _report(event="started", device=core.audio is not None)
    raw = folder / "out.raw"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        _report(event="device", bytes=raw.stat().st_size if raw.exists() else 0)
    await core.close()
    return 0


if __name__ == "__main__":
    url, code, folder, seconds = sys.argv[1:5]
    sys.exit(asyncio.run(_patient(url, code, Path(folder), float(seconds))))
