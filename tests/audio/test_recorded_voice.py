"""A line the therapist recorded (through ALSA's file capture) is what the patient hears
(at ALSA's file output), in place of the computer's voice (issue 22)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from companion.app.spoken import THERAPIST_VOICE
from companion.audio.speech import EspeakVoice
from tests.audio.conftest import PACER, AlsaFileDevice, run_python
from tests.audio.test_spoken import find_line

RATE = 48_000


def test_the_therapists_recorded_line_is_what_the_patient_hears(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # The therapist's voice as their microphone gives it: a spoken sentence.
    words = EspeakVoice(tmp_path / "render", "en-gb").render("I am right here with you.")
    spoken = np.concatenate([np.zeros(RATE // 4, np.float32), words * np.float32(0.5)])
    (spoken * 32767).astype("<i2").tofile(home / "in.raw")
    out = tmp_path / "out.raw"
    pacer = f"|{sys.executable} {PACER} {RATE * 2 * 4} {out}"
    (home / ".asoundrc").write_text(
        "pcm.!default {\n type asym\n"
        f' playback.pcm {{ type file; slave.pcm "null"; file "{pacer}"; format "raw" }}\n'
        f' capture.pcm {{ type file; slave.pcm "nullin"; file "/dev/null"; infile "{home}/in.raw"; format "raw" }}\n'
        "}\npcm.nullin { type null }\n"
    )
    proc = run_python(home, ["-m", "tests.audio.recorded_voice", str(tmp_path)], 90)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    # In pieces that each fit a wire message; the one that lost a piece is not used.
    assert result["pieces"] >= 2 and max(result["wire_bytes"]) < 64 * 1024
    assert result["whole"] == ["therapist_back"]  # "link_lost" lost its piece
    assert result["voices"]["therapist_back"] == THERAPIST_VOICE
    assert result["voices"]["link_lost"].startswith("espeak-ng")  # the safety line stays
    assert result["ready"] == ["therapist_back", "link_lost"] and result["said"]
    raw = out.read_bytes()
    heard = np.frombuffer(raw[: len(raw) // 8 * 8], dtype=np.float32).reshape(-1, 2)
    # The line as the speaker played it is in the output, the music ducked under it...
    line = np.fromfile(tmp_path / "line.raw", dtype=np.float32)
    _at, alike, prominence = find_line(heard, line)
    assert alike > 0.9 and prominence > 3.0, (alike, prominence)
    # ... and it is the therapist's own words as captured (Opus on the way: alike, not equal).
    _at, alike, prominence = find_line(heard, words.astype(np.float64))
    assert alike > 0.6 and prominence > 3.0, (alike, prominence)


def test_in_a_session_the_patient_hears_the_therapists_recording_and_the_timeline_says_so(
    alsa_device: AlsaFileDevice,
) -> None:
    work = alsa_device.workdir
    proc = run_python(
        alsa_device.home, ["-m", "tests.audio.recorded_voice", str(work), "session"], 120
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((work / "result.json").read_text())
    assert result["missing"] == []
    assert any("the therapist's own recording" in t for t in result["therapist_heard"])
    heard = alsa_device.read()
    line = np.fromfile(work / "line.raw", dtype=np.float32)
    # The patient's own music plays under it here (as in test_spoken's session test).
    at, alike, prominence = find_line(heard, line)
    assert alike > 0.5 and prominence > 3.0, (alike, prominence)  # 0.54 seen, prominence 14
    words = np.fromfile(work / "words.raw", dtype=np.float32).astype(np.float64)
    at_words, alike, prominence = find_line(heard, words)
    assert alike > 0.45 and prominence > 3.0, (alike, prominence)
    assert abs(at_words - at) < RATE  # the same place: the recording is the line heard
