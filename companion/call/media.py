"""Local media for a call: senders that never end, whatever happens to the devices.

aiortc's RTP sender stops for good when its track ends, and it stops its track when its
peer connection closes. So each connection sends through *steady* tracks that read the
current source via a relay: a source that is muted, switched, paused or unplugged turns
into silence (audio) or no frames (video), and the call goes on; a new source is picked
up on the next frame without renegotiation.

While a call heals, a fresh connection overlaps the old one, so each source is shared
through ``SourceRelay``: one reader per source, every subscriber sees the newest frame.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from companion.call.synthetic import AUDIO_RATE, AUDIO_SAMPLES, Paced

_log = logging.getLogger(__name__)


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
        self.camera_enabled = True
        self.relay = SourceRelay()

    def audio_for_connection(self) -> MediaStreamTrack:
        return _SteadyAudio(self)

    def video_for_connection(self, allowed: Callable[[], bool] = lambda: True) -> MediaStreamTrack:
        """``allowed``: a further gate (the bandwidth governor)."""
        return _SteadyVideo(self, allowed)

    def replace_audio(self, track: MediaStreamTrack | None) -> None:
        """A different microphone (device switch, or falling back after an unplug)."""
        old, self.audio = self.audio, track
        if old is not None and old is not track:
            old.stop()

    def replace_video(self, track: MediaStreamTrack | None) -> None:
        old, self.video = self.video, track
        if old is not None and old is not track:
            old.stop()

    @property
    def sending_video(self) -> bool:
        return self.video is not None and self.camera_enabled and self.video.readyState == "live"

    async def aclose(self) -> None:
        """Stop the devices and wait for their readers, so no task outlives the call."""
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        await self.relay.aclose()


class SourceRelay:
    """Shares each source among its subscribers, like aiortc's unbuffered ``MediaRelay``.

    Unlike ``MediaRelay`` its readers can be awaited: ``aclose`` ends them, so closing a
    call leaves no task behind reading a device.
    """

    def __init__(self) -> None:
        self._readers: dict[MediaStreamTrack, asyncio.Task[None]] = {}
        self._taps: dict[MediaStreamTrack, set[RelayTap]] = {}

    def subscribe(self, source: MediaStreamTrack) -> RelayTap:
        tap = RelayTap(self, source)
        self._taps.setdefault(source, set()).add(tap)
        if source not in self._readers:
            reader = asyncio.get_running_loop().create_task(self._read(source))
            self._readers[source] = reader
        return tap

    def _unsubscribe(self, tap: RelayTap) -> None:
        self._taps.get(tap.source, set()).discard(tap)

    async def _read(self, source: MediaStreamTrack) -> None:
        frame: av.AudioFrame | av.VideoFrame | None = None
        try:
            while True:
                try:
                    received = await source.recv()
                    assert isinstance(received, (av.AudioFrame, av.VideoFrame))
                    frame = received
                except MediaStreamError:
                    frame = None
                for tap in list(self._taps.get(source, ())):
                    tap.deliver(frame)
                if frame is None:
                    return
        finally:
            # Ended or cancelled: nobody waits for a frame that will never come.
            del self._readers[source]
            for tap in self._taps.pop(source, set()):
                tap.deliver(None)

    async def aclose(self) -> None:
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


class RelayTap(MediaStreamTrack):
    """One subscriber's view of a source: the newest frame, MediaStreamError once it ends."""

    def __init__(self, relay: SourceRelay, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self._relay = relay
        self._frame: av.AudioFrame | av.VideoFrame | None = None
        self._ended = False
        self._new_frame = asyncio.Event()

    def deliver(self, frame: av.AudioFrame | av.VideoFrame | None) -> None:
        if frame is None:
            self._ended = True
        else:
            self._frame = frame
        self._new_frame.set()

    async def recv(self) -> av.AudioFrame | av.VideoFrame:
        await self._new_frame.wait()
        self._new_frame.clear()
        frame, self._frame = self._frame, None
        if frame is None or self._ended:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        super().stop()
        self._relay._unsubscribe(self)
        self.deliver(None)


class _Follower:
    """Follows ``LocalMedia``'s current source of one kind through the relay."""

    def __init__(self, media: LocalMedia) -> None:
        self._media = media
        self._source: MediaStreamTrack | None = None
        self._proxy: RelayTap | None = None

    def proxy_for(self, source: MediaStreamTrack | None) -> RelayTap | None:
        if source is not self._source:
            if self._proxy is not None:
                self._proxy.stop()
            self._source = source
            live = source is not None and source.readyState == "live"
            self._proxy = self._media.relay.subscribe(source) if source and live else None
        return self._proxy

    def source_ended(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
        self._proxy = None

    def close(self) -> None:
        self.source_ended()
        self._source = None


class _SteadyAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self, media: LocalMedia) -> None:
        super().__init__()
        self._media = media
        self._follow = _Follower(media)
        self._silence_pace = Paced(AUDIO_SAMPLES / AUDIO_RATE)
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        proxy = self._follow.proxy_for(self._media.audio)
        frame: av.AudioFrame | None = None
        if proxy is not None:
            try:
                received = await proxy.recv()
                assert isinstance(received, av.AudioFrame)
                frame = received
            except MediaStreamError:
                _log.info("microphone ended; sending silence until another is chosen")
                self._follow.source_ended()
        if frame is None:
            await self._silence_pace.tick()
            return self._silence(AUDIO_SAMPLES)
        self._silence_pace.restart()
        if self._media.mic_muted:
            return self._silence(frame.samples, frame.sample_rate)
        frame.pts, frame.time_base = self._pts, fractions.Fraction(1, frame.sample_rate)
        self._pts += frame.samples
        return frame

    def _silence(self, samples: int, rate: int = AUDIO_RATE) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, samples), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.time_base = rate, fractions.Fraction(1, rate)
        frame.pts = self._pts
        self._pts += samples
        return frame

    def stop(self) -> None:
        super().stop()
        self._follow.close()


class _SteadyVideo(MediaStreamTrack):
    kind = "video"

    def __init__(self, media: LocalMedia, allowed: Callable[[], bool]) -> None:
        super().__init__()
        self._media = media
        self._allowed = allowed
        self._follow = _Follower(media)

    async def recv(self) -> av.VideoFrame:
        while self.readyState == "live":
            if not (self._media.camera_enabled and self._allowed()):
                self._follow.close()  # camera off: stop pulling frames at all
                await asyncio.sleep(0.05)
                continue
            proxy = self._follow.proxy_for(self._media.video)
            if proxy is None:
                await asyncio.sleep(0.05)
                continue
            try:
                frame = await proxy.recv()
            except MediaStreamError:
                _log.info("camera ended; the call goes on without video")
                self._follow.source_ended()
                continue
            assert isinstance(frame, av.VideoFrame)
            return frame
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._follow.close()
