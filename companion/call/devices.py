"""Real camera and microphone.

The microphone is a PortAudio input stream (sounddevice). With the call's
``VoiceProcessing`` (echo cancellation, noise suppression) the callback only copies each
block into its ring and the processing thread hands 20 ms frames to the asyncio loop;
without it the callback hands the raw 20 ms blocks over itself. The camera is PyAV's device input decoded on aiortc's player thread.
Either may be missing — a normal case the UI says plainly — and either may vanish during a
call (unplugged): the track then ends and ``lost`` fires so the app can fall back.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import sys
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from companion.audio.device import PORTAUDIO_LOCK
from companion.audio.processing import VoiceProcessing
from companion.call.synthetic import AUDIO_RATE, AUDIO_SAMPLES
from companion.events import Signal

_log = logging.getLogger(__name__)

# 20 ms blocks; a backlog beyond this is latency nobody wants, so the oldest go.
_MAX_QUEUED_BLOCKS = 10


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    is_default: bool


def list_microphones() -> list[InputDevice]:
    """Input devices PortAudio can see (empty when there are none, or no PortAudio)."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except (OSError, ImportError) as exc:
        _log.warning("no audio input available: %s", type(exc).__name__)
        return []
    return [
        InputDevice(index, str(info["name"]), index == default_in)
        for index, info in enumerate(devices)
        if int(info["max_input_channels"]) > 0
    ]


class MicrophoneTrack(MediaStreamTrack):
    """Mono 48 kHz, 20 ms frames from a PortAudio input device."""

    kind = "audio"

    def __init__(
        self,
        device: int | str | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        processing: VoiceProcessing | None = None,
        stream: bool = True,
    ) -> None:
        """Open the device; `loop` is the loop that will call recv() (pass it when
        opening from a worker thread, where there is no running loop). ``processing``:
        the call's echo canceller, which this microphone feeds from now on.
        ``stream=False``: no PortAudio stream; the caller hands blocks to ``captured`` as
        the callback would (benchmarks)."""
        super().__init__()
        import sounddevice as sd

        self.device = device
        self.lost: Signal[[]] = Signal()
        self.processing = processing
        self._owner_loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._pts = 0
        self._stream: Any = None
        self._stopping = False
        self._sink = self._hand_over  # one bound method: the processing's current listener
        if processing is not None:
            processing.reset_capture()  # another microphone: another echo path
            processing.sink = self._sink
        if not stream:
            return
        try:
            with PORTAUDIO_LOCK:
                self._stream = sd.RawInputStream(
                    samplerate=AUDIO_RATE,
                    blocksize=AUDIO_SAMPLES,
                    channels=1,
                    dtype="int16",
                    device=device,
                    callback=self._on_audio,
                    finished_callback=self._on_finished,
                    latency="low",
                )
                self._stream.start()
        except BaseException:
            self._detach()
            raise
        if processing is not None:
            processing.set_input_latency(float(self._stream.latency))

    def _on_audio(self, data: Any, frames: int, time_info: Any, status: Any) -> None:
        self.captured(np.frombuffer(data, dtype=np.int16))

    def captured(self, block: np.ndarray) -> None:
        """PortAudio's thread: one block (int16 mono, any length). Copied, handed over,
        nothing else."""
        processing = self.processing
        if processing is not None:
            # Only the microphone the processing listens to feeds it (during a switch the
            # old one may still deliver a block or two: its ring has one producer).
            if processing.sink is self._sink:
                processing.capture(block)
        else:
            self._hand_over(block.copy())

    def _detach(self) -> None:
        processing = self.processing
        if processing is not None and processing.sink is self._sink:
            processing.sink = None

    def _hand_over(self, pcm: np.ndarray | None) -> None:
        loop = self._owner_loop
        if loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._enqueue, pcm)
        except RuntimeError:  # the loop closed meanwhile: nobody is listening
            return

    def _enqueue(self, block: np.ndarray | None) -> None:
        while self._queue.qsize() >= _MAX_QUEUED_BLOCKS:
            self._queue.get_nowait()
        self._queue.put_nowait(block)
        if block is None and not self._stopping:
            # The stream ended by itself (unplugged): say so now, whether or not anyone
            # is reading, so the app can fall back to another microphone.
            self._stopping = True
            _log.warning("microphone stopped delivering audio (unplugged?)")
            self.lost.emit()

    def _on_finished(self) -> None:
        self._hand_over(None)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        block = await self._queue.get()
        if block is None:
            self.stop()
            raise MediaStreamError
        pcm = block.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += pcm.shape[1]
        return frame

    def stop(self) -> None:
        self._stopping = True
        super().stop()
        self._detach()
        if self._stream is None:
            return
        with PORTAUDIO_LOCK:
            if not self._stream.closed:
                self._stream.abort()
                self._stream.close()


def open_camera(device: str | None = None) -> MediaStreamTrack | None:
    """The platform's default camera at 640x480/30, or None when there is none."""
    from aiortc.contrib.media import MediaPlayer

    options = {"video_size": "640x480", "framerate": "30"}
    if sys.platform.startswith("linux"):
        source, fmt = device or "/dev/video0", "v4l2"
    elif sys.platform == "darwin":
        source, fmt = device or "default:none", "avfoundation"
    else:
        source, fmt = device or "video=Integrated Camera", "dshow"
    try:
        player = MediaPlayer(source, format=fmt, options=options)
    except (OSError, av.FFmpegError) as exc:
        _log.info("no camera (%s)", type(exc).__name__)
        return None
    return player.video


def open_microphone(
    device: int | str | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    processing: VoiceProcessing | None = None,
) -> MicrophoneTrack | None:
    """The given (or default) microphone, or None when there is none."""
    try:
        import sounddevice as sd

        return MicrophoneTrack(device, loop=loop, processing=processing)
    except (OSError, ImportError, ValueError, sd.PortAudioError) as exc:
        _log.info("no microphone (%s)", type(exc).__name__)
        return None
