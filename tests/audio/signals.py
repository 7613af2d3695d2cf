"""Test sounds in and measurements out: sine files of any format, levels, clicks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

RATE = 48_000

_CODECS = {
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".flac": ("flac", "flac", "s16"),
    ".mp3": ("mp3", "libmp3lame", "fltp"),
    ".opus": ("ogg", "libopus", "flt"),
    ".ogg": ("ogg", "libopus", "flt"),
    ".m4a": ("mp4", "aac", "fltp"),
}


def sine(freq: float, seconds: float, amp: float = 0.3, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, mono: np.ndarray, rate: int = RATE, title: str = "") -> Path:
    """Write ``mono`` as stereo in the format the file ending names."""
    fmt, codec, sample_fmt = _CODECS[path.suffix]
    stereo = np.repeat(mono[:, None], 2, axis=1)
    with av.open(str(path), "w", format=fmt) as container:
        if title:
            container.metadata["title"] = title
        stream: Any = container.add_stream(codec, rate=rate, layout="stereo")
        frame_size = 4096
        pts = 0
        for start in range(0, len(stereo), frame_size):
            block = stereo[start : start + frame_size]
            if sample_fmt == "s16":
                data = (block * 32767).astype(np.int16).reshape(1, -1)
            elif sample_fmt == "flt":
                data = np.ascontiguousarray(block).reshape(1, -1)
            else:
                data = np.ascontiguousarray(block.T)
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout="stereo")
            frame.sample_rate = rate
            frame.pts = pts
            pts += len(block)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def rms_db(x: np.ndarray, window: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive windows of the first channel."""
    mono = x[:, 0] if x.ndim == 2 else x
    n = len(mono) // window
    blocks = mono[: n * window].reshape(n, window).astype(np.float64)
    return np.asarray(20 * np.log10(np.sqrt(np.mean(blocks**2, axis=1)) + 1e-12))


def tone_db(x: np.ndarray, freq: float, window: int, rate: int = RATE) -> np.ndarray:
    """Level (dB re amplitude 1) of ``freq`` in consecutive windows: a lock-in amplifier."""
    mono = (x[:, 0] if x.ndim == 2 else x).astype(np.float64)
    n = len(mono) // window
    blocks = mono[: n * window].reshape(n, window)
    t = np.arange(window) / rate
    hann = np.hanning(window)
    norm = hann.sum() / 2
    i = blocks @ (hann * np.sin(2 * np.pi * freq * t))
    q = blocks @ (hann * np.cos(2 * np.pi * freq * t))
    return np.asarray(20 * np.log10(np.hypot(i, q) / norm + 1e-12))


def max_step(x: np.ndarray) -> float:
    """Largest sample-to-sample jump on either channel: a click shows up here."""
    return float(np.max(np.abs(np.diff(x, axis=0)))) if len(x) > 1 else 0.0


def fft_peak_hz(x: np.ndarray, rate: int = RATE) -> float:
    mono = x[:, 0] if x.ndim == 2 else x
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / rate)[int(np.argmax(spectrum))])
