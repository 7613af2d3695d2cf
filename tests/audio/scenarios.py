"""Engine scenarios run in a subprocess against the ALSA file device of ``conftest.py``.

    python -m tests.audio.scenarios NAME WORKDIR

Each writes ``WORKDIR/result.json`` (events seen, counters) for the test to check next to
the raw audio the device wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from companion.audio import (
    AudioEngine,
    ChimeKind,
    DuckingOptions,
    EngineOptions,
    PlayerOptions,
    Playlist,
    RepeatMode,
    Track,
)
from companion.audio.speech import EspeakVoice, Speaker
from tests.audio.signals import sine, write_audio

FAST = EngineOptions(
    fade_in_s=0.3,
    fade_out_s=0.3,
    player=PlayerOptions(crossfade_s=1.0, skip_fade_s=0.5),
)


def _engine(options: EngineOptions, events: dict[str, list[Any]]) -> AudioEngine:
    engine = AudioEngine(options)
    for name in ("note", "device_lost", "voice_activity"):
        events[name] = []
        signal = getattr(engine, name)
        signal.connect(lambda *args, _n=name: events[_n].append(list(args)))
    events["device_changed"] = []
    engine.device_changed.connect(
        lambda info: events["device_changed"].append(info.name if info else None)
    )
    events["status"] = []
    engine.music_status.connect(lambda s: events["status"].append(s.to_dict()))
    return engine


def crossfade(work: Path, events: dict[str, Any]) -> None:
    a = write_audio(work / "a.flac", sine(440, 3.0), title="Track A")
    b = write_audio(work / "b.wav", sine(660, 3.0))
    engine = _engine(FAST, events)
    engine.load_playlist(Playlist([Track(str(a)), Track(str(b))], repeat=RepeatMode.OFF))
    engine.start()
    time.sleep(2.5)
    events["mid_status"] = engine.status().to_dict()
    time.sleep(1.5)
    events["playlist"] = engine.playlist().to_dict()
    engine.close()
    engine.close()
    events["underruns"] = engine.underruns


def transitions(work: Path, events: dict[str, Any]) -> None:
    a = write_audio(work / "a.wav", sine(440, 20.0))
    b = write_audio(work / "b.wav", sine(330, 20.0))
    engine = _engine(FAST, events)
    engine.load_playlist(Playlist([Track(str(a)), Track(str(b))]))
    engine.start()
    steps: list[tuple[float, Callable[[], None]]] = [
        (0.8, lambda: engine.set_volume(-12.0)),
        (0.6, lambda: engine.set_volume(0.0)),
        (0.6, engine.pause),
        (1.2, engine.play),
        (1.0, engine.next),
        (1.5, engine.mute),
        (0.6, engine.unmute),
        (0.6, lambda: engine.play_chime(ChimeKind.CHECK_IN)),
        (1.0, lambda: engine.set_device("companion_b")),
        (1.0, lambda: engine.set_device(None)),
        (0.8, engine.previous),
        (1.2, lambda: None),
    ]
    for wait, action in steps:
        time.sleep(wait)
        action()
    engine.close()
    events["underruns"] = engine.underruns


def ducking(work: Path, events: dict[str, Any]) -> None:
    _voice_scenario(work, events, ducking=True)


def voice_unducked(work: Path, events: dict[str, Any]) -> None:
    _voice_scenario(work, events, ducking=False)


def _voice_scenario(work: Path, events: dict[str, Any], *, ducking: bool) -> None:
    music = write_audio(work / "m.wav", sine(440, 12.0, amp=0.25))
    options = EngineOptions(
        fade_in_s=0.3, fade_out_s=0.3, ducking=DuckingOptions(enabled=ducking, depth_db=12.0)
    )
    engine = _engine(options, events)
    engine.load_playlist(Playlist([Track(str(music))]))
    engine.start()
    # The music's fade-in (0.3 s, and 0.8 s of "play") is well over before the voice and
    # the 0.4 s before it that the test compares: with a 20 ms device buffer and no
    # voice prebuffer the voice is heard within a block of its push.
    time.sleep(1.5)
    voice = engine.add_voice()
    speech = sine(1000, 1.2, amp=0.2)
    frame = 960
    start = time.monotonic()
    # Real time, 20 ms frames, like aiortc: speech, then silence frames (a live but quiet line).
    for i in range(int(3.0 * 50)):
        chunk = (
            speech[i * frame : (i + 1) * frame]
            if i * frame < len(speech)
            else np.zeros(frame, np.float32)
        )
        if len(chunk) < frame:
            chunk = np.concatenate([chunk, np.zeros(frame - len(chunk), np.float32)])
        voice.push(chunk, 48_000)
        time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))
    engine.remove_voice(voice)
    time.sleep(0.8)
    events["voices_left"] = len(engine.mixer.voices)
    engine.close()
    events["underruns"] = engine.underruns


def skips_broken(work: Path, events: dict[str, Any]) -> None:
    fake = work / "not-music.mp3"
    fake.write_text("this is not audio")
    folder = work / "folder"
    folder.mkdir()
    write_audio(folder / "good.m4a", sine(440, 4.0))
    (folder / "picture.xyz").write_bytes(b"\x00" * 100)
    engine = _engine(FAST, events)
    engine.load_playlist(Playlist([Track(str(fake)), Track(str(work / "missing.flac"))]))
    engine.start()
    engine.add_folder(folder)
    time.sleep(3.0)
    events["final_status"] = engine.status().to_dict()
    engine.close()
    events["underruns"] = engine.underruns


def unplug(work: Path, events: dict[str, Any]) -> None:
    music = write_audio(work / "m.wav", sine(440, 10.0))
    engine = _engine(FAST, events)
    engine.load_playlist(Playlist([Track(str(music))]))
    engine.start(play=True)
    time.sleep(0.5)
    engine.set_device("companion_b")
    time.sleep(1.0)
    device = engine._device  # fault injection: the device vanishing, its stream dies
    assert device is not None
    device._stream.abort()  # fault injection: the device unplugged
    time.sleep(1.5)
    events["device_after"] = engine.device.name if engine.device else None
    engine.close()


class RecordingTap:
    """An output tap that keeps what it is shown (a test may allocate in the callback)."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.frames = 0
        self.breaks: list[int] = []
        """The frame count at each discontinuity."""
        self.latencies: list[float] = []

    def played(self, block: np.ndarray) -> None:
        self.blocks.append(block.copy())
        self.frames += len(block)

    def discontinuity(self) -> None:
        self.breaks.append(self.frames)

    def set_output_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)


