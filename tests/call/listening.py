"""Listening to a call's voice in tests: silent stretches, the tone by FFT, and how long
the machine left this process unscheduled (so bounds can allow for it)."""

from __future__ import annotations

import threading
import time

import numpy as np

RATE = 48_000


class StallWatch:
    """A thread that sleeps 2 ms at a time and notes how much later it woke."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StallWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(0.002)
            self.worst_s = max(self.worst_s, time.monotonic() - before - 0.002)


def silent_runs_ms(audio: np.ndarray) -> list[float]:
    """Lengths of every stretch of 1 ms windows below -45 dBFS after the voice starts."""
    windows = audio[: len(audio) // 48 * 48].reshape(-1, 48)
    silent = np.sqrt(np.mean(windows**2, axis=1)) < 10 ** (-45 / 20)
    loud = np.flatnonzero(~silent)
    assert len(loud), "nothing was heard"
    edges = np.diff(np.concatenate([[0], silent[loud[0] :].astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [float(length) for length in ends - starts]


def tone_share(audio: np.ndarray, tone: float) -> tuple[float, float]:
    """The dominant frequency, and the share of the energy within 20 Hz of the tone."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    near = np.abs(freqs - tone) < 20
    return float(freqs[int(np.argmax(spectrum))]), float(spectrum[near].sum() / spectrum.sum())
