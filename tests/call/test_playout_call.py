"""The therapist's voice through our playout between two real aiortc peers, across a
UDP relay that reorders, jitters, drops and blacks out (``tests/call/relay.py``).

Each run: the call connects through the relay, the therapist's 660 Hz tone plays, the
impairment starts, and what the patient's voice output receives (blocks a 20 ms device
reads on the wall clock) is checked: the tone by FFT, no silent stretch by a gap
detector, and the playout's delay sampled all along stays bounded.

Both apps share this process with the server, on 2 cores shared with other work: when
the machine does not run the process for a while, no playout can fill that time, and a
stall can hit twice (the sender's frames, then the receiver's playout). ``StallWatch``
measures the longest stall during the run and the gap and delay bounds allow twice it
(on a quiet machine a stall is a few milliseconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.playout import PlayoutStats
from companion.call.synthetic import TestPatternTrack as PatternTrack
from companion.call.synthetic import ToneTrack
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient
from tests.call.conftest import PATIENT_HUE, THERAPIST_HUE, CollectingVoice
from tests.call.listening import StallWatch, silent_runs_ms, tone_share
from tests.call.relay import ImpairedRelay, Impairment
from tests.waiting import until

RATE = 48_000
TONE = 660.0


@dataclass
class Heard:
    audio: np.ndarray
    stats: PlayoutStats
    delays_ms: list[float]
    relay: ImpairedRelay
    stall_ms: float
    """The longest time this process was not scheduled during the run."""


@dataclass
class _Peer:
    signaling: SignalingClient
    engine: CallEngine
    voice: CollectingVoice


async def _peer(url: str, role: str, tone: ToneTrack, relay: ImpairedRelay) -> _Peer:
    signaling = SignalingClient(url)
    await signaling.connect()
    relay.route(role, signaling)
    hue = THERAPIST_HUE if role == "therapist" else PATIENT_HUE
    voice = CollectingVoice()
    media = LocalMedia(tone, PatternTrack(160, 120, 10, hue=hue), "synthetic")
    engine = CallEngine(signaling, role, media, voice)  # type: ignore[arg-type]
    return _Peer(signaling, engine, voice)


@pytest.fixture
async def call(server: SignalingServer) -> AsyncIterator[tuple[_Peer, _Peer, ImpairedRelay]]:
    _, secret = server.db.add_therapist("dr-playout")
    relay = ImpairedRelay(toward="patient")
    await relay.start(("therapist", "patient"))
    peers: list[_Peer] = []
    therapist = await _peer(server.ws_url, "therapist", ToneTrack(TONE), relay)
    peers.append(therapist)
    await therapist.signaling.login("dr-playout", secret)
    created = await therapist.signaling.create_session()
    await therapist.signaling.join(session_id=created.session.session_id)
    await therapist.engine.start()
    patient = await _peer(server.ws_url, "patient", ToneTrack(440.0), relay)
    peers.append(patient)
    await patient.signaling.join(invite=created.invites[0].token)
    await patient.engine.start()
    yield therapist, patient, relay
    for peer in peers:
        await peer.engine.close()
        await peer.engine.media.aclose()
        await peer.signaling.close()
    relay.close()


async def _listen(
    call: tuple[_Peer, _Peer, ImpairedRelay], impairment: Impairment, seconds: float
) -> Heard:
    therapist, patient, relay = call
    await until(lambda: patient.engine.state == "connected" == therapist.engine.state)
    await until(lambda: len(patient.voice.chunks) > 50)  # a second of voice
    await asyncio.sleep(1.0)
    if impairment.blackout is not None:
        start = time.monotonic() + 2.0
        impairment.blackout = (start, start + impairment.blackout[1] - impairment.blackout[0])
    relay.impairment = impairment
    patient.voice.take()
    delays: list[float] = []
    deadline = time.monotonic() + seconds
    with StallWatch() as stalls:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            stats = patient.engine.voice_stats
            assert stats is not None
            delays.append(stats.delay_ms)
    stats = patient.engine.voice_stats
    assert stats is not None
    return Heard(patient.voice.take(), stats, delays, relay, 1000 * stalls.worst_s)


def _assert_continuous(heard: Heard, longest_ms: float = 20.0) -> None:
    peak, share = tone_share(heard.audio, TONE)
    assert abs(peak - TONE) < 5, peak
    assert share > 0.8, share
    runs = silent_runs_ms(heard.audio)
    why = (sorted(runs)[-5:], f"stall {heard.stall_ms:.0f} ms", heard.stats)
    assert max(runs, default=0.0) <= longest_ms + 2 * heard.stall_ms, why
    assert max(heard.delays_ms) < 150 + 2 * heard.stall_ms, (heard.delays_ms, why)


async def test_reordered_and_jittered_voice_plays_continuously(
    call: tuple[_Peer, _Peer, ImpairedRelay],
) -> None:
    heard = await _listen(call, Impairment(base_s=0.005, jitter_s=0.030), seconds=6.0)
    assert heard.relay.reordered > 0  # the jitter did reorder packets
    _assert_continuous(heard)
    # The delay grew to cover the jitter (a clean link's target is about 10 ms) rather
    # than concealing packet after packet.
    assert heard.stats.target_delay_ms > 15, heard.stats


async def test_five_percent_loss_is_concealed_without_gaps(
    call: tuple[_Peer, _Peer, ImpairedRelay],
) -> None:
    heard = await _listen(call, Impairment(loss=0.05), seconds=6.0)
    assert heard.relay.dropped > 0
    _assert_continuous(heard)
    # Lost frames came back from the next packet's in-band FEC, or were concealed.
    assert heard.stats.fec_samples + heard.stats.concealed_samples > 0


async def test_voice_resumes_right_after_a_burst_loss(
    call: tuple[_Peer, _Peer, ImpairedRelay],
) -> None:
    heard = await _listen(call, Impairment(blackout=(0.0, 0.3)), seconds=5.0)
    runs = sorted(silent_runs_ms(heard.audio))
    why = (runs[-5:], f"stall {heard.stall_ms:.0f} ms", heard.stats)
    # Concealment bridges the first 60 ms, then silence, and the voice is back within
    # a device block or two of the packets: never the whole burst plus a refill.
    assert runs[-1] <= 300 + 2 * heard.stall_ms, why
    assert len(runs) < 2 or runs[-2] <= 20 + 2 * heard.stall_ms, why
    _, share = tone_share(heard.audio[-RATE:], TONE)
    assert share > 0.8
    assert max(heard.delays_ms[-8:]) < 150 + 2 * heard.stall_ms, (heard.delays_ms, why)


@pytest.mark.parametrize("ppm", [300.0, 5000.0])
async def test_a_fast_sender_clock_is_absorbed_without_drops(
    server: SignalingServer, ppm: float
) -> None:
    _, secret = server.db.add_therapist("dr-clock")
    relay = ImpairedRelay(toward="patient")
    await relay.start(("therapist", "patient"))
    therapist = await _peer(server.ws_url, "therapist", ToneTrack(TONE, clock_ppm=ppm), relay)
    await therapist.signaling.login("dr-clock", secret)
    created = await therapist.signaling.create_session()
    await therapist.signaling.join(session_id=created.session.session_id)
    await therapist.engine.start()
    patient = await _peer(server.ws_url, "patient", ToneTrack(440.0), relay)
    await patient.signaling.join(invite=created.invites[0].token)
    await patient.engine.start()
    try:
        heard = await _listen((therapist, patient, relay), Impairment(), seconds=8.0)
    finally:
        for peer in (patient, therapist):
            await peer.engine.close()
            await peer.engine.media.aclose()
            await peer.signaling.close()
        relay.close()
    _assert_continuous(heard)
    assert heard.stats.packets_late == 0
    if ppm > 1000:
        # 40 ms too much audio over the run: time-stretched away, not dropped.
        assert heard.stats.accelerate_count > 0
        assert heard.stats.removed_samples_for_acceleration > 0.02 * RATE
    # The delay did not creep up with the surplus.
    assert max(heard.delays_ms[-8:]) < 60 + 2 * heard.stall_ms, (heard.delays_ms, heard.stall_ms)