def tapped(work: Path, events: dict[str, Any]) -> None:
    """The echo canceller's view of the output through a switch and an unplug."""
    music = write_audio(work / "m.wav", sine(440, 10.0))
    engine = _engine(FAST, events)
    tap = RecordingTap()
    engine.add_output_tap(tap)
    engine.load_playlist(Playlist([Track(str(music))]))
    engine.start(play=True)
    time.sleep(0.5)
    engine.set_device("companion_b")
    time.sleep(1.0)
    device = engine._device  # fault injection: the device about to vanish
    assert device is not None
    device._stream.abort()  # fault injection: the device unplugged
    time.sleep(1.5)
    engine.remove_output_tap(tap)
    frames_at_removal = tap.frames
    time.sleep(0.2)
    engine.close()
    np.concatenate(tap.blocks).astype(np.float32).tofile(work / "tapped.raw")
    events["breaks"] = tap.breaks
    events["latencies"] = tap.latencies
    events["removed_cleanly"] = tap.frames == frames_at_removal


SUPPORT_NAME = "Quillon Vasquez"


def patient_lines(work: Path, events: dict[str, Any]) -> None:
    """The patient's app core with its real engine, in a session with a therapist and a
    support person over a real server: what the screen says is heard."""
    asyncio.run(_patient_lines(work, events))


def session_cores(url: str, work: Path) -> dict[str, Any]:
    """The three roles' cores for one session over ``url``, the patient's with its real
    engine (on this process's ALSA device)."""
    from companion.app import CoreOptions, RoleCore

    return {
        role: RoleCore(
            role,
            url,
            CoreOptions(
                data_dir=work / role,
                fake_media=True,
                audio=role == "patient",
                engine=FAST,
                video=(160, 120, 10),
                watch_computer=False,
            ),
        )
        for role in ("therapist", "patient", "support")
    }


async def therapist_opens(therapist: Any, secret: str) -> dict[str, Any]:
    """The therapist signs in, makes a session and opens it: its invites by role."""
    await therapist.connect()
    await therapist.sign_in("dr-test", secret)
    created = await therapist.signaling.create_session("t")
    await therapist.open_session(created.session.session_id)
    return {i.role: i for i in created.invites}


