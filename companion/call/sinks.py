"""Where remote media goes. Every remote track is always consumed: aiortc's receive
queues are unbounded, so a track nobody reads grows memory and latency without limit.
The voice bypasses aiortc's audio jitter buffer and decoder (``receiver.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import av
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from companion.call.receiver import VoiceReceiver, tap_audio_receiver
from companion.events import Signal

_log = logging.getLogger(__name__)


async def play_audio(
    pc: RTCPeerConnection,
    track: MediaStreamTrack,
    voice: VoiceReceiver | None,
    on_packet: Callable[[], None],
) -> None:
    """Play the remote voice through ``voice`` (our playout) until the track ends, then
    close it. ``on_packet`` is told of each audio packet as it arrives: a stream of them
    is proof the link is alive."""
    try:
        receiver = next((r for r in pc.getReceivers() if r.track is track), None)
        if receiver is None:
            _log.warning("no receiver for the remote audio track")
            return

        def put(seq: int, timestamp: int, payload: bytes) -> None:
            on_packet()
            if voice is not None:
                voice.put(seq, timestamp, payload)

        tap_audio_receiver(receiver, put)
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await track.recv()  # aiortc's own decoder gets nothing: this waits for the end
    finally:
        if voice is not None:
            await asyncio.to_thread(voice.close)


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
