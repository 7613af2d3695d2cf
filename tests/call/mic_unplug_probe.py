"""A patient's core with a real microphone (ALSA capture from a file) and real output: its
microphone goes through the echo canceller fed by the engine's mix; then the microphone's
stream dies under it (unplugged) and the default microphone must take over, through the
same processing, on the same steady track a call sends. Prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from companion.app.core import RoleCore
from companion.app.options import CoreOptions
from companion.audio.processing import VoiceProcessing
from companion.call.devices import MicrophoneTrack


async def _level(track: object, seconds: float) -> float:
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = await asyncio.wait_for(track.recv(), 2.0)  # type: ignore[attr-defined]
        frames.append(frame.to_ndarray().reshape(-1).astype(np.float64))
    pcm = np.concatenate(frames)
    return float(np.sqrt(np.mean(pcm**2)))


async def main(data_dir: Path) -> None:
    core = RoleCore("patient", "ws://127.0.0.1:9/ws", CoreOptions(data_dir=data_dir))
    await core.open_devices()
    assert core.media is not None and core.audio is not None
    first = core.media.audio
    processing = core.devices.voice_processing
    assert isinstance(first, MicrophoneTrack) and isinstance(processing, VoiceProcessing)
    sending = core.media.audio_for_connection()  # what a call's Opus sender reads
    before = await _level(sending, 1.0)
    reverse_before = processing.reverse_frames
    first._stream.abort()  # fault injection: the device vanishes (PortAudio ends it)
    deadline = time.monotonic() + 10
    while core.media.audio is first and time.monotonic() < deadline:
        await sending.recv()
    second = core.media.audio
    after = await _level(sending, 1.0)
    result = {
        "before_rms": before,
        "after_rms": after,
        "replaced": second is not first and isinstance(second, MicrophoneTrack),
        "same_processing": isinstance(second, MicrophoneTrack) and second.processing is processing,
        "processed": processing.frames_processed,
        "reverse": processing.reverse_frames - reverse_before,
        "errors": processing.errors,
    }
    sending.stop()
    await core.close()
    print(json.dumps(result))


asyncio.run(main(Path(sys.argv[1])))
