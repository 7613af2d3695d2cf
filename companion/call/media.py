"""Local media for a call: sources that outlive any one peer connection.

aiortc stops a sender's track when its peer connection closes, so every connection gets a
relay subscription, never the source itself. Mute is a gate in front of the microphone.
"""

from __future__ import annotations

import logging

import av
import numpy as np
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

_log = logging.getLogger(__name__)


class _GatedAudio(MediaStreamTrack):
    """Passes audio through, or silence of the same shape while muted."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, local: LocalMedia) -> None:
        super().__init__()
        self._source = source
        self._local = local

    async def recv(self) -> av.AudioFrame:
        frame = await self._source.recv()
        assert isinstance(frame, av.AudioFrame)
        if not self._local.mic_muted:
            return frame
        silent = av.AudioFrame.from_ndarray(
            np.zeros_like(frame.to_ndarray()), format=frame.format.name, layout=frame.layout.name
        )
        silent.sample_rate, silent.pts, silent.time_base = (
            frame.sample_rate,
            frame.pts,
            frame.time_base,
        )
        return silent

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class LocalMedia:
    """The camera and microphone this app sends; either may be missing (a normal case)."""

    def __init__(
        self, audio: MediaStreamTrack | None, video: MediaStreamTrack | None, label: str = ""
    ) -> None:
        self.audio = audio
        self.video = video
        self.label = label
        """What the UI can say about the source, e.g. "test pattern" or a device name."""
        self.mic_muted = False
        self.camera_enabled = video is not None
        self._relay = MediaRelay()

    def audio_for_connection(self) -> MediaStreamTrack | None:
        if self.audio is None:
            return None
        return _GatedAudio(self._relay.subscribe(self.audio, buffered=False), self)

    def video_for_connection(self) -> MediaStreamTrack | None:
        if self.video is None or not self.camera_enabled:
            return None
        return self._relay.subscribe(self.video, buffered=False)

    def stop(self) -> None:
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
