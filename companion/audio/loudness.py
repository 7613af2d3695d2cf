"""Integrated loudness after ITU-R BS.1770 (K-weighting, 400 ms blocks, two gates), in numpy.

The K-weighting filter is applied in the frequency domain (its exact magnitude response on
a zero-padded FFT), so no per-sample loop and no scipy. Only 48 kHz, the engine's rate.
"""

from __future__ import annotations

import math

import numpy as np

RATE = 48_000
# BS.1770-4 K-weighting at 48 kHz: a high shelf (the head) and a high-pass (RLB).
_SHELF = (
    (1.53512485958697, -2.69169618940638, 1.19839281085285),
    (1.0, -1.69065929318241, 0.73248077421585),
)
_HIGHPASS = ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621))
_PAD = RATE  # one second of zeros: the filters' tails die out well within it


def _k_response(n_fft: int) -> np.ndarray:
    z = np.exp(-1j * np.pi * np.arange(n_fft // 2 + 1) / (n_fft // 2))
    response = np.ones_like(z)
    for b, a in (_SHELF, _HIGHPASS):
        response *= np.polyval(b[::-1], z) / np.polyval(a[::-1], z)
    return np.asarray(response)


def k_weighted(x: np.ndarray) -> np.ndarray:
    """``x`` (frames,) or (frames, channels) at 48 kHz, K-weighted, same shape."""
    frames = x.shape[0]
    n_fft = 1 << (frames + _PAD - 1).bit_length()
    spectrum = np.fft.rfft(np.asarray(x, dtype=np.float64), n_fft, axis=0)
    response = _k_response(n_fft)
    if x.ndim == 2:
        response = response[:, None]
    return np.fft.irfft(spectrum * response, n_fft, axis=0)[:frames]


def integrated_lufs(x: np.ndarray) -> float:
    """Gated integrated loudness (LUFS) of ``x``; channels weighted 1 (left, right, mono).
    ``-inf`` for silence or anything shorter than one 400 ms block."""
    y = k_weighted(x)
    if y.ndim == 1:
        y = y[:, None]
    block, step = int(0.4 * RATE), int(0.1 * RATE)
    if y.shape[0] < block:
        return -math.inf
    power = np.cumsum(np.concatenate([np.zeros((1, y.shape[1])), y * y]), axis=0)
    starts = np.arange(0, y.shape[0] - block + 1, step)
    z = ((power[starts + block] - power[starts]) / block).sum(axis=1)
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(z)
    gated = z[levels > -70.0]
    if gated.size == 0:
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(gated.mean())) - 10.0
    gated = z[(levels > -70.0) & (levels > relative)]
    return -0.691 + 10 * math.log10(float(gated.mean()))
