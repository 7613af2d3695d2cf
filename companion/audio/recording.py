"""A person's own voice, recorded for the spoken lines (issue 22): captured from the
microphone through PortAudio, kept and sent as Ogg Opus (PyAV, which aiortc already
needs), and read back as the engine's mono float32 at 48 kHz.

Opus at 24 kbit/s keeps a ten-second line near 30 KB, so it travels in a few pieces and
is stored small; the voice band loses nothing a listener would miss.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np

from companion.audio.loudness import RATE

OPUS_BITRATE = 24_000
MAX_RECORDING_S = 60.0
"""A line is a sentence or a prompt; a forgotten "stop" does not fill the disk."""


class BrokenRecording(ValueError):
    """The bytes are not an audio file this app can read."""


def encode_opus(samples: np.ndarray) -> bytes:
    """Mono float32 at 48 kHz → an Ogg Opus file (bytes). Blocking: off the event loop."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream: Any = container.add_stream("libopus", rate=RATE)
        stream.bit_rate = OPUS_BITRATE
        stream.layout = "mono"
        pcm = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
        block = RATE // 50
        pts = 0
        for start in range(0, len(pcm), block):
            piece = pcm[start : start + block]
            frame = av.AudioFrame.from_ndarray(piece[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, pts
            pts += len(piece)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def decode_audio(data: bytes) -> np.ndarray:
    """Any file PyAV reads (Ogg Opus here) → mono float32 at 48 kHz; ``BrokenRecording``
    when it is not one, or holds no sound."""
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            pieces: list[np.ndarray] = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, ValueError, IndexError, EOFError) as exc:
        raise BrokenRecording(type(exc).__name__) from None
    samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    if len(samples) < RATE // 10 or not np.any(np.abs(samples) > 1e-4):
        raise BrokenRecording("no sound")
    return samples


def trimmed(samples: np.ndarray, margin_s: float = 0.15) -> np.ndarray:
    """The words without the silence before and after (the moments spent reaching for
    "record" and "stop"), with a short margin so no breath or syllable is cut."""
    level = np.abs(samples)
    peak = float(level.max()) if len(level) else 0.0
    if peak <= 0.0:
        return samples[:0]
    heard = np.flatnonzero(level > peak * 0.05)
    margin = int(margin_s * RATE)
    return samples[max(0, heard[0] - margin) : heard[-1] + margin + 1]


class Recorder:
    """Records the default (or a named) microphone until ``stop``: mono float32 at 48 kHz.
    PortAudio's thread only copies each block; nothing else runs there."""

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._lock = threading.Lock()
        self._stream: Any = None

    @property
    def recording(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        """Raises ``OSError`` (PortAudio's error is one) when there is no microphone."""
        import sounddevice as sd

        from companion.audio.device import PORTAUDIO_LOCK

        self._blocks, self._frames = [], 0
        with PORTAUDIO_LOCK:
            try:
                # 16-bit: what every capture device offers (the call's microphone too).
                stream = sd.RawInputStream(
                    samplerate=RATE,
                    channels=1,
                    dtype="int16",
                    device=self.device,
                    callback=self._on_audio,
                )
                stream.start()
            except sd.PortAudioError as exc:
                raise OSError(str(exc)) from None
        self._stream = stream

    def _on_audio(self, data: Any, frames: int, time_info: Any, status: Any) -> None:
        with self._lock:
            if self._frames < MAX_RECORDING_S * RATE:
                pcm = np.frombuffer(data, dtype=np.int16)
                self._blocks.append(pcm.astype(np.float32) / np.float32(32768.0))
                self._frames += frames

    def stop(self) -> np.ndarray:
        """The recording so far (the stream closed)."""
        from companion.audio.device import PORTAUDIO_LOCK

        stream, self._stream = self._stream, None
        if stream is not None:
            with PORTAUDIO_LOCK:
                stream.stop()
                stream.close()
        with self._lock:
            blocks, self._blocks = self._blocks, []
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def play(samples: np.ndarray, device: int | str | None = None) -> None:
    """Play a recording back on the default output until it ends (blocking: a worker
    thread). For the person who recorded it, before any session: not through an engine."""
    import sounddevice as sd

    from companion.audio.device import PORTAUDIO_LOCK

    try:
        with PORTAUDIO_LOCK:
            sd.play(np.asarray(samples, np.float32), RATE, device=device)
        sd.wait()
    except sd.PortAudioError as exc:
        raise OSError(str(exc)) from None
