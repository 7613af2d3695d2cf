"""With no sound device at all the engine retries, quietly (issue 16, item 16): the
terminal says it once, with what happens next, not every two seconds."""

from __future__ import annotations

from pathlib import Path

from tests.audio.conftest import run_python

SCRIPT = """
import logging, time
from companion.audio import AudioEngine, EngineOptions
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
notes = []
engine = AudioEngine(EngineOptions(reopen_interval_s=0.2))
engine.note.connect(notes.append)
engine.start(play=False)
time.sleep(2.0)
engine.close()
print("NOTES", len([n for n in notes if "No sound output" in n]))
"""


def test_no_device_is_said_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # A default device that does not exist: the engine's retry loop runs for real.
    (home / ".asoundrc").write_text("pcm.!default { type hw card 97 }\n", encoding="utf-8")
    out = run_python(home, ["-c", SCRIPT], 60)
    assert out.returncode == 0, out.stderr[-3000:]
    warnings = [line for line in out.stderr.splitlines() if "no output device" in line]
    assert len(warnings) == 1, out.stderr[-3000:]
    assert "NOTES 1" in out.stdout, out.stdout
