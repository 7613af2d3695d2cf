"""Read one second from the default microphone through MicrophoneTrack; print its pitch."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from companion.call.devices import list_microphones, open_microphone


async def main() -> None:
    mic = open_microphone()
    assert mic is not None, "no microphone"
    frames = [await mic.recv() for _ in range(50)]
    mic.stop()
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    hz = float(np.fft.rfftfreq(len(pcm), 1 / 48_000)[int(np.argmax(spectrum))])
    print(json.dumps({"hz": hz, "devices": [d.name for d in list_microphones()],
                      "pts": [f.pts for f in frames[:3]]}))  # fmt: skip


asyncio.run(main())
