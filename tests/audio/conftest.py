"""A real ALSA output device without a sound card: ALSA's ``file`` plugin writing every
sample through ``pacer.py`` (which consumes at exactly 48 kHz, like a sound card) into a
raw float32 stereo file that tests read back with numpy.

ALSA reads ``~/.asoundrc`` when PortAudio starts, so each engine test runs its scenario in
a subprocess whose HOME holds that file (see ``scenarios.py``); the test process itself
never initializes PortAudio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACER = Path(__file__).resolve().parent / "pacer.py"
RATE = 48_000
BYTES_PER_SECOND = RATE * 2 * 4  # float32 stereo


def run_python(
    home: Path, args: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python *args`` from the project's root with ``home`` as its HOME, whose
    ``.asoundrc`` ALSA reads when PortAudio starts (so the test process never does)."""
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass
class AlsaFileDevice:
    home: Path
    default_raw: Path
    second_raw: Path
    """Written by the ALSA device ``companion_b`` (a second output to switch to)."""
    workdir: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HOME"] = str(self.home)
        env["PYTHONPATH"] = str(ROOT)
        return env

    def run(self, scenario: str, timeout_s: float = 50.0, language: str = "en") -> dict[str, Any]:
        """Run ``scenarios.py <scenario>`` against this device, its apps speaking
        ``language``; returns its JSON result."""
        result = self.workdir / "result.json"
        proc = run_python(
            self.home,
            ["-m", "tests.audio.scenarios", scenario, str(self.workdir)],
            timeout_s,
            {"LANGUAGE": language},
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        data: dict[str, Any] = json.loads(result.read_text())
        return data

    def read(self, second: bool = False) -> np.ndarray:
        raw = (self.second_raw if second else self.default_raw).read_bytes()
        usable = len(raw) // 8 * 8
        return np.frombuffer(raw[:usable], dtype=np.float32).reshape(-1, 2)


def _pcm(name: str, raw: Path) -> str:
    command = f"|{sys.executable} {PACER} {BYTES_PER_SECOND} {raw}"
    return f'pcm.{name} {{ type file; slave.pcm "null"; file "{command}"; format "raw" }}\n'


@pytest.fixture
def alsa_device(tmp_path: Path) -> AlsaFileDevice:
    home = tmp_path / "home"
    home.mkdir()
    device = AlsaFileDevice(home, tmp_path / "default.raw", tmp_path / "second.raw", tmp_path)
    (home / ".asoundrc").write_text(
        _pcm("!default", device.default_raw) + _pcm("companion_b", device.second_raw),
        encoding="utf-8",
    )
    return device
