"""Two real apps' cores (patient and therapist) joined through a real signaling server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.peer import PeerLink
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient
from tests.audio.conftest import alsa_device  # noqa: F401 - the real ALSA file device, for test_voice_output

PATIENT_HUE = (90, 170)
THERAPIST_HUE = (170, 110)


class CollectingVoice:
    """A stand-in for the audio engine's voice input that keeps what it is given."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.sample_rate = 0

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        self.chunks.append(pcm)
        self.sample_rate = sample_rate

    def take(self) -> np.ndarray:
        chunks, self.chunks = self.chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


@dataclass
class Side:
    signaling: SignalingClient
    engine: CallEngine
    tone: ToneTrack
    pattern: TestPatternTrack
    voice: CollectingVoice


@dataclass
class CallPair:
    patient: Side
    therapist: Side


async def make_side(url: str, role: str, hue: tuple[int, int], freq: float) -> Side:
    signaling = SignalingClient(url)
    await signaling.connect()
    tone, pattern = ToneTrack(freq), TestPatternTrack(320, 240, 15, hue=hue)
    voice = CollectingVoice()
    engine = CallEngine(signaling, role, LocalMedia(tone, pattern, "synthetic"), voice)  # type: ignore[arg-type]
    return Side(signaling, engine, tone, pattern, voice)


async def go_silent(link: PeerLink) -> None:
    """This end is gone without a goodbye, as a frozen app or a computer switched off
    leaves the other end: its connection's sockets close, then the link, which answers no
    fresh offer. (Stopping only its link watch is not silence: its media, and its
    receivers' reports on the other end's media, went on, and it answered offers.)"""
    pc = link.peer_connection
    assert pc is not None and pc.sctp is not None
    # aioice's insides (fault injection): its sockets, closed as a frozen app's would be
    for protocol in pc.sctp.transport.transport._connection._protocols:
        protocol.transport.close()
    await link.close()


@pytest.fixture
async def call_pair(server: SignalingServer) -> AsyncIterator[CallPair]:
    _, secret = server.db.add_therapist("dr-call")
    therapist = await make_side(server.ws_url, "therapist", THERAPIST_HUE, 660.0)
    await therapist.signaling.login("dr-call", secret)
    created = await therapist.signaling.create_session()
    await therapist.signaling.join(session_id=created.session.session_id)
    await therapist.engine.start()
    patient = await make_side(server.ws_url, "patient", PATIENT_HUE, 440.0)
    await patient.signaling.join(invite=created.invites[0].token)
    await patient.engine.start()
    pair = CallPair(patient, therapist)
    yield pair
    for side in (patient, therapist):
        await side.engine.close()
        await side.engine.media.aclose()
        await side.signaling.close()
