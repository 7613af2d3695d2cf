"""``companion --self-test``: offscreen checks that the built app works."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from companion.audio.processing import VoiceProcessing
from companion.i18n import _
from companion.selftest.report import print_line


@dataclass(frozen=True)
class AppCheck:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.passed else 'FAILED'} — {self.detail}"


def _app_check(name: str, run: Callable[[], str]) -> AppCheck:
    try:
        return AppCheck(name, True, run())
    except Exception as exc:
        message = " ".join(str(exc).split())[:300]
        return AppCheck(name, False, f"{type(exc).__name__}: {message}")


def app_check_qt() -> str:
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    app = QApplication.instance() or QApplication(["companion", "-platform", "offscreen"])
    assert isinstance(app, QApplication)
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.addWidget(QLabel(_("Companion self-test")))
    widget.resize(320, 200)
    widget.show()
    app.processEvents()
    pixmap = widget.grab()
    widget.close()
    widget.deleteLater()
    app.processEvents()
    if pixmap.isNull() or pixmap.width() < 1:
        raise RuntimeError("the widget could not be drawn")
    platforms = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    plugins = sorted(
        p.name.removeprefix("libq").removesuffix(".so")
        for p in platforms.glob("libq*.so")
        if p.name in ("libqxcb.so", "libqoffscreen.so", "libqwayland.so")
    )
    if sys.platform.startswith("linux") and "xcb" not in plugins:
        raise RuntimeError(f"Qt's xcb platform plugin is missing from {platforms}")
    return _(
        "PySide6 {pyside_version} on {value}, a widget drawn ({value2}×{value3}); platform plugins: {value4}"
    ).format(
        pyside_version=pyside_version,
        value=app.platformName(),
        value2=pixmap.width(),
        value3=pixmap.height(),
        value4=", ".join(plugins) or "-",
    )


def _engine_plays(device: str | None) -> tuple[str | None, int]:
    from companion.audio import AudioEngine, ChimeKind, DeviceOptions, EngineOptions

    options = EngineOptions(
        device=DeviceOptions(device=device), fade_in_s=0.05, fade_out_s=0.1, reopen_interval_s=60
    )
    engine = AudioEngine(options)
    try:
        engine.start(play=False)
        info = engine.device
        if info is None:
            return None, 0
        engine.play_chime(ChimeKind.NOTICE)
        deadline = time.monotonic() + 3.0
        while engine.callback_stats.count < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        return info.name, engine.callback_stats.count
    finally:
        engine.close()


def app_check_audio() -> str:
    import sounddevice as sd

    from companion.audio.device import list_output_devices

    library = str(getattr(sd, "_libname", "?"))
    version = sd.get_portaudio_version()[1]
    names = [d.name for d in list_output_devices()]
    name, callbacks = _engine_plays(None)
    how = _("the default output")
    if name is None and "null" in names:
        # No sound card: ALSA's null device takes the samples at a real device's pace.
        name, callbacks = _engine_plays("null")
        how = _("the ALSA null device (no sound card)")
    if name is None:
        listed = ", ".join(names) or "none"
        raise RuntimeError(f"no output device could be opened (devices: {listed})")
    if callbacks == 0:
        raise RuntimeError(f"the output device “{name}” opened but never asked for audio")
    return _(
        "the audio engine played on {how} “{name}” ({callbacks} callbacks); {version} from {library}"
    ).format(how=how, name=name, callbacks=callbacks, version=version, library=library)


async def _loopback_call(timeout_s: float) -> str:
    from aiortc import RTCConfiguration, RTCPeerConnection

    config = RTCConfiguration(iceServers=[])
    caller, callee = RTCPeerConnection(config), RTCPeerConnection(config)
    loop = asyncio.get_running_loop()
    echoed: asyncio.Future[str] = loop.create_future()
    try:
        channel = caller.createDataChannel("selftest")

        def on_datachannel(remote: Any) -> None:
            remote.on("message", lambda message: remote.send(f"echo:{message}"))

        def on_echo(message: Any) -> None:
            if not echoed.done():
                echoed.set_result(str(message))

        callee.on("datachannel", on_datachannel)
        channel.on("open", lambda: channel.send("hello"))
        channel.on("message", on_echo)
        caller.addTransceiver("audio", direction="sendrecv")
        caller.addTransceiver("video", direction="sendrecv")
        await caller.setLocalDescription(await caller.createOffer())
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)
        reply = await asyncio.wait_for(echoed, timeout_s)
        if reply != "echo:hello":
            raise RuntimeError(f"unexpected reply {reply!r}")
        sdp = callee.localDescription.sdp
        codecs = [c for c in ("opus", "VP8") if c in sdp]
        return _("ICE {state}, data channel echoed, codecs {codecs}").format(
            state=caller.iceConnectionState, codecs="+".join(codecs)
        )
    finally:
        await caller.close()
        await callee.close()


def _encode_one_frame_each() -> None:
    """Opus and VP8 through aiortc's native codec libraries (one frame each)."""
    import fractions

    import av
    import numpy as np
    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    opus = get_encoder(RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2))
    audio = av.AudioFrame.from_ndarray(
        np.zeros((1, 960 * 2), dtype=np.int16), format="s16", layout="stereo"
    )
    audio.sample_rate, audio.pts, audio.time_base = 48000, 0, fractions.Fraction(1, 48000)
    packets, _extra = opus.encode(audio)
    vp8 = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
    video = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), dtype=np.uint8), format="rgb24")
    video.pts, video.time_base = 0, fractions.Fraction(1, 90000)
    vpackets, _vextra = vp8.encode(video)
    if not packets or not vpackets:
        raise RuntimeError("a codec produced nothing")


