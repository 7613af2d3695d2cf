"""An output device that does not keep time (ALSA's null device) is fed no faster than
real time (``companion.audio.device.DevicePace``); a sound card is never held back."""

from __future__ import annotations

import json
from pathlib import Path

from companion.audio.device import DevicePace
from tests.audio.conftest import run_python

RATE = 48_000
BLOCK = 480
PERIOD_S = BLOCK / RATE


def test_a_sound_card_never_waits_even_when_it_fills_its_buffer_first() -> None:
    pace = DevicePace(RATE)
    now = 100.0
    for _ in range(50):  # PortAudio fills a 0.5 s buffer at once when the stream starts
        assert pace.wait_after(BLOCK, now) == 0.0
        now += 0.00001
    for n in range(6000):  # then a block a period for a minute, a little late or early
        now += PERIOD_S + (0.004 if n % 7 == 0 else -0.0005)
        assert pace.wait_after(BLOCK, now) == 0.0


def test_a_device_that_asks_at_once_is_fed_at_real_time() -> None:
    pace = DevicePace(RATE, ahead_s=1.0)
    now = start = 100.0
    rendered_s = 0.0
    while now - start < 30.0:
        now += 0.0001  # rendering a block takes 0.1 ms; the device asks again at once
        rendered_s += PERIOD_S
        now += pace.wait_after(BLOCK, now)
    assert rendered_s <= 30.0 + 1.0 + PERIOD_S
    assert rendered_s >= 30.0  # and never slower than real time


def test_no_burst_to_make_up_for_a_stall() -> None:
    """A device that stopped asking for a while owes nothing: afterwards it is fed at
    real time again, not in an unpaced burst."""
    pace = DevicePace(RATE, ahead_s=1.0)
    now = 100.0
    for _ in range(100):
        now += PERIOD_S
        pace.wait_after(BLOCK, now)
    now += 5.0  # stalled
    rendered_s, since = 0.0, now
    for _ in range(300):
        now += 0.0001
        rendered_s += PERIOD_S
        now += pace.wait_after(BLOCK, now)
    assert rendered_s <= (now - since) + 1.0 + 2 * PERIOD_S


_NULL_DEVICE_RUN = """
import json, sys, threading, time
import numpy as np
from companion.audio.device import CallbackStats, DeviceOptions, OutputDevice

rendered = [0]
def render(block: np.ndarray, underflow: bool) -> None:
    block.fill(0.0)
    rendered[0] += len(block)

device = OutputDevice(render, 48000, DeviceOptions(), None, CallbackStats())
start = time.monotonic()
time.sleep(float(sys.argv[1]))
elapsed = time.monotonic() - start
seconds = rendered[0] / 48000
device.close()
print(json.dumps({"elapsed_s": elapsed, "rendered_s": seconds}))
"""


def test_alsas_null_device_is_played_at_real_time(tmp_path: Path) -> None:
    """The journeys' apps play into ALSA's null device. Unpaced, its PortAudio callback
    ran 700 times faster than real time, the mixer holding the GIL: the console's loop
    starved, its call fell seconds behind and the patient was told the therapist's
    connection had dropped."""
    (tmp_path / ".asoundrc").write_text("pcm.!default { type null }\n")
    proc = run_python(tmp_path, ["-c", _NULL_DEVICE_RUN, "2.0"], 60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    played = json.loads(proc.stdout.strip().splitlines()[-1])
    # No more than the wall clock allows plus the pace's lead (1 s) and a block or two.
    assert played["rendered_s"] <= played["elapsed_s"] + 1.1, played
    assert played["rendered_s"] >= played["elapsed_s"] * 0.5, played  # it does play
