"""The microphone's echo canceller: framing, the delay hint, and echo through device changes.

The processing module aborts the whole process on a frame that is not a multiple of 10 ms,
so every test here would take pytest down with it rather than fail quietly.
"""

from __future__ import annotations

import numpy as np

from companion.audio.processing import FRAME, HELD_DELAY_MS, VoiceProcessing
from companion.call.devices import MicrophoneTrack
from devtools.room import (
    FAR_TEXT,
    RATE,
    RoomConfig,
    RoomRun,
    erle_db,
    run_room,
    speech,
)
from tests.audio.signals import fft_peak_hz, sine


def _collecting(processing: VoiceProcessing) -> list[np.ndarray]:
    blocks: list[np.ndarray] = []
    processing.sink = blocks.append
    return blocks


def test_odd_block_sizes_become_whole_frames_and_leftovers_wait() -> None:
    processing = VoiceProcessing()
    blocks = _collecting(processing)
    tone = (sine(440.0, 2.0, 0.3) * 32767).astype(np.int16)
    rng = np.random.default_rng(3)
    pos = 0
    try:
        while pos < len(tone):
            size = int(rng.choice([1, 7, 63, 479, 481, 960, 1023, 2047]))
            processing.capture(tone[pos : pos + size])
            processing.played(np.zeros((int(rng.integers(1, 2048)), 2), np.float32))
            processing.process_pending()
            pos += size
        assert processing.frames_processed == len(tone) // FRAME
        assert len(blocks) == len(tone) // (2 * FRAME)
        assert {len(b) for b in blocks} == {2 * FRAME}
        assert processing.errors == 0 and processing.active
        out = np.concatenate(blocks).astype(np.float64)
        assert abs(fft_peak_hz(out[RATE // 2 :]) - 440.0) < 5
    finally:
        processing.close()


def test_a_5ms_block_is_held_until_a_whole_frame_is_there() -> None:
    processing = VoiceProcessing()
    blocks = _collecting(processing)
    try:
        half = np.full(FRAME // 2, 1000, dtype=np.int16)
        processing.played(np.zeros((FRAME // 2, 2), np.float32))
        processing.capture(half)
        assert processing.process_pending() == 0
        assert processing.frames_processed == 0
        processing.capture(half)
        assert processing.process_pending() == 1
        for _ in range(2):
            processing.capture(half)
        assert processing.process_pending() == 1
        assert len(blocks) == 1 and processing.errors == 0
    finally:
        processing.close()


def test_a_delay_hint_above_500_ms_is_held_back_not_refused() -> None:
    processing = VoiceProcessing()
    try:
        processing.set_input_latency(0.4)
        processing.set_output_latency(0.35)
        processing.capture(np.zeros(FRAME, np.int16))
        processing.process_pending()
        assert processing.delay_hint_ms == HELD_DELAY_MS  # the rest waits in the ring
        assert processing.errors == 0
        processing.set_output_latency(0.05)
        processing.capture(np.zeros(FRAME, np.int16))
        processing.process_pending()
        assert processing.delay_hint_ms == 450
    finally:
        processing.close()


async def test_echo_is_cancelled_when_the_devices_report_more_than_500_ms() -> None:
    """Latencies adding up past what the module takes (a Bluetooth speaker): 550 ms
    reported, the echo 580 ms late (the room's delay stands for the input latency too).
    With the hint at its 500 ms maximum AEC3 cancelled 3 dB; the reverse stream is held
    back instead, so the module sees a delay it can take."""
    far = speech(FAR_TEXT, "en-us", 8.0)
    result = await run_room(
        RoomConfig(8.0, far=far, out_latency_s=0.45, in_latency_s=0.1, delay_s=0.13)
    )
    assert result.processing.delay_hint_ms == HELD_DELAY_MS
    assert result.processing.errors == 0
    assert erle_db(result, 4.0, 8.0) >= 30


def test_direct_calls_are_in_use_and_sound_exactly_like_livekits_methods() -> None:
    """The per-frame requests sent straight to livekit's library (a cost measure) must be
    in use with the livekit installed (a livekit whose internals moved would fall back
    silently: this notices) and give the very same samples as its public methods."""
    far = speech(FAR_TEXT, "en-us", 3.0)
    mic = np.zeros(len(far), dtype=np.int16)
    mic[4800:] = (far[:-4800] * 0.5 * 32767).astype(np.int16)  # a 100 ms echo
    played = np.repeat(far[:, None], 2, axis=1)
    sent = []
    for direct in (True, False):
        processing = VoiceProcessing(direct_calls=direct)
        blocks = _collecting(processing)
        assert processing.calls_directly == direct
        try:
            for pos in range(0, len(far), 1500):  # odd blocks: 10 ms leftovers, 1-frame calls
                processing.played(played[pos : pos + 1500])
                processing.capture(mic[pos : pos + 1500])
                processing.process_pending()
            assert processing.errors == 0
        finally:
            processing.close()
        sent.append(np.concatenate(blocks))
    assert len(sent[0]) == len(sent[1]) > 2 * RATE
    assert np.array_equal(sent[0], sent[1])
    assert np.sqrt(np.mean(sent[0][RATE:].astype(np.float64) ** 2)) < 0.1 * np.sqrt(
        np.mean(mic[RATE:].astype(np.float64) ** 2)
    )  # and the echo is gone: the frames did reach the module


def test_reverse_audio_without_a_microphone_does_not_pile_up() -> None:
    """A microphone opened late must not be matched against seconds-old music."""
    processing = VoiceProcessing(capture_idle_s=0.0)
    try:
        for _ in range(100):
            processing.played(np.full((960, 2), 0.1, np.float32))
            processing.process_pending()
        assert processing.reverse_pending <= 2 * FRAME
    finally:
        processing.close()


async def test_echo_reconverges_after_output_switch_and_microphone_unplug() -> None:
    """Mid-call: the output moves to another device (new latency, new echo path), then the
    microphone is unplugged and another takes over (another echo path again). No error, and
    the echo is cancelled again within 3 s of each change."""
    far = speech(FAR_TEXT, "en-us", 24.0)

    def switch_output(run: RoomRun) -> None:
        run.switch_output(0.04)  # what the engine tells its taps on a device switch
        run.room.delay_s = 0.25
        run.room.gain = 0.3

    def replace_microphone(run: RoomRun) -> None:
        run.track.stop()  # unplugged: its stream ended
        run.track = run.new_microphone()
        run.room.delay_s = 0.06
        run.room.gain = 0.7

    result = await run_room(
        RoomConfig(24.0, far=far, events=[(8.0, switch_output), (16.0, replace_microphone)])
    )
    assert result.processing.errors == 0
    assert erle_db(result, 4.0, 8.0) >= 25
    assert erle_db(result, 11.0, 16.0) >= 20, "no reconvergence after the output switch"
    assert erle_db(result, 19.0, 24.0) >= 20, "no reconvergence after the new microphone"


async def test_echo_is_cancelled_with_the_processing_on_its_own_thread() -> None:
    """Paced to the wall clock as in the app: the worker wakes between device blocks (when
    nothing is there yet) without losing the reverse stream's lead."""
    far = speech(FAR_TEXT, "en-us", 7.0)
    result = await run_room(RoomConfig(7.0, far=far, realtime=True))
    assert result.processing.errors == 0
    assert result.processing.frames_processed >= 690
    assert erle_db(result, 3.0, 7.0) >= 25


async def test_during_a_switch_only_the_new_microphone_feeds_the_processing() -> None:
    """The old microphone may deliver a block after the new one took over; its ring has a
    single producer, and the call must not hear the two interleaved."""
    processing = VoiceProcessing()
    try:
        old = MicrophoneTrack(processing=processing, stream=False)
        new = MicrophoneTrack(processing=processing, stream=False)
        old.captured(np.full(FRAME, 8000, np.int16))
        new.captured(np.zeros(2 * FRAME, np.int16))
        assert processing.process_pending() == 2
        frame = await new.recv()
        assert np.all(frame.to_ndarray() == 0)
        old.stop()
        assert processing.sink is not None  # the old one's stop leaves the new one listening
        new.stop()
        assert processing.sink is None
    finally:
        processing.close()
