"""Echo cancellation, noise suppression and the voice they leave, through the app's own code.

    .venv/bin/python benchmarks/echo.py            # the full run (~1 minute)
    .venv/bin/python benchmarks/echo.py --quick    # shorter runs, one delay (the smoke test)

Each scenario runs in its own process (the processing module aborts the whole process on a
bad frame: ``aborts`` counts scenarios that died that way) through ``devtools/room.py``:
the audio engine's real mix and output tap, the real microphone track and its
``VoiceProcessing``, with random block sizes (64–2048) on both sides, the simulated room
(echo delays 30, 130 and 330 ms after a 100 ms output buffer, a decaying impulse response
with RT60 0.3 s, white noise at −60 dBFS), speech made by espeak-ng and the bundled music.

* erle_far_db: echo return loss enhancement on the far end's speech, 2 s on, worst delay.
* erle_first_s_db: the same over the first second of echo (a fresh call), worst delay.
* erle_music_db: the bundled music playing locally (the patient's speakers).
* erle_music_control_db: the same with the music left out of the reverse stream: must be
  low, or the benchmark could not fail.
* reconverge_s: after an output underrun shifts the echo by +200 ms (reported by
  PortAudio's flag); reconverge_unreported_s: the same shift unannounced.
* doubletalk_spec / doubletalk_near_drop_db: both talking, the near voice as loud as the
  echo (0 dB signal-to-echo): similarity of the magnitude spectrum of what is sent to the
  same processing of the near voice with no echo, and how much quieter the near voice comes
  out. doubletalk_spectrogram is the stricter frame-by-frame similarity, beside
  doubletalk_raw_spectrogram, the unprocessed microphone's (for scale).
* headphones_spec: no echo path at all while the far end and music play: similarity of
  what is sent to the same processing with nothing played, from 3 s on (AEC3 needs that
  long to notice there is no echo path); headphones_first_3s_spec: the first 3 s.
* noise_reduction_db: a fan's noise (pink, −40 dBFS) alone, after 2 s.
* erle_far_realtime_db, cpu_core_pct: the 130 ms run again paced to the wall clock with the
  processing on its own thread, as in the app: ERLE, and the capture path's thread CPU
  (the callback's copy, the worker's passes: framing, processing, idle wake-ups) in % of
  one core. cpu_driven_pct: the same cost over all the faster-than-real-time runs. Thread
  CPU time grows when other processes share the cores (caches, hyper-threads): load_avg_1m
  is the machine's load at the end, to read it by.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.room import (  # noqa: E402
    FAR_TEXT,
    NEAR_TEXT,
    RATE,
    RoomConfig,
    RoomResult,
    echo_onset_s,
    erle_db,
    frame_power,
    reconverge_s,
    run_room,
    spectral_similarity,
    spectrogram_similarity,
    speech,
)

TARGETS = {
    "erle_far_db": (">=", 30.0),
    "erle_first_s_db": (">=", 20.0),
    "erle_music_db": (">=", 20.0),
    "reconverge_s": ("<=", 3.0),
    "doubletalk_spec": (">=", 0.80),
    "doubletalk_near_drop_db": ("<=", 6.0),
    "headphones_spec": (">=", 0.98),
    "noise_reduction_db": (">=", 10.0),
    "cpu_core_pct": ("<=", 3.0),
    "aborts": ("<=", 0),
    "erle_far_realtime_db": (">=", 30.0),
}


def pink_noise(seconds: float, dbfs: float, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    noise = np.fft.irfft(spectrum, n)
    scaled: np.ndarray = noise / np.sqrt(np.mean(noise**2)) * 10 ** (dbfs / 20)
    return scaled.astype(np.float32)


# -- scenarios (each in its own process) ----------------------------------------------------


def _speech(name: str, seconds: float) -> np.ndarray:
    pcm: np.ndarray = np.load(Path(os.environ["ECHO_SPEECH_DIR"]) / f"{name}.npy")
    return pcm[: int(seconds * RATE)]


def _far(seconds: float) -> np.ndarray:
    return _speech("far", seconds)


def _near(seconds: float) -> np.ndarray:
    return _speech("near", seconds)


async def _run(config: RoomConfig) -> RoomResult:
    return await run_room(config)


def _audio_s(config: RoomConfig) -> float:
    return config.seconds


async def scenario(name: str, seconds: float) -> dict[str, Any]:
    """One named run; returns its figures (and the capture path's CPU)."""
    if name == "realtime":
        r = await _run(RoomConfig(seconds, far=_far(seconds), far_start_s=1.0, realtime=True))
        return {"erle": erle_db(r, echo_onset_s(r) + 2.0, seconds), **_cost(r, seconds)}
    if name.startswith("far_"):
        delay = int(name.removeprefix("far_")) / 1000
        r = await _run(RoomConfig(seconds, delay_s=delay, far=_far(seconds), far_start_s=1.0))
        onset = echo_onset_s(r)
        return {
            "erle": erle_db(r, onset + 2.0, seconds),
            "erle_first_s": erle_db(r, onset, onset + 1.0),
            **_cost(r, seconds),
        }
    if name in ("music", "music_control"):
        reverse = "mix" if name == "music" else "none"
        r = await _run(RoomConfig(seconds, music=True, reverse=reverse))
        return {"erle": erle_db(r, 2.0, seconds), **_cost(r, seconds)}
    if name in ("jump", "jump_unreported"):
        at = seconds / 2
        config = RoomConfig(seconds, far=_far(seconds), jump_at_s=at, announce_jump=name == "jump")
        r = await _run(config)
        # The shift reaches the microphone one output buffer plus the echo delay later.
        heard = at + config.out_latency_s + config.delay_s
        return {"reconverge_s": reconverge_s(r, heard), **_cost(r, seconds)}
    if name == "doubletalk":
        near = np.zeros(int(seconds * RATE), dtype=np.float32)
        start = int(seconds / 2 * RATE)
        # 0 dB signal-to-echo: the near voice as loud at the microphone as the echo.
        probe = await _run(RoomConfig(seconds, far=_far(seconds)))
        echo_rms = math.sqrt(float(np.mean(probe.echo[start:] ** 2))) / 32768.0
        voice = _near(seconds - seconds / 2)
        voice *= echo_rms / math.sqrt(float(np.mean(voice**2)))
        near[start : start + len(voice)] = voice
        both = await _run(RoomConfig(seconds, far=_far(seconds), near=near))
        alone = await _run(RoomConfig(seconds, far=_far(seconds), near=near, echo_gain=0.0))
        a, b = both.out[start:], alone.out[start:]
        talk = frame_power(alone.mic[start:]) > (32768.0 * 10 ** (-50 / 20)) ** 2
        drop = 10 * np.log10(np.sum(frame_power(b)[talk]) / max(np.sum(frame_power(a)[talk]), 1e-9))
        return {
            "spec": spectral_similarity(a, b),
            "spectrogram": spectrogram_similarity(a, b),
            "raw_spectrogram": spectrogram_similarity(both.mic[start:], b),
            "near_drop_db": float(drop),
            **_cost(both, seconds),
        }
    if name == "headphones":
        near = _near(seconds)
        played = await _run(
            RoomConfig(seconds, far=_far(seconds), music=True, near=near, echo_gain=0.0)
        )
        quiet = await _run(RoomConfig(seconds, near=near, echo_gain=0.0))
        # AEC3 needs a few seconds of far-end sound to notice there is no echo path.
        settled, first = slice(3 * RATE, None), slice(0, 3 * RATE)
        return {
            "spec": spectral_similarity(played.out[settled], quiet.out[settled]),
            "first_3s_spec": spectral_similarity(played.out[first], quiet.out[first]),
            "spectrogram": spectrogram_similarity(played.out[settled], quiet.out[settled]),
            "vs_raw_spec": spectral_similarity(played.out[settled], played.mic[settled]),
            **_cost(played, seconds),
        }
    if name == "noise":
        fan = pink_noise(seconds, -40.0)
        r = await _run(RoomConfig(seconds, noise=fan))
        tail = slice(2 * RATE, None)
        reduction = 10 * np.log10(
            np.mean(r.mic[tail] ** 2) / max(float(np.mean(r.out[tail] ** 2)), 1e-9)
        )
        return {"reduction_db": float(reduction), **_cost(r, seconds)}
    raise SystemExit(f"unknown scenario {name}")


def _cost(r: RoomResult, seconds: float) -> dict[str, Any]:
    p = r.processing
    return {"cpu_s": r.cpu_s, "audio_s": seconds, "errors": p.errors, "resets": p.resets}


# -- the parent ----------------------------------------------------------------------------


ABORTED: list[str] = []
"""Scenarios whose process was killed by a signal (any other failure leaves its figures
missing, which fails their targets)."""


def run_child(name: str, seconds: float, speech_dir: Path) -> dict[str, Any] | None:
    """``None``: the scenario's process failed; an abort (killed by a signal: the
    processing module's abort) is counted in ``ABORTED``."""
    env = {**os.environ, "ECHO_SPEECH_DIR": str(speech_dir)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        print(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}", file=sys.stderr)
        if proc.returncode < 0:
            ABORTED.append(name)
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one delay")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(scenario(args.child, args.seconds))))
        return

    long_s = 8.0 if args.quick else 14.0
    delays = [130] if args.quick else [30, 130, 330]
    plan = [(f"far_{d}", long_s) for d in delays] + [
        ("realtime", long_s),
        ("music", long_s),
        ("music_control", long_s),
        ("jump", 2 * long_s if not args.quick else 12.0),
        ("jump_unreported", 2 * long_s if not args.quick else 12.0),
        ("doubletalk", long_s),
        ("headphones", long_s),
        ("noise", long_s / 2 + 2),
    ]
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
        speech_dir = Path(tmp)
        longest = max(s for _, s in plan) + 1
        np.save(speech_dir / "far.npy", speech(FAR_TEXT, "en-us", longest))
        np.save(speech_dir / "near.npy", speech(NEAR_TEXT, "en-gb+f3", longest))
        results: dict[str, dict[str, Any] | None] = {}
        for name, seconds in plan:
            results[name] = run_child(name, seconds, speech_dir)
            print(f"{name}: {json.dumps(results[name])}", flush=True)

    aborts = len(ABORTED)

    def get(name: str, key: str) -> float:
        r = results.get(name)
        return float("nan") if r is None else float(r[key])

    done = [r for n, r in results.items() if r is not None and n != "realtime"]
    driven_cpu = sum(r["cpu_s"] for r in done) / max(sum(r["audio_s"] for r in done), 1e-9)
    figures: dict[str, Any] = {
        "erle_far_db": min(get(f"far_{d}", "erle") for d in delays),
        "erle_far_by_delay_db": {str(d): round(get(f"far_{d}", "erle"), 1) for d in delays},
        "erle_first_s_db": min(get(f"far_{d}", "erle_first_s") for d in delays),
        "erle_music_db": get("music", "erle"),
        "erle_music_control_db": get("music_control", "erle"),
        "reconverge_s": get("jump", "reconverge_s"),
        "reconverge_unreported_s": get("jump_unreported", "reconverge_s"),
        "doubletalk_spec": get("doubletalk", "spec"),
        "doubletalk_near_drop_db": get("doubletalk", "near_drop_db"),
        "doubletalk_spectrogram": get("doubletalk", "spectrogram"),
        "doubletalk_raw_spectrogram": get("doubletalk", "raw_spectrogram"),
        "headphones_spec": get("headphones", "spec"),
        "headphones_first_3s_spec": get("headphones", "first_3s_spec"),
        "headphones_vs_raw_spec": get("headphones", "vs_raw_spec"),
        "headphones_spectrogram": get("headphones", "spectrogram"),
        "noise_reduction_db": get("noise", "reduction_db"),
        "erle_far_realtime_db": get("realtime", "erle"),
        "cpu_core_pct": 100 * get("realtime", "cpu_s") / get("realtime", "audio_s"),
        "cpu_driven_pct": 100 * driven_cpu,
        "aborts": aborts,
        "load_avg_1m": os.getloadavg()[0],
        "processing_errors": sum(int(r["errors"]) for r in results.values() if r is not None),
    }
    failed = [
        key
        for key, (op, target) in TARGETS.items()
        if not (figures[key] >= target if op == ">=" else figures[key] <= target)
    ]
    # The control must fail the target: music the canceller was not told about stays in
    # the call (what little goes is the noise suppressor's work on sustained music).
    if not figures["erle_music_control_db"] < TARGETS["erle_music_db"][1]:
        failed.append("erle_music_control_db")
    figures["failed"] = failed
    for key, value in figures.items():
        if isinstance(value, float):
            figures[key] = round(value, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
