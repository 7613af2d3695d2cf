"""The mixer's DSP with numpy alone: gains, ramps, ducking, chimes, ring, resampler."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.audio.chimes import ChimeKind, render_chime
from companion.audio.gain import (
    Ducker,
    DuckingOptions,
    LinearRamp,
    RampScratch,
    db_to_gain,
    dbfs,
    gain_to_db,
)
from companion.audio.generative import GenerativeMusic, GenerativeOptions
from companion.audio.mixer import CHUNK_FRAMES, Mixer
from companion.audio.resample import Resampler
from companion.audio.ring import AudioRing
from companion.audio.voice import VoiceOptions, VoiceSource
from tests.audio.signals import RATE, fft_peak_hz, max_step, sine, tone_db


def _stereo(mono: np.ndarray) -> np.ndarray:
    return np.repeat(mono[:, None], 2, axis=1)


def _mixer(music: np.ndarray | None = None, ducking: DuckingOptions | None = None) -> Mixer:
    ring = AudioRing(RATE * 4, 2)
    if music is not None:
        ring.write(music)
    mixer = Mixer(RATE, ring, ducking or DuckingOptions(), -12.0)
    mixer.fade.jump(1.0)
    mixer.pause.jump(1.0)
    mixer.music_paused = False
    return mixer


def _render(mixer: Mixer, seconds: float, block: int = 960) -> np.ndarray:
    out = np.zeros((int(seconds * RATE), 2), dtype=np.float32)
    for start in range(0, len(out), block):
        mixer.render(out[start : start + block])
    return out


def test_db_round_trip() -> None:
    assert db_to_gain(0.0) == 1.0
    assert abs(db_to_gain(-6.0) - 0.501) < 0.001
    assert abs(gain_to_db(db_to_gain(-12.0)) + 12.0) < 1e-9
    assert db_to_gain(-200.0) == 0.0


def test_linear_ramp_arrives_exactly_on_time() -> None:
    ramp = LinearRamp(0.0, RATE)
    ramp.set_target(1.0, 0.1)
    steps = 0
    while not ramp.settled:
        ramp.advance(240)
        steps += 1
    assert steps == 20  # 0.1 s = 4800 samples = 20 chunks


def test_ducker_attack_and_release_times() -> None:
    ducker = Ducker(DuckingOptions(depth_db=12.0, attack_s=0.05, release_s=0.8), RATE)
    samples = 0
    while ducker.db > -12.0:
        ducker.advance(True, 240)
        samples += 240
    assert samples == int(0.05 * RATE)
    samples = 0
    while ducker.db < 0.0:
        ducker.advance(False, 240)
        samples += 240
    assert samples == int(0.8 * RATE)
    off = Ducker(DuckingOptions(enabled=False), RATE)
    assert off.advance(True, 4800) == 1.0


def test_volume_change_is_a_ramp_not_a_step() -> None:
    mixer = _mixer(_stereo(sine(440, 2.0)))
    first = _render(mixer, 0.5)
    mixer.music_level.set_target(db_to_gain(-20.0), 0.2)
    second = _render(mixer, 1.0)
    out = np.concatenate([first, second])
    assert max_step(out) <= 0.3 * 2 * np.pi * 440 / RATE * 1.01
    levels = tone_db(out, 440, 960)
    assert abs(levels[5] - 20 * np.log10(0.3)) < 0.2
    assert abs(levels[-5] - (20 * np.log10(0.3) - 20)) < 0.2


def test_mix_holds_both_sources_at_their_frequencies() -> None:
    mixer = _mixer(_stereo(sine(440, 1.0)), DuckingOptions(enabled=False))
    voice = VoiceSource(RATE, VoiceOptions(prebuffer_s=0.0, max_latency_s=2.0))
    voice.level.jump(1.0)
    voice.push(sine(1000, 1.0, amp=0.2), RATE)
    mixer.voices = (voice,)
    out = _render(mixer, 0.8)
    spectrum = np.abs(np.fft.rfft(out[:, 0] * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / RATE)
    low = freqs[np.argmax(np.where(freqs < 700, spectrum, 0))]
    high = freqs[np.argmax(np.where(freqs >= 700, spectrum, 0))]
    assert abs(low - 440) < 2 and abs(high - 1000) < 2
    assert spectrum[freqs == low] > spectrum[freqs == high] > 0.5 * spectrum[freqs == low]


def test_chime_never_louder_than_the_music_level() -> None:
    mixer = _mixer()  # no music at all: the chime alone
    mixer.music_level.jump(db_to_gain(-20.0))
    mixer.queue_chime(render_chime(ChimeKind.CHECK_IN, RATE))
    out = _render(mixer, 3.5)
    assert np.max(np.abs(out)) <= db_to_gain(-20.0) + 1e-6
    # Faded in: the first milliseconds are far below the peak.
    assert np.max(np.abs(out[:48])) < 0.1 * np.max(np.abs(out))
    muted = _mixer()
    muted.music_level.jump(0.0)
    muted.queue_chime(render_chime(ChimeKind.RECONNECTED, RATE))
    assert np.max(np.abs(_render(muted, 1.0))) == 0.0


def test_chimes_are_soft_and_smooth() -> None:
    for kind in ChimeKind:
        chime = render_chime(kind, RATE)
        assert np.max(np.abs(chime)) == 1.0
        assert abs(chime[0]).max() == 0.0 and abs(chime[-1]).max() == 0.0
        assert 300 < fft_peak_hz(chime) < 900


def test_paused_music_is_not_consumed() -> None:
    mixer = _mixer(_stereo(sine(440, 3.0)))
    _render(mixer, 0.2)
    mixer.music_paused = True
    mixer.pause.set_target(0.0, 0.1)
    _render(mixer, 0.3)
    read = mixer.music_ring.frames_read
    _render(mixer, 0.5)
    assert mixer.music_ring.frames_read == read
    assert mixer.music_underruns == 0


def test_render_allocates_no_audio_buffers() -> None:
    mixer = _mixer(_stereo(sine(440, 3.0)))
    voice = VoiceSource(RATE)
    voice.push(sine(1000, 1.0), RATE)
    mixer.voices = (voice,)
    mixer.queue_chime(render_chime(ChimeKind.CHECK_IN, RATE))
    out = np.zeros((960, 2), dtype=np.float32)
    mixer.music_level.set_target(0.5, 1.0)
    for _ in range(5):
        mixer.render(out)
    tracemalloc.start()
    for _ in range(20):
        mixer.render(out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # One block of audio is 7680 bytes: staying under it means only small objects (array
    # views, floats) come and go, never an audio buffer.
    assert peak < 7680, peak
    assert CHUNK_FRAMES * 2 <= 500  # numpy keeps the GIL for arrays up to 500 elements


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=40))
def test_ring_keeps_order_across_wraps(sizes: list[int]) -> None:
    ring = AudioRing(1000, 2)
    written = 0
    expected = 0
    out = np.zeros((700, 2), dtype=np.float32)
    for size in sizes:
        block = np.arange(written, written + size, dtype=np.float32)[:, None].repeat(2, axis=1)
        written += ring.write(block)
        got = ring.read_into(out[: size // 2 + 1])
        assert np.array_equal(out[:got, 0], np.arange(expected, expected + got, dtype=np.float32))
        expected += got
        written = expected + ring.available
    assert ring.available == ring.frames_written - ring.frames_read


def test_resampler_keeps_pitch_and_length() -> None:
    resampler = Resampler(16_000, RATE, 1)
    source = sine(1000, 1.0, rate=16_000)
    out = np.concatenate(
        [resampler.process(source[i : i + 320]) for i in range(0, len(source), 320)]
    )
    assert abs(len(out) - RATE) < 200
    assert abs(fft_peak_hz(out[1000:]) - 1000) < 2
    assert max_step(out[1000:]) < 0.3 * 2 * np.pi * 1000 / RATE * 1.1


def test_voice_activity_flag_follows_speech() -> None:
    voice = VoiceSource(RATE, VoiceOptions(hangover_s=0.1))
    seen: list[bool] = []
    voice.speaking.connect(seen.append)
    states = []
    voice.push(sine(300, 0.02, amp=0.2), RATE)
    states.append(voice.active)
    for _ in range(4):
        voice.push(np.zeros(960, np.float32), RATE)
    states.append(voice.active)  # still within the hangover
    for _ in range(3):
        voice.push(np.zeros(960, np.float32), RATE)
    states.append(voice.active)
    voice.set_activity(True)
    states.append(voice.active)
    assert states == [True, True, False, True]
    assert seen == [True, False, True]


def test_voice_jitter_buffer_waits_then_plays_without_clicks() -> None:
    voice = VoiceSource(RATE, VoiceOptions(prebuffer_s=0.04))
    out = np.zeros(240, dtype=np.float32)
    voice.push(sine(200, 0.02, amp=0.5), RATE)
    assert voice.read_into(out) == 0  # 20 ms < 40 ms prebuffer
    voice.push(sine(200, 0.1, amp=0.5)[960:], RATE)
    chunks = []
    while (got := voice.read_into(out)) == 240:
        chunks.append(out.copy())
    assert got < 240 and voice.underruns == 1
    played = np.concatenate([*chunks, out[:got]])
    assert max_step(played) < 0.5 * 2 * np.pi * 200 / RATE * 1.5


def test_a_voice_removed_while_its_buffer_is_dry_still_leaves_the_mix() -> None:
    # A call that ends during an underrun must not leave its voice in the mix for good.
    out = np.zeros(240, dtype=np.float32)
    dry = VoiceSource(RATE, VoiceOptions(prebuffer_s=0.04))
    dry.push(sine(200, 0.1, amp=0.5), RATE)
    while dry.read_into(out) == 240:
        pass
    dry.fade_out()
    assert dry.read_into(out) == 0 and dry.finished
    # One still playing fades out over its own audio first.
    playing = VoiceSource(RATE, VoiceOptions(prebuffer_s=0.0, fade_s=0.02))
    playing.push(sine(200, 0.2, amp=0.5), RATE)
    playing.read_into(out)
    playing.fade_out()
    finished_at_once = playing.finished
    assert not finished_at_once
    faded = [out.copy() for _ in range(4) if playing.read_into(out)]
    assert playing.finished and max_step(np.concatenate(faded)) < 0.1


def test_generative_music_is_seeded_and_gentle() -> None:
    a = GenerativeMusic(GenerativeOptions(seed=3), RATE)
    b = GenerativeMusic(GenerativeOptions(seed=3), RATE)
    c = GenerativeMusic(GenerativeOptions(seed=4), RATE)
    blocks_a = np.concatenate([a.render(4800) for _ in range(100)])
    blocks_b = np.concatenate([b.render(4800) for _ in range(100)])
    blocks_c = np.concatenate([c.render(4800) for _ in range(100)])
    assert np.array_equal(blocks_a, blocks_b)
    assert not np.array_equal(blocks_a, blocks_c)
    assert np.max(np.abs(blocks_a)) < 0.9
    assert max_step(blocks_a) < 0.05


def test_dbfs_reads_int16_and_float_blocks_alike() -> None:
    tone = sine(440, 0.1, amp=0.5)  # RMS 0.5/sqrt(2): about -9 dBFS
    as_int = (tone * 32767).astype(np.int16)
    assert abs(dbfs(tone) - dbfs(as_int)) < 0.01
    assert abs(dbfs(tone) - 20 * np.log10(0.5 / np.sqrt(2))) < 0.01
    assert dbfs(np.zeros(480, np.float32)) == -np.inf
    assert dbfs(np.zeros(0, np.int16), floor_db=-120.0) == -120.0
    assert dbfs(np.full(480, 1e-9, np.float32), floor_db=-60.0) == -60.0


def test_ramp_scratch_glides_from_one_gain_to_the_next_without_a_step() -> None:
    ramp = RampScratch(CHUNK_FRAMES, column=True)
    src = np.ones((CHUNK_FRAMES, 2), np.float32)
    out = np.empty_like(src)
    ramp.apply(out, src, 0.0, 1.0)
    assert out[-1, 0] == 1.0 and 0.0 < out[0, 0] < 2.0 / CHUNK_FRAMES
    assert np.all(np.diff(out[:, 1]) > 0)
    ramp.apply(out, src, 0.5, 0.5)
    assert np.all(out == 0.5)
    mono = RampScratch(256)
    block = np.ones(256, np.float32)
    mono.apply(block, block, 1.0, 1.0)  # in place at unity: untouched
    assert np.all(block == 1.0)
    mono.apply(block, block, 1.0, 0.0)
    assert block[-1] == 0.0 and block[0] > 0.99


def test_a_safety_line_cuts_into_the_welcome_with_a_fade_and_never_into_another() -> None:
    """Issue 22: the link dropped during the 15 s welcome is said at once (the welcome fades
    out, no click); a second safety line waits for the first; ordinary lines come after."""
    mixer = _mixer(ducking=DuckingOptions(enabled=False))
    mixer.queue_speech(sine(300, 15.0, amp=0.2))  # the welcome
    _render(mixer, 1.0)
    mixer.queue_speech(sine(900, 1.0, amp=0.2), cut_in=True)  # "the connection dropped"
    mixer.queue_speech(sine(1500, 1.0, amp=0.2), cut_in=True)  # "help is coming"
    mixer.queue_speech(sine(600, 0.5, amp=0.2))  # "Louder."
    out = _render(mixer, 3.0)
    assert max_step(out) < 0.05  # faded out, never cut off
    assert fft_peak_hz(out[int(0.15 * RATE) : int(0.95 * RATE)]) == pytest.approx(900, abs=5)
    assert fft_peak_hz(out[int(1.2 * RATE) : int(2.0 * RATE)]) == pytest.approx(1500, abs=5)
    assert fft_peak_hz(out[int(2.15 * RATE) : int(2.55 * RATE)]) == pytest.approx(600, abs=5)
    assert not mixer.speech_pending  # the welcome was not resumed after them
