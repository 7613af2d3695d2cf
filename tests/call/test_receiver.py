"""The ``voice-playout`` thread of a call's incoming voice, on its own: real Opus packets
into the real engine voice (``VoiceSource``) that no output device reads — none opened yet,
or one being retried (no sound card, headphones unplugged)."""

from __future__ import annotations

import asyncio

from companion.audio.voice import VoiceSource
from companion.call.opus import FRAME, RATE
from companion.call.playout import PlayoutOptions
from companion.call.receiver import VoiceReceiver
from devtools.playout_sim import opus_packets
from tests.waiting import until


async def test_with_no_device_reading_the_playout_thread_sleeps_between_rounds() -> None:
    # A full voice that nothing reads was "due now" for ever: the thread spun, and took
    # the GIL from the event loop (the app's signaling and call answered seconds late).
    voice = VoiceSource(RATE)
    receiver = VoiceReceiver(voice)
    try:
        # Two seconds of voice at once: more than the playout queues for the device.
        for seq, payload in enumerate(opus_packets()[:100]):
            receiver.put(seq, seq * FRAME, payload)
        limit = int(PlayoutOptions().max_queued_s * RATE)
        await until(lambda: voice.queued_frames >= limit, within_s=10)
        before = receiver.rounds
        await asyncio.sleep(1.0)
        rounds = receiver.rounds - before
        # One round a device period (20 ms) at most, plus any packet's wake-up; a thread
        # that spins makes tens of thousands.
        assert rounds <= 3 * RATE // voice.block_frames, rounds
        assert voice.queued_frames >= limit  # nothing read, nothing lost from the queue
    finally:
        receiver.close()
