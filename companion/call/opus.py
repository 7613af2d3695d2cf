"""libopus's decoder, called directly: packet-loss concealment and in-band FEC.

PyAV (and so aiortc) reaches libopus only through FFmpeg, which has no way to ask for a
concealed frame or for the FEC copy of a lost one. So the playout decodes with libopus
itself (Debian ``libopus0``) through ``ctypes``. It is loaded as a ``PyDLL``: the GIL stays
held for the ~50 µs a 20 ms frame takes, so the decoding thread never queues behind
another for the interpreter in the middle of a frame.

The sending side stays aiortc's (FFmpeg's libopus encoder); ``FecOpusEncoder`` only turns
on in-band FEC and tells the encoder to expect loss, which makes it carry a low-bitrate
copy of each frame in the next packet.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np
from aiortc.codecs.opus import OpusEncoder

RATE = 48_000
FRAME = 960
"""Samples per 20 ms packet (what aiortc sends)."""
_MAX_FRAME = 5760  # 120 ms, the longest an Opus packet can hold


class OpusUnavailable(RuntimeError):
    """libopus could not be loaded."""


def _load() -> Any:
    name = ctypes.util.find_library("opus") or "libopus.so.0"
    try:
        lib = ctypes.PyDLL(name)
    except OSError as exc:
        raise OpusUnavailable(f"libopus not found ({name}): install Debian libopus0") from exc
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decode_float.restype = ctypes.c_int
    lib.opus_decode_float.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_packet_get_nb_samples.restype = ctypes.c_int
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
    return lib


_lib: Any = None


def _library() -> Any:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


class OpusDecoder:
    """Mono float32 at 48 kHz. Each call returns a view of one internal buffer, valid
    until the next call (copy it out before decoding again)."""

    def __init__(self) -> None:
        lib = _library()
        error = ctypes.c_int(0)
        self._lib = lib
        self._state = lib.opus_decoder_create(RATE, 1, ctypes.byref(error))
        if error.value != 0 or not self._state:
            raise OpusUnavailable(f"opus_decoder_create failed ({error.value})")
        self._pcm = np.zeros(_MAX_FRAME, dtype=np.float32)
        self._pcm_ptr = self._pcm.ctypes.data

    def decode(self, payload: bytes) -> np.ndarray:
        """One packet; a corrupt one is concealed instead."""
        n = self._lib.opus_decode_float(
            self._state, payload, len(payload), self._pcm_ptr, _MAX_FRAME, 0
        )
        return self._pcm[:n] if n > 0 else self.conceal()

    def conceal(self, samples: int = FRAME) -> np.ndarray:
        """Packet-loss concealment: what the lost ``samples`` probably sounded like."""
        n = self._lib.opus_decode_float(self._state, None, 0, self._pcm_ptr, samples, 0)
        if n <= 0:
            self._pcm[:samples] = 0.0
            n = samples
        return self._pcm[:n]

    def decode_fec(self, next_payload: bytes, samples: int = FRAME) -> np.ndarray:
        """The lost frame before ``next_payload``, from the copy that packet carries
        (plain concealment where it carries none)."""
        n = self._lib.opus_decode_float(
            self._state, next_payload, len(next_payload), self._pcm_ptr, samples, 1
        )
        return self._pcm[:n] if n > 0 else self.conceal(samples)

    @staticmethod
    def samples_in(payload: bytes) -> int:
        n: int = _library().opus_packet_get_nb_samples(payload, len(payload), RATE)
        return n if n > 0 else FRAME

    def close(self) -> None:
        if self._state:
            self._lib.opus_decoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


FEC_EXPECTED_LOSS_PCT = 10
"""The loss the encoder plans for: enough for it to always carry the FEC copy."""


class FecOpusEncoder(OpusEncoder):
    """aiortc's Opus encoder with in-band FEC on and a packet-loss hint."""

    def __init__(self) -> None:
        super().__init__()
        self.codec.options = {
            **self.codec.options,
            "fec": "1",
            "packet_loss": str(FEC_EXPECTED_LOSS_PCT),
        }
