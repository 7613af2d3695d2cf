"""The therapist's voice reaches the patient's real output device through the audio engine."""

from __future__ import annotations

import json

import numpy as np

from tests.audio.conftest import RATE, AlsaFileDevice, run_python
from tests.audio.signals import tone_db


def test_tone_arrives_at_the_device_and_mute_is_silence(alsa_device: AlsaFileDevice) -> None:
    proc = run_python(
        alsa_device.home, ["-m", "tests.call.voice_scenario", str(alsa_device.workdir)], 90
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((alsa_device.workdir / "result.json").read_text())
    assert result["device"] is not None
    out = alsa_device.read()[:, 0]
    window = 4800  # 100 ms
    voice = tone_db(out, 660, window)
    other = tone_db(out, 1000, window)
    heard = np.flatnonzero(voice > -35)
    assert len(heard) * window / RATE > 3.0, "the therapist's 660 Hz tone was not heard"
    # The loudest tone in what was heard is the therapist's, not noise or music.
    assert np.median(voice[heard] - other[heard]) > 20
    # Muting leaves a silent stretch of about the mute's length in the middle.
    quiet = voice < -60
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], quiet[heard[0] :], [0]]))))[::2]
    longest_quiet_s = (runs.max() if len(runs) else 0) * window / RATE
    assert 1.8 <= longest_quiet_s <= 3.2, longest_quiet_s
    # The therapist's "next" changed the piece the patient's engine plays.
    before, after = result["music"]
    assert before and after and before != after
