"""The playout on its own: real Opus packets (the call's encoder, FEC on) through the real
``Playout`` into a device model, over a simulated network with simulated clocks
(``devtools/playout_sim.py``, as ``benchmarks/playout.py`` runs it for hours). Time here is
simulated, so these figures are the algorithm's, not the machine's."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from companion.audio.stretch import accelerate, expand, find_splice
from companion.call.opus import FRAME, RATE
from devtools.playout_sim import Scenario, opus_packets, simulate
from tests.audio.signals import max_step


@cache
def _packets() -> tuple[bytes, ...]:
    return tuple(opus_packets())


def _sine(hz: float, samples: int, start: int = 0) -> np.ndarray:
    t = (start + np.arange(samples)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_stretching_removes_or_repeats_whole_periods_without_a_click() -> None:
    frame = _sine(200.0, FRAME)
    splice = find_splice(frame)
    assert splice is not None and splice.lag % 240 == 0  # whole periods of 200 Hz
    for stretched, length in (
        (accelerate(frame, splice), FRAME - splice.lag),
        (expand(frame, splice), FRAME + splice.lag),
    ):
        assert len(stretched) == length
        # Joined to the frames around it, the waveform runs on without a step.
        joined = np.concatenate(
            [_sine(200.0, FRAME, -FRAME), stretched, _sine(200.0, FRAME, FRAME)]
        )
        assert max_step(joined) < 0.5 * 2 * np.pi * 200 / RATE * 1.2
        spectrum = np.abs(np.fft.rfft(joined * np.hanning(len(joined))))
        assert abs(np.fft.rfftfreq(len(joined), 1 / RATE)[np.argmax(spectrum)] - 200) < 20


def test_noise_is_not_spliced() -> None:
    noise = np.random.default_rng(1).normal(0, 0.2, FRAME).astype(np.float32)
    assert find_splice(noise) is None


def test_under_loss_lost_frames_come_back_from_the_next_packets_fec() -> None:
    # On a clean link the next packet is not yet here when a lost one is due; once loss
    # is seen, one packet more is held, and FEC recovers most lost frames from then on.
    result = simulate(Scenario(30.0, loss=0.03, seed=6), list(_packets()))
    stats = result.stats
    assert stats.fec_samples > 2 * stats.concealed_samples, stats
    assert result.gap_max_ms <= 20
    clean = simulate(Scenario(30.0, seed=6), list(_packets()))
    # ... which costs about one packet of delay, and only while there is loss.
    assert 10 < np.median(result.delays_ms[500:]) - np.median(clean.delays_ms[500:]) < 30


def test_jitter_reordering_and_loss_leave_no_gap() -> None:
    result = simulate(Scenario(30.0, jitter_s=0.030, loss=0.05, seed=5), list(_packets()))
    stats = result.stats
    assert stats.fec_samples > 0 and stats.concealed_samples > 0
    assert result.gap_max_ms <= 20, result.gap_max_ms
    assert result.underruns == 0 and result.drops <= stats.packets_late
    # The delay followed the jitter: most packets in time, few thrown away as late.
    assert stats.packets_late < 0.01 * stats.packets_received
    assert max(result.delays_ms[500:]) < 120


def test_playout_resumes_soon_after_a_burst_loss() -> None:
    result = simulate(Scenario(15.0, burst_at_s=8.0, burst_s=0.3), list(_packets()))
    assert result.burst_resume_ms is not None and result.burst_resume_ms <= 60
    assert result.gap_max_ms < 10  # nothing else went silent


@pytest.mark.parametrize(("stall_s", "back_by_s"), [(0.1, 1.0), (0.2, 1.8)])
def test_the_delay_comes_back_down_soon_after_a_late_burst(
    stall_s: float, back_by_s: float
) -> None:
    # The sender stalls, then its packets come all at once: the playout expands (then
    # falls silent) meanwhile, so the delay is the stall too long afterwards. That burst's
    # first packets arrived just in time, which says "no room to cut" while remembered,
    # and the few that came after their turn are late, not lost: no reason to hold one
    # more packet for FEC.
    result = simulate(Scenario(14.0, stall_at_s=8.0, stall_s=stall_s), list(_packets()))
    at, delays = np.array(result.delays_at), np.array(result.delays_ms)
    before = np.median(delays[(at > 5.0) & (at < 8.0)])
    assert np.median(delays[(at > 8.1) & (at < 8.3)]) > before + 25  # the stall's delay
    # Forgotten soon, not held for the slack window's 3 s.
    later = delays[(at > 8.0 + back_by_s) & (at < 8.6 + back_by_s)]
    assert np.median(later) < before + 10, (before, later)
    assert result.drops == result.stats.packets_late <= 5


def test_clock_drift_is_absorbed_by_stretching_both_ways() -> None:
    for ppm in (300.0, -300.0):
        result = simulate(Scenario(240.0, sender_ppm=ppm, seed=4), list(_packets()))
        stats = result.stats
        # No hole, nothing dropped, nothing concealed: only inaudible stretches.
        assert result.gaps == 0 and result.underruns == 0 and result.drops == 0, ppm
        assert stats.concealed_samples == 0, (ppm, stats)
        if ppm > 0:
            assert stats.accelerate_count > 0
        else:
            assert stats.expand_count > 0
        # 72 ms of surplus or shortfall over the run, and the delay stayed where it was.
        assert max(result.delays_ms[500:]) < 40, ppm


def test_sequence_numbers_wrap() -> None:
    result = simulate(Scenario(8.0, first_seq=65_400), list(_packets()))
    assert result.stats.packets_late == 0 and result.gaps == 0
    assert result.stats.samples_emitted >= (8.0 - 0.1) / 0.02 * FRAME
