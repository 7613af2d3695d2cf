"""Spoken lines through the real engine into ALSA's file device (issue 22)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from companion.audio.loudness import integrated_lufs
from tests.audio.conftest import RATE, AlsaFileDevice
from tests.audio.signals import max_step, tone_db

WINDOW = 960  # 20 ms


def find_line(out: np.ndarray, line: np.ndarray) -> tuple[int, float, float]:
    """Where ``line`` starts in ``out`` (left channel) by normalized cross-correlation; how
    alike they are there (1 = identical); and how far that stands above the best match
    anywhere else (a line heard once: many times higher). Normalized by the output's own
    energy at each place: a raw correlation peaks where the output is loudest (lines said
    with the music paused come ~10 dB louder), and found a loud line instead of a soft one."""
    mono = out[:, 0].astype(np.float64)
    line = line.astype(np.float64)
    n = 1 << (len(mono) + len(line)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(mono, n) * np.conj(np.fft.rfft(line, n)), n)[: len(mono)]
    energy_to = np.concatenate([[0.0], np.cumsum(mono**2)])
    ends = np.minimum(np.arange(len(mono)) + len(line), len(mono))
    energy = energy_to[ends] - energy_to[: len(mono)]
    alike = corr / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(line))
    alike[energy < 1e-6 * len(line)] = 0.0  # digital silence matches nothing
    at = int(np.argmax(alike))
    elsewhere = np.abs(np.concatenate([alike[: max(0, at - len(line))], alike[at + len(line) :]]))
    prominence = float(alike[at] / elsewhere.max()) if elsewhere.size else np.inf
    return at, float(alike[at]), prominence


def test_spoken_line_is_heard_over_ducked_music_at_its_loudness(
    alsa_device: AlsaFileDevice,
) -> None:
    result = alsa_device.run("spoken")
    assert result["missing"] == [] and result["said"]
    out = alsa_device.read()
    line = np.fromfile(alsa_device.workdir / "line.raw", dtype=np.float32)
    at, alike, prominence = find_line(out, line)
    assert alike > 0.9 and prominence > 3.0, (
        alike,
        prominence,
    )  # the known rendering, only the ducked music added
    words = np.flatnonzero(np.abs(line) > 1e-3)
    first, last = at + words[0], at + words[-1]
    # The music alone: the line (its known rendering, at the level it was played) taken
    # out, so the words' own energy near 440 Hz does not read as music.
    segment = out[at : at + len(line), 0].astype(np.float64)
    gain = float(np.dot(segment, line[: len(segment)]) / np.dot(line, line))
    residual = out[:, 0].astype(np.float64)
    residual[at : at + len(segment)] -= gain * line[: len(segment)]
    music = tone_db(residual, 440, WINDOW)
    before = np.median(music[(first - RATE) // WINDOW : (first - RATE // 4) // WINDOW])
    under = np.median(music[first // WINDOW : last // WINDOW])
    after = np.median(music[(last + RATE) // WINDOW : (last + 2 * RATE) // WINDOW])
    assert under - before <= -10.0, (before, under)
    assert abs(after - before) < 1.0, (before, after)
    # Loudness-matched to the music the patient heard just before (BS.1770 meter).
    heard = out[first:last].astype(np.float64)
    music_only = out[first - 3 * RATE : first - RATE // 4].astype(np.float64)
    assert abs(integrated_lufs(heard) - integrated_lufs(music_only)) <= 2.0
    assert max_step(out[at : at + len(line)]) < 0.5  # no click at the line's start
    assert result["underruns"] == 0


def test_loudness_meter_reads_the_bs1770_reference_tone() -> None:
    # BS.1770: a 1 kHz sine at -20 dBFS on one channel reads -23.0 LUFS, on two -20.0.
    t = np.arange(3 * RATE) / RATE
    tone = 10 ** (-20 / 20) * np.sin(2 * np.pi * 1000 * t)
    assert abs(integrated_lufs(tone) + 23.0) < 0.1
    assert abs(integrated_lufs(np.stack([tone, tone], axis=1)) + 20.0) < 0.1
    # The gates: silence around the tone is left out (only the part-filled edge blocks count).
    padded = np.concatenate([np.zeros(2 * RATE), tone, np.zeros(2 * RATE)])
    assert abs(integrated_lufs(padded) + 23.0) < 0.5
    assert integrated_lufs(np.zeros(RATE)) == -np.inf


@pytest.mark.parametrize(
    ("language", "voice"),
    [
        ("en", "espeak-ng en-us"),
        # Issue 24: a Spanish-speaking patient hears the same lines in Spanish.
        ("es", "espeak-ng es-419"),
    ],
)
def test_the_patient_hears_what_the_screen_says(
    alsa_device: AlsaFileDevice, language: str, voice: str
) -> None:
    result = alsa_device.run("patient_lines", timeout_s=120.0, language=language)
    expected = [
        "checkin_request",
        "checkin_received",
        "prompt:feet-on-floor",
        "help_coming",
        "help_acknowledged",
        "help_coming",
        "support_named",
        "breath:in",
    ]
    assert result["spoken"] == expected
    # The therapist's timeline shows each line the patient heard, in plain words, with the
    # voice; the support person's does not; the name never reached the server.
    heard = result["therapist_heard"]
    assert [line_id for line_id, _ in heard] == expected
    assert all(text.endswith(f"({voice})") for _, text in heard), heard
    if language == "en":
        assert all(text.startswith("The patient heard: “") for _, text in heard), heard
        assert "Your therapist is checking in. If you're OK, press any key." in heard[0][1]
    assert result["support_heard"] == [] and not result["name_in_records"]
    assert result["named_kept"]
    # Said once each (help_coming is said twice: its match is not unique), in order.
    once = [line_id for line_id in [*expected, "breath:out"] if expected.count(line_id) < 2]
    out = alsa_device.read()
    found = []
    for line_id in once:
        line = np.fromfile(
            alsa_device.workdir / f"{line_id.replace(':', '_')}.raw", dtype=np.float32
        )
        at, alike, prominence = find_line(out, line / np.max(np.abs(line)))
        found.append((at, alike, prominence))
    # The patient's music (ducked 12 dB) fills the pauses between words (0.47-0.97 seen);
    # the match stands above any other place, though lines share words: the check-in
    # request and its answer both say "your therapist" and "you're OK" (2.6 seen).
    assert all(alike > 0.4 and prominence > 2.0 for _, alike, prominence in found), found
    starts = [at for at, _, _ in found]
    assert starts == sorted(starts)  # heard one after another, in the order given


def test_a_relaunch_prepares_the_lines_without_measuring_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 (relaunch within 20 s): measuring every line's loudness took seconds on a
    busy computer, and a patient relaunched mid-session waited for it before the call
    started again. The loudness is kept beside the voice's cache: the next process (a new
    Speaker on the same folder) measures nothing and gets the same levels."""
    import companion.audio.speech as speech
    from companion.app.spoken import SPOKEN_LINES
    from companion.audio.engine import AudioEngine

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (script/bootstrap installs it)")
    measured: list[int] = []
    real = integrated_lufs

    def counted(x: np.ndarray) -> float:
        measured.append(len(x))
        return real(x)

    monkeypatch.setattr(speech, "integrated_lufs", counted)
    lines = dict(list(SPOKEN_LINES.items())[:4])
    levels = []
    for _run in range(2):
        engine = AudioEngine()
        speaker = speech.Speaker(engine, speech.EspeakVoice(tmp_path / "voice"))
        try:
            assert speaker.prepare(lines) == []
            levels.append({k: speaker.loudness(k) for k in lines})
        finally:
            speaker.close()
            engine.close()
        if _run == 0:
            assert len(measured) == len(lines)
            measured.clear()
    assert measured == [], "the relaunched app measured the lines again"
    assert levels[0] == levels[1]
