"""Real microphone input through PortAudio, device switches and unplugs during a call."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from companion.call.synthetic import ToneTrack
from tests.call.conftest import CallPair
from tests.waiting import until


def _pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 48_000)[int(np.argmax(spectrum))])


def _capture_a_tone(home: Path, seconds: float) -> None:
    """ALSA's default device in ``home``: capture plays a 523 Hz tone from a file, playback
    goes to a file."""
    t = np.arange(int(48_000 * seconds)) / 48_000
    (np.sin(2 * np.pi * 523 * t) * 0.3 * 32767).astype("<i2").tofile(home / "in.raw")
    (home / ".asoundrc").write_text(
        "pcm.!default {\n type asym\n"
        f' playback.pcm {{ type file; slave.pcm "null"; file "{home}/out.raw"; format "raw" }}\n'
        f' capture.pcm {{ type file; slave.pcm "nullin"; file "/dev/null"; infile "{home}/in.raw"; format "raw" }}\n'
        "}\npcm.nullin { type null }\n"
    )


@pytest.mark.parametrize("processing", [False, True], ids=["raw", "processed"])
def test_microphone_reads_real_portaudio_capture(tmp_path: Path, processing: bool) -> None:
    """ALSA's file plugin plays a recorded 523 Hz tone into PortAudio's capture side
    (processed: through the call's echo canceller and noise suppressor, on its thread)."""
    _capture_a_tone(tmp_path, 3.0)
    result = subprocess.run(
        [sys.executable, "-m", "tests.call.mic_probe", *(["--processing"] if processing else [])],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert abs(probe["hz"] - 523) < 5
    assert "default" in probe["devices"]
    assert probe["pts"] == [0, 960, 1920]
    assert set(probe["samples"]) == {960}
    if processing:
        assert probe["active"] and probe["processed"] >= 100


async def test_switching_and_losing_the_microphone_mid_call(call_pair: CallPair) -> None:
    patient, therapist = call_pair.patient, call_pair.therapist
    await until(lambda: therapist.engine.state == "connected")
    await asyncio.sleep(1.0)
    therapist.voice.take()
    await asyncio.sleep(0.8)
    assert abs(_pitch(therapist.voice.take()[-19_200:]) - 440) < 10

    # Switch to another microphone: the therapist hears it, no renegotiation.
    pc_id = patient.engine.pc_id
    patient.engine.switch_microphone(ToneTrack(550.0))
    await asyncio.sleep(0.6)
    therapist.voice.take()
    await asyncio.sleep(0.8)
    assert abs(_pitch(therapist.voice.take()[-19_200:]) - 550) < 10

    # The microphone vanishes (unplugged): silence, but the call and its audio stream go on.
    assert patient.engine.media.audio is not None
    patient.engine.media.audio.stop()
    await asyncio.sleep(0.6)
    therapist.voice.take()
    await asyncio.sleep(0.8)
    gap = therapist.voice.take()
    assert len(gap) > 30_000 and float(np.abs(gap).max()) < 1e-3

    # Falling back to another device brings the voice back on the same connection.
    patient.engine.switch_microphone(ToneTrack(660.0))
    await asyncio.sleep(0.6)
    therapist.voice.take()
    await asyncio.sleep(0.8)
    assert abs(_pitch(therapist.voice.take()[-19_200:]) - 660) < 10
    assert patient.engine.pc_id == pc_id
    assert patient.engine.state == "connected"


async def test_camera_unplug_and_replug_mid_call(call_pair: CallPair) -> None:
    from companion.call.synthetic import TestPatternTrack

    patient, therapist = call_pair.patient, call_pair.therapist
    await until(lambda: therapist.engine.video.frames_received > 5)
    assert patient.engine.media.video is not None
    patient.engine.media.video.stop()  # unplugged
    await asyncio.sleep(0.5)
    before = therapist.engine.video.frames_received
    await asyncio.sleep(1.0)
    assert therapist.engine.video.frames_received - before <= 1
    patient.engine.switch_camera(TestPatternTrack(320, 240, 15))
    await until(lambda: therapist.engine.video.frames_received > before + 5)
    assert patient.engine.state == "connected"


def test_an_unplugged_microphone_falls_back_through_the_same_echo_canceller(
    tmp_path: Path,
) -> None:
    """Real PortAudio both ways (ALSA file devices): the patient's microphone feeds the echo
    canceller, the engine's played mix is its reverse stream; the microphone's stream dies
    and the default one takes over on the same sending track and the same processing."""
    _capture_a_tone(tmp_path, 30.0)
    (tmp_path / "data").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tests.call.mic_unplug_probe", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["replaced"] and probe["same_processing"], probe
    assert probe["before_rms"] > 300 and probe["after_rms"] > 300, probe
    assert probe["reverse"] > 50 and probe["errors"] == 0, probe