async def _patient_lines(work: Path, events: dict[str, Any]) -> None:
    from companion.protocol.messages import EmergencyCard
    from companion.server.app import ServerConfig, SignalingServer
    from tests.waiting import until

    async with SignalingServer(ServerConfig(data_dir=work / "server", port=0)) as server:
        _, secret = server.db.add_therapist("dr-test")
        cores = session_cores(server.ws_url, work)
        therapist, patient, support = cores["therapist"], cores["patient"], cores["support"]
        try:
            invites = await therapist_opens(therapist, secret)
            for core, role in ((patient, "patient"), (support, "support")):
                await core.connect()
                await core.join(invites[role].code)
            for core in (therapist, patient, support):
                await core.start()
            await until(lambda: patient.facts.link == "connected", within_s=20.0)
            # As in the app, where the lines are rendered during the preparation (this
            # test's fresh HOME has no voice cache yet): the music's level is then measured
            # undisturbed, and the lines are heard at it.
            assert patient.devices.speech_ready is not None
            events["missing"] = await patient.devices.speech_ready
            therapist.set_mic_muted(True)  # its test tone would cover the lines
            await asyncio.sleep(3.0)  # the speaker's meter has heard the music
            await therapist.request_checkin()
            await until(lambda: patient.pending_checkin is not None, within_s=20.0)
            await patient.check_in("key")
            await therapist.push_prompt("feet-on-floor")
            await until(
                lambda: any(e.ref == "prompt:feet-on-floor" for e in patient.facts.timeline),
                within_s=20.0,
            )
            engine = patient.audio
            assert engine is not None
            # The prompt heard to its end: a call for help would cut into it (a safety line).
            await until(lambda: not engine.mixer.speech_pending, within_s=60.0)
            await patient.help_held()
            await until(lambda: bool(therapist.facts.open_alerts), within_s=20.0)
            for alert_id in list(therapist.facts.open_alerts):
                await therapist.acknowledge(alert_id)
            assert patient.audio is not None and patient.devices.speaker is not None
            mixer = patient.audio.mixer

            def heard(line_id: str) -> bool:
                return any(e.kind == "spoken" and e.ref == line_id for e in patient.facts.timeline)

            await until(lambda: heard("help_acknowledged"), within_s=20.0)
            # The card names the support person: their answer to a call for help is
            # "<name> is on the way" (the name spoken here, never on the wire).
            await patient.share_card(EmergencyCard(kind="card", support_name=SUPPORT_NAME))
            await until(
                lambda: (
                    patient.devices.speaker is not None
                    and patient.devices.speaker.ready("support_named")
                ),
                within_s=20.0,
            )
            # The same card again (as for a late joiner): the named line stays ready.
            await patient.share_card(EmergencyCard(kind="card", support_name=SUPPORT_NAME))
            events["named_kept"] = patient.devices.speaker.ready("support_named")
            await until(lambda: not patient.facts.open_alerts, within_s=20.0)
            await patient.help_held()
            await until(lambda: bool(support.facts.open_alerts), within_s=20.0)
            for alert_id in list(support.facts.open_alerts):
                await support.acknowledge(alert_id)
            await until(lambda: heard("support_named"), within_s=20.0)
            await until(lambda: not mixer.speech_pending, within_s=60.0)
            # The breathing guide's steps, spoken on its clock.
            patient.start_breathing((2, 0, 3, 0), cycles=1)
            await asyncio.sleep(6.0)
            await until(lambda: not mixer.speech_pending, within_s=20.0)
            await asyncio.sleep(2.0)
            spoken = [e for e in patient.facts.timeline if e.kind == "spoken"]
            events["spoken"] = [e.ref for e in spoken]
            events["therapist_heard"] = [
                (e.ref, e.text) for e in therapist.facts.timeline if e.kind == "spoken"
            ]
            events["support_heard"] = [e.ref for e in support.facts.timeline if e.kind == "spoken"]
            events["name_in_records"] = any(
                SUPPORT_NAME.encode() in path.read_bytes()
                for path in (work / "server").rglob("*")
                if path.is_file()
            )
            for line_id in {*events["spoken"], "breath:out"}:
                clip = patient.devices.speaker.samples(line_id)
                assert clip is not None
                clip.tofile(work / f"{line_id.replace(':', '_')}.raw")
            for line_id in set(events["spoken"]):
                clip = patient.devices.speaker.samples(line_id)
                assert clip is not None
                clip.tofile(work / f"{line_id.replace(':', '_')}.raw")
        finally:
            for core in (patient, support, therapist):
                await core.close()


def spoken(work: Path, events: dict[str, Any]) -> None:
    """Music, then one spoken line: the test finds the line in the device's output."""
    speak_over_music(work, events, {"back": "Your therapist is back with you."}, "back")


def speak_over_music(
    work: Path,
    events: dict[str, Any],
    lines: dict[str, str],
    line_id: str,
    prepared: Callable[[Speaker], None] = lambda _speaker: None,
    after_s: float = 5.0,
) -> None:
    """Music, ``lines`` prepared (then ``prepared(speaker)``), and ``line_id`` said over
    the music once the meter has heard it; the line as played in ``line.raw``."""
    music = write_audio(work / "m.wav", sine(440, 14.0, amp=0.1))
    engine = _engine(FAST, events)
    engine.load_playlist(Playlist([Track(str(music))]))
    engine.start()
    speaker = Speaker(engine, EspeakVoice(work / "voice"))
    events["missing"] = speaker.prepare(lines)
    prepared(speaker)
    time.sleep(3.5)  # the meter has heard a few seconds of music
    events["music_lufs"] = speaker.music_lufs()
    events["said"] = speaker.say(line_id)
    line = speaker.samples(line_id)
    assert line is not None
    line.tofile(work / "line.raw")
    time.sleep(after_s)
    speaker.close()
    engine.close()
    events["underruns"] = engine.underruns


SCENARIOS: dict[str, Callable[[Path, dict[str, Any]], None]] = {
    f.__name__: f
    for f in (
        crossfade,
        transitions,
        ducking,
        voice_unducked,
        skips_broken,
        unplug,
        tapped,
        spoken,
        patient_lines,
    )
}


def main() -> None:
    from companion.i18n import set_language, system_language

    set_language(system_language())  # LANGUAGE, as the apps read it
    name, work = sys.argv[1], Path(sys.argv[2])
    events: dict[str, Any] = {}
    SCENARIOS[name](work, events)
    (work / "result.json").write_text(json.dumps(events, default=str))


if __name__ == "__main__":
    main()
