"""How one person's app core is set up (the command line's and the tests' choices)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from companion.audio import EngineOptions
from companion.audio.processing import ProcessingSettings
from companion.monitor.ladder import LadderTimings


@dataclass(frozen=True)
class CoreOptions:
    data_dir: Path
    """The role's own folder: the record, the saved playlist, the resume file."""
    fake_media: bool = False
    """A moving test pattern and a tone instead of the camera and microphone."""
    audio: bool = True
    """Open the audio engine (the output device); off only for headless load runs."""
    engine: EngineOptions | None = None
    timings: LadderTimings | None = None
    video: tuple[int, int, int] = (640, 480, 30)
    """Synthetic video size and rate."""
    watch_computer: bool = True
    """The patient's app keeps the computer awake and watches its sleep and battery."""
    voice: ProcessingSettings | None = None
    """The microphone's noise suppression and automatic gain (``None``: the role's
    defaults); echo cancellation is always on."""
