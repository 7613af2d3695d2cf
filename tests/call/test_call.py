"""Two real aiortc peers through the real signaling server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np

from companion.call.control import Heartbeat, HeartbeatEcho
from companion.protocol.messages import CheckIn, EventBody, Role
from tests.call.conftest import PATIENT_HUE, THERAPIST_HUE, CallPair
from tests.waiting import until


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def _rgb_of(hue: tuple[int, int]) -> np.ndarray:
    """Approximate RGB of the pattern's mid-grey with the given (U, V)."""
    y, u, v = 100.0, hue[0] - 128.0, hue[1] - 128.0
    return np.array([y + 1.402 * v, y - 0.344 * u - 0.714 * v, y + 1.772 * u])


async def test_video_audio_and_control_flow_both_ways(call_pair: CallPair) -> None:
    patient, therapist = call_pair.patient, call_pair.therapist
    await until(lambda: patient.engine.state == "connected" == therapist.engine.state)

    # Video: each side sees the other's pattern (told apart by its hue).
    frames: dict[str, np.ndarray] = {}
    therapist.engine.video.frame_ready.connect(lambda f: frames.__setitem__("therapist", f))
    patient.engine.video.frame_ready.connect(lambda f: frames.__setitem__("patient", f))
    await until(lambda: len(frames) == 2)
    for viewer, sender_hue in (("therapist", PATIENT_HUE), ("patient", THERAPIST_HUE)):
        seen = frames[viewer][100:, :, :].reshape(-1, 3).mean(axis=0)
        expected = _rgb_of(sender_hue)
        other = _rgb_of(THERAPIST_HUE if sender_hue == PATIENT_HUE else PATIENT_HUE)
        assert np.linalg.norm(seen - expected) < np.linalg.norm(seen - other), (viewer, seen)

    # Audio: the patient hears the therapist's 660 Hz tone, the therapist the patient's 440.
    patient.voice.take(), therapist.voice.take()
    await asyncio.sleep(1.0)
    heard_by_patient, heard_by_therapist = patient.voice.take(), therapist.voice.take()
    assert patient.voice.sample_rate == 48_000
    assert abs(_dominant_hz(heard_by_patient[-24_000:], 48_000) - 660) < 10
    assert abs(_dominant_hz(heard_by_therapist[-24_000:], 48_000) - 440) < 10

    # Control channel: a check-in and a heartbeat round-trip on the data channel.
    got: list[tuple[str, EventBody, Role]] = []
    beats: list[Heartbeat | HeartbeatEcho] = []
    therapist.engine.event_received.connect(lambda *args: got.append(args))
    therapist.engine.heartbeat_received.connect(beats.append)
    event_id = str(uuid.uuid4())
    assert patient.engine.send_event(event_id, CheckIn(kind="checkin"))
    await until(lambda: patient.engine.send_heartbeat(Heartbeat(type="hb", seq=7, sent_ms=1.0)))
    await until(lambda: len(got) == 1 and len(beats) >= 1)
    assert got[0] == (event_id, CheckIn(kind="checkin"), "patient")  # signed, proven
    assert isinstance(beats[0], Heartbeat) and beats[0].seq == 7

    # Quality stats are published every ~2 s while connected.
    await until(lambda: therapist.engine.quality is not None, within_s=6)
    quality = therapist.engine.quality
    assert quality is not None and quality.packets_in > 0
    # ...with the voice playout's own figures (getStats' jitterBufferDelay and friends).
    assert quality.jitter_buffer_delay_ms > 0 and quality.target_delay_ms > 0
    assert 0.0 <= quality.concealed_pct <= 100.0


async def test_mute_gives_silence_and_camera_off_stops_frames(call_pair: CallPair) -> None:
    patient, therapist = call_pair.patient, call_pair.therapist
    await until(lambda: therapist.engine.video.frames_received > 10)
    await asyncio.sleep(0.5)
    therapist.voice.take()

    patient.engine.set_mic_muted(True)
    await asyncio.sleep(0.6)
    therapist.voice.take()  # let in-flight audio drain
    await asyncio.sleep(0.8)
    muted = therapist.voice.take()
    assert len(muted) > 20_000
    assert float(np.sqrt(np.mean(muted**2))) < 1e-3

    patient.engine.set_mic_muted(False)
    await asyncio.sleep(1.0)
    assert float(np.sqrt(np.mean(therapist.voice.take() ** 2))) > 0.02

    patient.engine.set_camera_enabled(False)
    await asyncio.sleep(0.8)
    before = therapist.engine.video.frames_received
    await asyncio.sleep(1.0)
    assert therapist.engine.video.frames_received - before <= 1

    patient.engine.set_camera_enabled(True)
    await until(lambda: therapist.engine.video.frames_received > before + 5)


async def test_restart_makes_a_fresh_connection(call_pair: CallPair) -> None:
    patient, therapist = call_pair.patient, call_pair.therapist
    await until(lambda: patient.engine.state == "connected" == therapist.engine.state)
    first = patient.engine.pc_id
    await therapist.engine.restart()  # the answerer asks; the patient's app re-offers
    await until(lambda: patient.engine.pc_id != first)
    await until(lambda: patient.engine.state == "connected" == therapist.engine.state)
    before = therapist.engine.video.frames_received
    await until(lambda: therapist.engine.video.frames_received > before + 5)
