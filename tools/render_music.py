"""Render the bundled calm music into assets/music (deterministic from the seeds below).

    .venv/bin/python tools/render_music.py            # all tracks, ~2 minutes on 2 cores
    .venv/bin/python tools/render_music.py --check    # render 20 s of each, print levels

Each track is ``companion.audio.generative`` music with its own seed, key and scale,
with a slow fade at both ends, encoded as Ogg/Opus (VBR, modest bitrate: pads and drones
are simple signals). The output is CC0; see assets/music/README.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.audio.generative import GenerativeMusic, GenerativeOptions

RATE = 48_000
BITRATE = 20_000
FADE_S = 8.0
BLOCK = 4_800


@dataclass(frozen=True)
class TrackSpec:
    file: str
    title: str
    seed: int
    root_hz: float
    scale: str
    minutes: float
    voices: int = 6
    cycle_s: tuple[float, float] = (14.0, 34.0)
    brightness: float = 0.25


TRACKS = (
    TrackSpec("01-still-water.opus", "Still Water", 101, 110.0, "major_pentatonic", 6.0),
    TrackSpec(
        "02-low-clouds.opus", "Low Clouds", 202, 98.0, "suspended", 6.0, cycle_s=(18.0, 40.0)
    ),
    TrackSpec(
        "03-evening-field.opus", "Evening Field", 303, 123.47, "lydian_hex", 6.0, brightness=0.18
    ),
    TrackSpec("04-slow-tide.opus", "Slow Tide", 404, 103.83, "minor_pentatonic", 6.0, voices=5),
    TrackSpec(
        "05-warm-light.opus", "Warm Light", 505, 130.81, "major_pentatonic", 6.0, brightness=0.3
    ),
    TrackSpec("06-moss.opus", "Moss", 606, 92.5, "suspended", 6.0, voices=7, cycle_s=(20.0, 44.0)),
    TrackSpec("07-far-hills.opus", "Far Hills", 707, 116.54, "lydian_hex", 6.0, voices=5),
    TrackSpec(
        "08-resting.opus", "Resting", 808, 87.31, "minor_pentatonic", 6.0, cycle_s=(22.0, 48.0)
    ),
)


def render(spec: TrackSpec, seconds: float) -> np.ndarray:
    music = GenerativeMusic(
        GenerativeOptions(
            seed=spec.seed,
            root_hz=spec.root_hz,
            scale=spec.scale,
            voices=spec.voices,
            cycle_s=spec.cycle_s,
            brightness=spec.brightness,
        ),
        RATE,
    )
    total = int(seconds * RATE)
    blocks = [music.render(min(BLOCK, total - start)) for start in range(0, total, BLOCK)]
    audio = np.concatenate(blocks)
    fade = min(int(FADE_S * RATE), total // 2)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade)) ** 2
    audio[:fade] *= ramp[:, None]
    audio[-fade:] *= ramp[::-1, None]
    return audio.astype(np.float32)


def encode(audio: np.ndarray, path: Path, title: str) -> None:
    with av.open(str(path), "w", format="ogg") as container:
        container.metadata["title"] = title
        container.metadata["artist"] = "Companion project (CC0)"
        stream = container.add_stream("libopus", rate=RATE, layout="stereo")
        stream.bit_rate = BITRATE
        stream.options = {"vbr": "constrained"}  # hold the average: the 10 MB budget
        stream.metadata["title"] = title
        pts = 0
        for start in range(0, len(audio), 960 * 50):
            block = np.ascontiguousarray(audio[start : start + 960 * 50]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="stereo")
            frame.sample_rate = RATE
            frame.pts = pts
            pts += block.shape[1] // 2
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "music"
    )
    parser.add_argument("--check", action="store_true", help="render 20 s of each and print levels")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U"]
    for spec in TRACKS:
        seconds = 20.0 if args.check else spec.minutes * 60
        audio = render(spec, seconds)
        rms = 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)
        peak = 20 * np.log10(np.max(np.abs(audio)) + 1e-12)
        if args.check:
            print(f"{spec.file}: rms {rms:.1f} dBFS, peak {peak:.1f} dBFS")
            continue
        path = args.out / spec.file
        encode(audio, path, spec.title)
        print(
            f"{spec.file}: {seconds / 60:.1f} min, rms {rms:.1f} dBFS, {path.stat().st_size / 1e6:.2f} MB"
        )
        lines += [f"#EXTINF:{int(seconds)},{spec.title}", spec.file]
    if not args.check:
        (args.out / "playlist.m3u").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