def app_check_aiortc(timeout_s: float = 20.0) -> str:
    import aiortc
    import av

    _encode_one_frame_each()
    result = asyncio.run(_loopback_call(timeout_s))
    return _("aiortc {aiortc} (PyAV {pyav}): {result}; Opus and VP8 encode").format(
        aiortc=aiortc.__version__, pyav=av.__version__, result=result
    )


def app_check_music(seconds: float = 1.0) -> str:
    from companion.audio.decoder import Decoder
    from companion.audio.playlist import bundled_music_folder, bundled_playlist

    folder = bundled_music_folder()
    tracks = [t for t in bundled_playlist().tracks if not t.is_generative]
    if not tracks:
        raise RuntimeError(f"no bundled music in {folder}")
    rate = 48_000
    for track in tracks:
        decoder = Decoder(Path(track.location), rate)
        try:
            got = len(decoder.read(int(seconds * rate)))
        finally:
            decoder.close()
        if got < int(seconds * rate):
            raise RuntimeError(f"“{Path(track.location).name}” gave only {got} frames")
    return _("{n} tracks in {folder} decode ({seconds:g} s of each)").format(
        n=len(tracks), folder=folder, seconds=seconds
    )


def app_check_voice(seconds: float = 2.0) -> str:
    """The microphone's echo canceller from the bundle: an echo of noise, cancelled."""
    import importlib.resources

    import numpy as np

    processing = VoiceProcessing()
    if not processing.active:
        raise RuntimeError("libwebrtc's audio processing (livekit) could not be loaded")
    sent: list[np.ndarray] = []
    processing.sink = sent.append
    rng = np.random.default_rng(1)
    n, delay = int(seconds * 48_000), 2_400  # 50 ms
    far = (rng.standard_normal(n) * 0.1).astype(np.float32)
    echo = np.concatenate([np.zeros(delay, np.float32), far[:-delay]]) * 0.5 * 32767
    try:
        for start in range(0, n, 960):
            block = far[start : start + 960]
            processing.played(np.repeat(block[:, None], 2, axis=1))
            processing.capture(echo[start : start + 960].astype(np.int16))
            processing.process_pending()
    finally:
        processing.close()
    out = np.concatenate(sent).astype(np.float64)
    tail = slice(n // 2, len(out))
    erle = 10 * math.log10(
        float(np.mean(echo[tail] ** 2)) / max(float(np.mean(out[tail] ** 2)), 1e-9)
    )
    if erle < 10:
        raise RuntimeError(f"an echo was reduced by only {erle:.1f} dB")
    library = importlib.resources.files("livekit.rtc.resources")
    return _("echo cancelled by {erle:.0f} dB; libwebrtc audio processing from {library}").format(
        erle=erle, library=library
    )


APP_CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("qt", app_check_qt),
    ("audio", app_check_audio),
    ("aiortc", app_check_aiortc),
    ("music", app_check_music),
    ("voice", app_check_voice),
)


def run_app_selftest(out: TextIO | None = None) -> int:
    """Offscreen checks of the build, one line each; 0 only if all pass."""
    out = out or sys.stdout
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from companion import __version__

    frozen = _("built app") if getattr(sys, "frozen", False) else _("from source")
    print_line(
        out,
        _("companion {version} self-test ({frozen}, Python {python})").format(
            version=__version__, frozen=frozen, python=sys.version.split()[0]
        ),
    )
    results: list[AppCheck] = []
    for name, run in APP_CHECKS:
        result = _run_bounded(name, run, timeout_s=60.0)
        results.append(result)
        print_line(out, result.line())
    passed = all(r.passed for r in results)
    print_line(out, _("self-test passed") if passed else _("self-test FAILED"))
    return 0 if passed else 1


def _run_bounded(name: str, run: Callable[[], str], timeout_s: float) -> AppCheck:
    """A hung check (a device that never answers) fails instead of hanging the test.
    Qt must stay on the main thread, so that one runs directly."""
    if name == "qt":
        return _app_check(name, run)
    box: list[AppCheck] = []
    worker = threading.Thread(target=lambda: box.append(_app_check(name, run)), daemon=True)
    worker.start()
    worker.join(timeout_s)
    return (
        box[0]
        if box
        else AppCheck(
            name, False, _("did not finish within {timeout_s:g} s").format(timeout_s=timeout_s)
        )
    )
