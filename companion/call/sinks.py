"""Where remote media goes. Every remote track is always consumed: aiortc's receive
queues are unbounded, so a track nobody reads grows memory and latency without limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from companion.events import Signal

_log = logging.getLogger(__name__)


class VoiceOutput(Protocol):
    """The audio engine's input for the therapist's (or patient's) voice."""

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        """Mono float32 samples in [-1, 1]; must not block."""


async def consume_audio(
    track: MediaStreamTrack, output: VoiceOutput | None, on_frame: Callable[[], None]
) -> None:
    """Read every remote audio frame; hand it to the audio engine as mono float32.

    ``on_frame`` is told of each frame: a stream of them is proof the link is alive.
    """
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            on_frame()
            if output is None:
                continue
            pcm = frame.to_ndarray()
            channels = len(frame.layout.channels)
            # Packed s16: shape (1, samples * channels); average channels to mono.
            mono = pcm.reshape(-1, channels).mean(axis=1) if channels > 1 else pcm.reshape(-1)
            output.push((mono / 32768.0).astype(np.float32), frame.sample_rate)


class VideoSink:
    """Keeps the newest remote frame and converts it to RGB off the event loop.

    Frames that arrive while a conversion runs replace each other: late frames are
    dropped, never queued. ``frame_ready`` carries an (H, W, 3) uint8 array.
    """

    def __init__(self) -> None:
        self.frame_ready: Signal[[np.ndarray]] = Signal()
        self.frames_received = 0
        self.frames_shown = 0
        self._latest: av.VideoFrame | None = None
        self._wake = asyncio.Event()

    async def consume(self, track: MediaStreamTrack) -> None:
        converter = asyncio.create_task(self._convert_loop())
        try:
            with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
                while True:
                    frame = await track.recv()
                    assert isinstance(frame, av.VideoFrame)
                    self._latest = frame
                    self.frames_received += 1
                    self._wake.set()
        finally:
            converter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await converter

    async def _convert_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            frame, self._latest = self._latest, None
            if frame is None:
                continue
            rgb = await loop.run_in_executor(None, _to_rgb, frame)
            self.frames_shown += 1
            self.frame_ready.emit(rgb)


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")
