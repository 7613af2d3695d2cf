"""Sample-rate conversion for streams that arrive at a rate other than the engine's."""

from __future__ import annotations

import av
import numpy as np


class Resampler:
    """Streaming float32 conversion from one rate to another with FFmpeg's swresample.

    Keeps its filter state between calls, so consecutive blocks join without a seam.
    Not thread-safe: one producer owns it.
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int = 1) -> None:
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.channels = channels
        self._layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="flt", layout=self._layout, rate=to_rate)
        self._pts = 0

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """``pcm``: (n,) for mono or (n, 2) for stereo float32; returns the same shape at
        the target rate (the length varies by a few samples from call to call)."""
        packed = np.ascontiguousarray(pcm, dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=self._layout)
        frame.sample_rate = self.from_rate
        frame.pts = self._pts
        self._pts += len(pcm)
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return out if self.channels == 1 else out.reshape(-1, 2)
