"""The microphone's level for the device check: frames from the local microphone (through
the media relay, so the call is untouched) turned into a 0..1 meter value, a few times a
second. The app core passes a callback (the patient's window draws it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from companion.audio.gain import dbfs
from companion.call.media import LocalMedia

FLOOR_DB = -60.0


_log = logging.getLogger(__name__)


def meter_value(samples: np.ndarray) -> float:
    """0..1 for a block of samples (int16 or float): -60 dBFS → 0, 0 dBFS → 1."""
    db = dbfs(samples, FLOOR_DB)
    return max(0.0, min(1.0, (db - FLOOR_DB) / -FLOOR_DB))


async def watch_level(
    media: LocalMedia, show: Callable[[float], None], every_s: float = 0.15
) -> None:
    """Calls ``show(level)`` until cancelled (or the microphone goes away)."""
    if media.audio is None:
        return
    track = media.relay.subscribe(media.audio)
    loop = asyncio.get_running_loop()
    last = 0.0
    peak = 0.0
    try:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.AudioFrame):
                peak = max(peak, meter_value(frame.to_ndarray()))
            now = loop.time()
            if now - last >= every_s:
                show(0.0 if media.mic_muted else peak)
                last, peak = now, 0.0
    finally:
        try:
            track.stop()
        except Exception as exc:  # the meter is gone anyway; the track's owner stops it too
            _log.debug("level meter's track did not stop: %s", type(exc).__name__)
