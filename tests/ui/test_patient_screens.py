"""Every screen of the patient's app in a real X11 window (Xvfb), with the patient's real
audio engine on a file-backed ALSA device: the device check's test sound reaches it.

One subprocess does both: PortAudio reads ``~/.asoundrc`` (HOME) when it starts, and the
X display is Xvfb's, so neither can be set up inside the test process."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tests.audio.conftest import AlsaFileDevice, alsa_device  # noqa: F401 - the fixture
from tests.ui.conftest import SCREENSHOTS, run_tool

pytestmark = pytest.mark.slow


def test_every_patient_screen_under_xvfb_with_real_audio(
    alsa_device: AlsaFileDevice,  # noqa: F811 - the fixture imported above
) -> None:
    pytest.importorskip("sounddevice")
    out = SCREENSHOTS / "patient" / "xvfb"
    shutil.rmtree(out, ignore_errors=True)
    result = run_tool("patient_screenshots.py", ["--audio", "--out", str(out)], alsa_device.env())
    print(f"screenshots: {out}")
    assert result["ok"] and result["test_sound"]
    assert len(result["screens"]) == 8, result["screens"]
    for name in result["screens"]:
        assert (out / name).stat().st_size > 10_000, name
    # The patient's engine played for real: music and the soft test sound reached ALSA,
    # and never near full scale.
    samples = alsa_device.read()
    assert samples.shape[0] > 48_000, samples.shape
    peak = float(np.max(np.abs(samples)))
    assert 0.001 < peak < 0.9, peak
    assert os.environ.get("HOME") != str(alsa_device.home)
