"""One side of a call in its own process (and network namespace), reporting JSON lines.

python -m tests.call.peer_process therapist URL --name dr --secret S --seconds 20
python -m tests.call.peer_process patient URL --invite TOKEN --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import numpy as np

from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.monitor.watch import LinkWatch
from companion.signaling.client import SignalingClient
from tests.call.conftest import PATIENT_HUE, THERAPIST_HUE, CollectingVoice


def report(**fields: object) -> None:
    print(json.dumps({"t": round(time.monotonic(), 3), **fields}), flush=True)


async def main(args: argparse.Namespace) -> int:
    signaling = SignalingClient(args.url)
    await signaling.connect()
    if args.role == "therapist":
        await signaling.login(args.name, args.secret)
        created = await signaling.create_session()
        report(event="invite", token=created.invites[0].token)
        await signaling.join(session_id=created.session.session_id)
        hue, freq = THERAPIST_HUE, 660.0
    else:
        await signaling.join(invite=args.invite)
        hue, freq = PATIENT_HUE, 440.0
    voice = CollectingVoice()
    pattern = (
        TestPatternTrack(640, 480, 30, hue=hue, sensor_noise=True)
        if args.camera_like
        else TestPatternTrack(320, 240, 15, hue=hue)
    )
    media = LocalMedia(ToneTrack(freq), pattern, "synthetic")
    engine = CallEngine(signaling, args.role, media, voice)
    engine.state_changed.connect(lambda s: report(event="call_state", state=s))
    frames: list[np.ndarray] = []
    engine.video.frame_ready.connect(frames.append)
    await engine.start()
    watch = LinkWatch(engine, signaling)
    watch.state_changed.connect(lambda s: report(event="link", state=s))
    signaling.state_changed.connect(lambda s: report(event="signaling", state=s))
    await watch.start()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        heard = voice.take()
        if len(heard) >= 4800:
            window = heard[-24_000:]
            spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
            hz = float(np.fft.rfftfreq(len(window), 1 / 48_000)[int(np.argmax(spectrum))])
            # Continuity: share of 10 ms blocks where the tone is there at (nearly) full level.
            blocks = heard[: len(heard) // 480 * 480].reshape(-1, 480)
            present = float(np.mean(np.sqrt(np.mean(blocks**2, axis=1)) > 0.05))
            report(event="audio", hz=round(hz, 1), continuity=round(present, 3), samples=len(heard))
        if frames:
            mean = frames[-1].reshape(-1, 3).mean(axis=0)
            report(event="video", frames=len(frames), rgb=[round(float(c), 1) for c in mean])
        if engine.quality is not None:
            q = engine.quality
            report(event="quality", rtt=q.rtt_ms, a_loss=q.audio_loss_pct, v_loss=q.video_loss_pct,
                   v_out=round(q.video_kbps_out), fps=round(q.video_fps_in, 1),
                   a_loss_out=q.audio_loss_out_pct, video_sending=q.video_sending)  # fmt: skip
            frames.clear()
    await watch.close()
    await engine.close()
    media.stop()
    await signaling.close()
    return 0


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["patient", "therapist"])
    parser.add_argument("url")
    parser.add_argument("--name", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--invite", default="")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--camera-like", action="store_true", help="640x480 at 30 fps with grain")
    sys.exit(asyncio.run(main(parser.parse_args())))
