"""Read one second from the default microphone through MicrophoneTrack; print its pitch."""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np

from companion.audio.processing import VoiceProcessing
from companion.call.devices import list_microphones, open_microphone


async def main() -> None:
    processing = VoiceProcessing() if "--processing" in sys.argv else None
    if processing is not None:
        processing.start()
    mic = open_microphone(processing=processing)
    assert mic is not None, "no microphone"
    frames = [await mic.recv() for _ in range(50)]
    mic.stop()
    active = processing is not None and processing.active
    if processing is not None:
        processing.close()
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    hz = float(np.fft.rfftfreq(len(pcm), 1 / 48_000)[int(np.argmax(spectrum))])
    print(
        json.dumps(
            {
                "hz": hz,
                "devices": [d.name for d in list_microphones()],
                "pts": [f.pts for f in frames[:3]],
                "samples": [f.samples for f in frames],
                "processed": processing.frames_processed if processing else 0,
                "active": active,
                "rms": float(np.sqrt(np.mean(pcm[-24_000:] ** 2))),
            }
        )
    )


asyncio.run(main())
