"""File decoding with PyAV: any audio FFmpeg reads (MP3, FLAC, OGG/Opus, WAV, M4A…) as
stereo float32 at the engine's rate. Runs on the music worker, never in the callback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from companion.audio.ratelimit import RateLimitedLog

_log = logging.getLogger(__name__)
_decode_errors = RateLimitedLog(_log, interval_s=30.0)

#: File endings offered when adding a folder; anything else is skipped with a note.
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".aac", ".mp4", ".aiff", ".aif"}
)


class UnsupportedTrack(Exception):
    """A file that cannot be played; ``reason`` is plain words for the UI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Decoder:
    """Reads one file block by block. Validates at open: the first audio must decode."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        try:
            self._container: Any = av.open(str(path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise UnsupportedTrack(_reason(exc, "not an audio file we can read")) from exc
        try:
            if not self._container.streams.audio:
                raise UnsupportedTrack("no audio in this file")
            self._stream = self._container.streams.audio[0]
            self.title = _title(self._container, self._stream, path)
            self.duration_s = _duration(self._container, self._stream)
            self._resampler = av.AudioResampler(format="flt", layout="stereo", rate=sample_rate)
            self._frames: Iterator[Any] = self._container.decode(self._stream)
            self._pending = np.zeros((0, 2), dtype=np.float32)
            self._ended = False
            self._pending = self._next_chunk()
            if len(self._pending) == 0:
                raise UnsupportedTrack("the file holds no playable audio")
        except UnsupportedTrack:
            self.close()
            raise
        except (av.FFmpegError, ValueError) as exc:
            self.close()
            raise UnsupportedTrack(_reason(exc, "the audio could not be decoded")) from exc

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` stereo frames; fewer only at the end of the file (then empty)."""
        parts = [self._pending]
        have = len(self._pending)
        while have < frames:
            chunk = self._next_chunk()
            if len(chunk) == 0:
                break
            parts.append(chunk)
            have += len(chunk)
        block = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._pending = block[frames:]
        return block[:frames]

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` (sample-exact: decodes from the previous keyframe and drops)."""
        if seconds <= 0.0:
            return
        try:
            self._container.seek(int(seconds * 1_000_000), any_frame=False)
        except av.FFmpegError as exc:
            _decode_errors.warning("seek failed: %s", type(exc).__name__)
            return
        self._frames = self._container.decode(self._stream)
        self._resampler = av.AudioResampler(format="flt", layout="stereo", rate=self.sample_rate)
        self._pending = np.zeros((0, 2), dtype=np.float32)
        self._ended = False
        target = int(seconds * self.sample_rate)
        while True:
            try:
                frame = next(self._frames)
            except (StopIteration, av.FFmpegError):
                self._ended = True
                return
            if frame.pts is None or frame.time_base is None:
                self._pending = self._convert(frame)
                return
            start = int(float(frame.pts * frame.time_base) * self.sample_rate)
            block = self._convert(frame)
            if start + len(block) > target:
                self._pending = block[max(0, target - start) :]
                return

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            self._container = None
            container.close()

    def _next_chunk(self) -> np.ndarray:
        if self._ended:
            return np.zeros((0, 2), dtype=np.float32)
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                self._ended = True
                return self._flush()
            except av.FFmpegError as exc:
                # A damaged stretch ends the track early; the player moves on without a gap.
                _decode_errors.warning("decode stopped early: %s", type(exc).__name__)
                self._ended = True
                return self._flush()
            block = self._convert(frame)
            if len(block):
                return block

    def _convert(self, frame: Any) -> np.ndarray:
        frame.pts = None  # the resampler only needs the samples; odd timestamps upset it
        parts = [f.to_ndarray().reshape(-1, 2) for f in self._resampler.resample(frame)]
        if not parts:
            return np.zeros((0, 2), dtype=np.float32)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _flush(self) -> np.ndarray:
        parts = [f.to_ndarray().reshape(-1, 2) for f in self._resampler.resample(None)]
        return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.float32)


def probe(path: Path) -> tuple[str, float | None]:
    """Title and duration of a file without decoding it; raises ``UnsupportedTrack``."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UnsupportedTrack("no audio in this file")
            stream = container.streams.audio[0]
            return _title(container, stream, path), _duration(container, stream)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise UnsupportedTrack(_reason(exc, "not an audio file we can read")) from exc


def _title(container: Any, stream: Any, path: Path) -> str:
    for metadata in (container.metadata, stream.metadata):
        title = metadata.get("title") or metadata.get("TITLE")
        if title:
            return str(title)
    return path.stem


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def _reason(exc: BaseException, fallback: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file is missing"
    if isinstance(exc, PermissionError):
        return "the file cannot be opened (permission)"
    return fallback
