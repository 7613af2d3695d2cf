"""Spoken lines (issue 22): how soon, how loud, how far the music dips, and none missing.

    .venv/bin/python benchmarks/spoken.py            # every line, each said twice
    .venv/bin/python benchmarks/spoken.py --quick    # four lines once

The patient's engine plays steady pink noise as the music (real music's own swells would
measure as loudness errors and duck depth) to a real PortAudio stream (a temporary
HOME points ALSA's default device at a file plugin paced at 48 kHz, as in
audio_engine.py); the lines are rendered with espeak-ng before anything is said, as the
patient's app does before the session, then said one at a time.

* line_latency_p95_s: ``Speaker.say`` (what the core runs when the ladder gives a line) →
  first word leaving the callback, plus the device's output latency.
* loudness_diff_lu: worst |integrated loudness of the words as played − integrated loudness
  of the music heard in the 3 s before|, both measured on the device's output (BS.1770).
* duck_db: worst (highest) level of the music under a line relative to before: the line
  (its known rendering, scaled by least squares) is subtracted from the output first.
* lines_missing_offline: lines not ready once prepared. The voice is rendered on this
  machine before the session, so nothing later depends on the network.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from audio_engine import point_alsa_at_paced_null  # noqa: E402

from companion.app.spoken import SPOKEN_LINES  # noqa: E402
from companion.audio import (  # noqa: E402
    AudioEngine,
    EngineOptions,
    Playlist,
    RepeatMode,
    Track,
)
from companion.audio.loudness import integrated_lufs  # noqa: E402
from companion.audio.speech import EspeakVoice, Speaker  # noqa: E402

RATE = 48_000


class Capture:
    """Every block written to the device, and the speech counter after it (the probe)."""

    def __init__(self, engine: AudioEngine, seconds: float) -> None:
        self.out = np.zeros((int(seconds * RATE), 2), dtype=np.float32)
        self.frames = 0
        self.blocks: list[tuple[int, int, float]] = []  # (end frame, speech frames, perf)
        self.engine = engine

    def __call__(self, block: np.ndarray, start: float) -> None:
        n = min(len(block), len(self.out) - self.frames)
        self.out[self.frames : self.frames + n] = block[:n]
        self.frames += n
        self.blocks.append((self.frames, self.engine.mixer.speech_frames, start))


def steady_music(path: Path, seconds: float) -> Path:
    """Pink noise at about -23 LUFS, stereo 16-bit WAV."""
    rng = np.random.default_rng(22)
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal((n, 2)), axis=0)
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0))[:, None]
    noise = np.fft.irfft(spectrum, n, axis=0)
    noise *= 10 ** ((-23.0 - integrated_lufs(noise)) / 20)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(noise, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        point_alsa_at_paced_null(Path(tmp))
        figures = run(Path(tmp), args.quick)
    print(json.dumps(figures))


def run(tmp: Path, quick: bool) -> dict[str, object]:
    ids = list(SPOKEN_LINES)[:4] if quick else list(SPOKEN_LINES) * 2
    engine = AudioEngine(EngineOptions(fade_in_s=0.5))
    music = steady_music(tmp / "music.wav", 60.0)
    engine.load_playlist(Playlist([Track(str(music))], repeat=RepeatMode.ALL))
    speaker = Speaker(engine, EspeakVoice(tmp / "voice"))
    missing = speaker.prepare(SPOKEN_LINES)
    clips = {i: speaker._clips[i].samples for i in SPOKEN_LINES if speaker.ready(i)}
    capture = Capture(engine, 30 + sum(len(clips[i]) / RATE + 6.0 for i in ids))
    engine.output_probe = capture
    engine.start()
    time.sleep(4.0)  # past the fade-in, and the meter has heard the music
    latencies, loudness_diffs, ducks = [], [], []
    for line_id in ids:
        clip = clips[line_id]
        base = engine.mixer.speech_frames
        said = time.perf_counter()
        speaker.say(line_id)
        deadline = time.monotonic() + len(clip) / RATE + 5.0
        while engine.mixer.speech_pending and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(3.5)  # the music is back, and 3 s of it heard, before the next line
        device = engine.device
        words = int(np.flatnonzero(np.abs(clip) > 1e-3)[0])
        last = int(np.flatnonzero(np.abs(clip) > 1e-3)[-1]) + 1
        start = None
        for end, spoken, perf in capture.blocks:
            if start is None and spoken > base:
                start = end - (spoken - base)  # lines start on a chunk boundary in the block
            if spoken > base + words:
                latencies.append(perf - said + (device.latency_s if device else 0.0))
                break
        assert start is not None, line_id
        out = capture.out[: capture.frames].astype(np.float64)
        segment = out[start : start + len(clip)]
        gain = float(np.dot(segment[:, 0], clip[: len(segment)]) / np.dot(clip, clip))
        music_under = segment - gain * clip[: len(segment), None]
        before = out[start - 3 * RATE : start]
        heard = integrated_lufs(segment[words:last])
        music_before = integrated_lufs(before)
        loudness_diffs.append(heard - music_before)
        ducks.append(integrated_lufs(music_under[words:last]) - music_before)
    speaker.close()
    engine.close()
    return {
        "lines": len(ids),
        "line_latency_p95_s": round(float(np.percentile(latencies, 95)), 3),
        "loudness_diff_lu": round(max(abs(d) for d in loudness_diffs), 2),
        "loudness_diff_median_lu": round(float(np.median(np.abs(loudness_diffs))), 2),
        "duck_db": round(max(ducks), 1),
        "per_line": [
            [round(a, 1), round(b, 1)] for a, b in zip(loudness_diffs, ducks, strict=True)
        ],
        "lines_missing_offline": len(missing)
        + sum(1 for i in SPOKEN_LINES if not speaker.ready(i)),
        "underruns": engine.underruns,
    }


if __name__ == "__main__":
    main()
