"""One app (patient, therapist or support) in its own process and network namespace,
with its real call, home link and guardian, reporting what it sees as JSON lines.

    python -m tests.call.peer_process therapist URL --name dr --secret S --seconds 20
    python -m tests.call.peer_process patient URL --invite TOKEN --seconds 20
    python -m tests.call.peer_process support URL --invite TOKEN --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from companion.call.engine import CallEngine
from companion.call.homelink import HomeLink
from companion.call.media import LocalMedia
from companion.call.peer import PeerLink
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.monitor.guardian import Guardian
from companion.protocol.messages import CheckIn
from companion.records import RecordStore
from companion.signaling.client import SignalingClient
from tests.call.conftest import PATIENT_HUE, THERAPIST_HUE, CollectingVoice
from tests.call.listening import StallWatch


def report(**fields: object) -> None:
    print(json.dumps({"t": round(time.monotonic(), 3), **fields}), flush=True)


async def main(args: argparse.Namespace) -> int:
    signaling = SignalingClient(args.url)
    await signaling.connect()
    if args.role == "therapist":
        await signaling.login(args.name, args.secret)
        created = await signaling.create_session()
        invites = {i.role: i.token for i in created.invites}
        report(event="invite", token=invites["patient"], support=invites["support"])
        await signaling.join(session_id=created.session.session_id)
    else:
        await signaling.join(invite=args.invite)
    voice = CollectingVoice()
    engine: CallEngine | None = None
    if args.role in ("patient", "therapist"):
        hue, freq = (THERAPIST_HUE, 660.0) if args.role == "therapist" else (PATIENT_HUE, 440.0)
        pattern = (
            TestPatternTrack(640, 480, 30, hue=hue, sensor_noise=True)
            if args.camera_like
            else TestPatternTrack(320, 240, 15, hue=hue)
        )
        tone = ToneTrack(freq, clock_ppm=args.clock_ppm)
        engine = CallEngine(signaling, args.role, LocalMedia(tone, pattern), voice)
        engine.state_changed.connect(lambda s: report(event="call_state", state=s))
    home = HomeLink(signaling, args.role) if args.role in ("patient", "support") else None
    links: list[PeerLink] = [link for link in (engine, home) if link is not None]
    records = RecordStore.open(Path(args.records)) if args.records else None
    guardian = Guardian(args.role, signaling, engine, home, records)
    guardian.alert_shown.connect(
        lambda a: report(event="alert", reason=a.reason, alert_id=a.alert_id)
    )
    guardian.alert_cleared.connect(
        lambda alert_id, how: report(event="cleared", alert_id=alert_id, how=how)
    )
    guardian.sound.connect(lambda kind: report(event="sound", kind=kind))
    guardian.patient_line.connect(lambda text: report(event="line", text=text))
    guardian.event_received.connect(
        lambda eid, ev, role: report(
            event="timeline", kind=ev.kind, id=eid, src=role, what=getattr(ev, "what", None)
        )
    )
    if guardian.call_watch is not None:
        guardian.call_watch.state_changed.connect(lambda s: report(event="link", state=s))
    if guardian.home_watch is not None:
        guardian.home_watch.state_changed.connect(lambda s: report(event="home", state=s))
    signaling.state_changed.connect(lambda s: report(event="signaling", state=s))
    frames: list[np.ndarray] = []
    if engine is not None:
        engine.video.frame_ready.connect(frames.append)
    for link in links:
        await link.start()
    await guardian.start()
    commands = asyncio.create_task(_commands(guardian)) if args.commands else None
    deadline = time.monotonic() + args.seconds
    packets_before = 0
    kept: list[np.ndarray] = []  # everything heard, for --audio-out
    heard_total = 0
    stalls = StallWatch().__enter__()
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        heard = voice.take()
        heard_total += len(heard)
        if args.audio_out:
            kept.append(heard)
        if len(heard) >= 4800:
            window = heard[-24_000:]
            spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
            hz = float(np.fft.rfftfreq(len(window), 1 / 48_000)[int(np.argmax(spectrum))])
            # Continuity: share of 10 ms blocks where the tone is there at (nearly) full level.
            blocks = heard[: len(heard) // 480 * 480].reshape(-1, 480)
            present = float(np.mean(np.sqrt(np.mean(blocks**2, axis=1)) > 0.05))
            # Voice packets that came in that second (50 when the sender keeps pace).
            received = engine.voice_stats.packets_received if engine and engine.voice_stats else 0
            delay = engine.voice_delay_ms if engine else None
            report(
                event="audio",
                hz=round(hz, 1),
                continuity=round(present, 3),
                samples=len(heard),
                packets=received - packets_before,
                heard=heard_total,
                delay=None if delay is None else round(delay, 1),
            )
            packets_before = received
        if frames:
            mean = frames[-1].reshape(-1, 3).mean(axis=0)
            report(event="video", frames=len(frames), rgb=[round(float(c), 1) for c in mean])
            frames.clear()
        if engine is not None and engine.quality is not None:
            q = engine.quality
            report(
                event="quality",
                rtt=q.rtt_ms,
                a_loss=q.audio_loss_pct,
                v_loss=q.video_loss_pct,
                v_out=round(q.video_kbps_out),
                fps=round(q.video_fps_in, 1),
                a_loss_out=q.audio_loss_out_pct,
                video_sending=q.video_sending,
                a_delay=round(q.jitter_buffer_delay_ms, 1),
                a_target=round(q.target_delay_ms, 1),
                concealed=round(q.concealed_pct, 1),
                fec=round(q.fec_pct, 1),
            )
    stalls.__exit__()
    if args.audio_out:
        np.save(args.audio_out, np.concatenate(kept) if kept else np.zeros(0, np.float32))
    stats = engine.voice_stats if engine else None
    report(
        event="done",
        stall_ms=round(1000 * stalls.worst_s, 1),
        late=stats.packets_late if stats else 0,
        accelerate=stats.accelerate_count if stats else 0,
    )
    if commands is not None:
        commands.cancel()
    await guardian.close()
    for link in links:
        await link.close()
    if engine is not None:
        await engine.media.aclose()
    await signaling.close()
    if records is not None:
        records.close()
    return 0


async def _commands(guardian: Guardian) -> None:
    """Lines on stdin drive the app's person: help, ack ID, checkin, request."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "help":
            await guardian.help_held()
        elif line[0] == "ack":
            await guardian.acknowledge(line[1])
        elif line[0] == "checkin":
            report(
                event="sent",
                kind="checkin",
                id=await guardian.publish(CheckIn(kind="checkin", source="key")),
            )
        elif line[0] == "request":
            await guardian.request_checkin()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["patient", "therapist", "support"])
    parser.add_argument("url")
    parser.add_argument("--name", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--invite", default="")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--records", default="", help="folder for this app's local record")
    parser.add_argument("--commands", action="store_true", help="read actions from stdin")
    parser.add_argument("--camera-like", action="store_true", help="640x480 at 30 fps with grain")
    parser.add_argument(
        "--clock-ppm", type=float, default=0.0, help="this microphone's clock error"
    )
    parser.add_argument("--audio-out", default="", help="save all voice heard here (.npy)")
    sys.exit(asyncio.run(main(parser.parse_args())))
