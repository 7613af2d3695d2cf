"""The person's devices: camera, microphone (with a level meter), speakers."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

from companion.audio.gain import dbfs
from companion.audio.processing import VoiceProcessing
from companion.i18n import _
from companion.selftest.report import CheckResult, Verdict


async def check_camera(device: str | None = None, timeout_s: float = 5.0) -> CheckResult:
    """Open the camera and wait for one picture."""
    name = _("Camera")
    try:
        from companion.call.devices import open_camera

        track = await asyncio.to_thread(open_camera, device)
    except Exception as exc:  # a broken camera driver must not end the whole check
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The camera could not be opened ({error}).").format(error=type(exc).__name__),
            _(
                "Unplug the camera and plug it in again, close other apps that may be using "
                "it, then run this check again."
            ),
        )
    if track is None:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There is no camera on this computer."),
            _(
                "That is all right: your therapist can still hear you and you can hear them. "
                "If you would like them to see you, plug in a camera and run this check again."
            ),
        )
    try:
        frame: Any = await asyncio.wait_for(track.recv(), timeout_s)
        size = f"{frame.width}×{frame.height}"
    except Exception:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("A camera is there, but it sent no picture."),
            _(
                "Close other apps that may be using the camera (video calls, the web browser), "
                "check that its cover or switch is open, and run this check again."
            ),
        )
    finally:
        track.stop()
    return CheckResult(name, Verdict.OK, _("The camera works ({size} picture).").format(size=size))


# -------------------------------------------------------------------------- microphone

LevelMeter = Callable[[float], None]
"""Called about ten times a second with the microphone's level in dBFS."""

_QUIET_DBFS = -60.0


def level_bar(dbfs: float, width: int = 20) -> str:
    """``██████░░░░…``: −60 dBFS (silence) to 0 dBFS (as loud as it goes)."""
    filled = round(width * min(1.0, max(0.0, (dbfs - _QUIET_DBFS) / -_QUIET_DBFS)))
    return "█" * filled + "░" * (width - filled)


async def check_microphone(
    seconds: float = 2.0, meter: LevelMeter | None = None, device: int | str | None = None
) -> CheckResult:
    """Listen for ``seconds`` and report the loudest moment (``meter`` sees it live)."""
    name = _("Microphone")
    from companion.call.devices import list_microphones

    microphones = await asyncio.to_thread(list_microphones)
    if not microphones:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There is no microphone on this computer."),
            _(
                "Your therapist needs to hear you: plug in a headset or a microphone (the one "
                "on earphones works too) and run this check again."
            ),
        )
    # Through the call's own processing (echo cancellation, noise suppression), so the check
    # hears what the therapist would, and says whether echo cancellation works here.
    processing = VoiceProcessing()
    processing.start()
    try:
        return await _listen(name, seconds, meter, device, processing)
    finally:
        await asyncio.to_thread(processing.close)


async def _listen(
    name: str,
    seconds: float,
    meter: LevelMeter | None,
    device: int | str | None,
    processing: VoiceProcessing,
) -> CheckResult:
    from companion.call.devices import open_microphone

    # Opened off the loop (PortAudio can block); the blocks still arrive on this loop.
    track = await asyncio.to_thread(
        functools.partial(
            open_microphone, device, loop=asyncio.get_running_loop(), processing=processing
        )
    )
    if track is None:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("A microphone is there, but it could not be opened."),
            _(
                "Close other apps that may be using it, check that it is not switched off in "
                "your system's sound settings, and run this check again."
            ),
        )
    peak = -120.0
    window: list[float] = []
    frames = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(track.recv(), 1.0)
            except Exception:
                break
            frames += 1
            window.append(dbfs(frame.to_ndarray(), floor_db=-120.0))
            if len(window) >= 5:  # 5 × 20 ms: a steady meter
                level = max(window)
                window.clear()
                peak = max(peak, level)
                if meter is not None:
                    meter(level)
    finally:
        track.stop()
    if window:
        peak = max(peak, *window)
    if frames == 0:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The microphone was opened but sent no sound at all."),
            _(
                "Unplug it and plug it in again (or choose another microphone in your system's "
                "sound settings), then run this check again."
            ),
        )
    voice = processing.describe()
    if peak < _QUIET_DBFS:
        return CheckResult(
            name,
            Verdict.OK,
            _("The microphone works, but it heard only silence ({level}). {voice}").format(
                level=level_bar(peak), voice=voice
            ),
            _(
                "If you spoke during the check, it may be muted: look for a mute switch on the "
                "headset or in your system's sound settings, and run this check again."
            ),
        )
    return CheckResult(
        name,
        Verdict.OK,
        _("The microphone works; loudest moment {level} ({peak:.0f} dB). {voice}").format(
            level=level_bar(peak), peak=peak, voice=voice
        ),
    )


# -------------------------------------------------------------------------- speakers


def _play_test_sound(wait_s: float) -> tuple[str | None, int, bool]:
    """Play the check-in chime through the audio engine: (device name, callbacks, any
    output device listed). Blocking; run it on a thread."""
    from companion.audio import AudioEngine, ChimeKind, EngineOptions
    from companion.audio.device import list_output_devices

    engine = AudioEngine(EngineOptions(fade_in_s=0.2, fade_out_s=0.3, reopen_interval_s=60.0))
    try:
        engine.start(play=False)
        info = engine.device
        if info is None:
            return None, 0, bool(list_output_devices())
        engine.play_chime(ChimeKind.CHECK_IN)
        time.sleep(wait_s)
        return info.name, engine.callback_stats.count, True
    finally:
        engine.close()


async def check_speakers(wait_s: float = 2.5) -> CheckResult:
    """A soft two-note chime through the audio engine (the sound the therapist's
    check-in request makes)."""
    name = _("Speakers")
    try:
        device, callbacks, listed = await asyncio.to_thread(_play_test_sound, wait_s)
    except Exception as exc:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The sound system could not be started ({error}).").format(error=type(exc).__name__),
            _(
                "Restart the computer and run this check again; if it still fails, tell your clinic."
            ),
        )
    if device is None and not listed:
        return CheckResult(
            name,
            Verdict.NOT_FOUND,
            _("There are no speakers or headphones on this computer."),
            _(
                "Plug in headphones or speakers (headphones are best for the session) and run "
                "this check again."
            ),
        )
    if device is None:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The speakers could not be opened."),
            _(
                "Close other apps that play sound, check your system's sound settings, and "
                "run this check again."
            ),
        )
    if callbacks == 0:
        return CheckResult(
            name,
            Verdict.FAILED,
            _("The output “{device}” opened but did not play.").format(device=device),
            _(
                "Choose other speakers or headphones in your system's sound settings and run "
                "this check again."
            ),
        )
    return CheckResult(
        name,
        Verdict.OK,
        _("We played a soft two-note chime on “{device}”.").format(device=device),
        _(
            "If you did not hear it, turn the volume up, check the headphones are plugged in, "
            "or choose them in your system's sound settings."
        ),
    )
