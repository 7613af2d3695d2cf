"""A lock-free single-producer, single-consumer ring of audio frames (float32 unless told)."""

from __future__ import annotations

import numpy as np


class AudioRing:
    """Frames written by one thread and read by another (the audio callback).

    Only the producer moves ``_written`` and only the consumer moves ``_read``; each is a
    Python int rebound atomically under the GIL after its data copy, so neither side takes
    a lock and the callback never waits. ``capacity`` bounds the latency the ring can add.
    """

    def __init__(
        self, capacity_frames: int, channels: int, dtype: type[np.generic] = np.float32
    ) -> None:
        """``dtype``: int16 for a microphone whose samples go on as int16 (no conversion
        either way)."""
        if capacity_frames <= 0:
            raise ValueError("capacity_frames must be positive")
        shape: tuple[int, ...] = (capacity_frames, channels) if channels > 1 else (capacity_frames,)
        self._buf = np.zeros(shape, dtype=dtype)
        self.capacity = capacity_frames
        self._written = 0
        self._read = 0

    @property
    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    @property
    def free(self) -> int:
        """Frames that can be written without overwriting unread ones."""
        return self.capacity - (self._written - self._read)

    @property
    def frames_written(self) -> int:
        return self._written

    @property
    def frames_read(self) -> int:
        return self._read

    def write(self, block: np.ndarray) -> int:
        """Producer: copy as much of ``block`` as fits; returns the frames taken."""
        n = min(len(block), self.free)
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = block[:first]
        if n > first:
            self._buf[: n - first] = block[first:n]
        self._written += n  # publish only after the data is in place
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Consumer: fill the front of ``out``; returns the frames read (may be fewer)."""
        n = min(len(out), self._written - self._read)
        if n <= 0:
            return 0
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start : start + first]
        if n > first:
            out[first:n] = self._buf[: n - first]
        self._read += n
        return n

    def skip(self, frames: int) -> int:
        """Consumer: drop up to ``frames`` unread frames (to shed latency)."""
        n = max(0, min(frames, self._written - self._read))
        self._read += n
        return n
