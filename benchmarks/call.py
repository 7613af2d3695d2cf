"""Call benchmark: setup time, mouth-to-ear latency, CPU per side, memory growth.

    .venv/bin/python benchmarks/call.py            # ~2 minutes
    .venv/bin/python benchmarks/call.py --soak     # adds a 10-minute call for rss_growth_mb

* setup_p95_s: the patient's app accepts the invite (sends ``join``) -> first remote video
  frame decoded on *both* sides; >= 20 calls on loopback through the real signaling server.
* mouth_to_ear_p95_ms: device to device, the sender in a process of its own (as the
  apps run). A click injected at the sender's microphone
  input -> written by the receiver audio engine's PortAudio callback, plus the capture
  latency PortAudio reports for a microphone stream opened as ``MicrophoneTrack`` opens
  it and the output latency it reports for the engine's stream (a file device cannot
  show either: they are added). Parts (medians over the clicks): ``capture_ms``,
  ``encode_ms`` (one 20 ms Opus frame, timed apart), ``transport_ms`` (click -> packet
  arrival: the frame hand-over, encoding, SRTP, the network, the receiver's loop),
  ``jitter_buffer_ms`` (the playout's delay, arrival -> device read, decoding included, as
  each click is heard), ``decode_ms`` (timed apart), ``mix_ms`` (callback time),
  ``output_ms``; ``slowest_*`` are those parts for the clicks at or above the 90th
  percentile (what the p95 is made of).
  ``--ear push`` times the hand-over to a voice output instead (no device, no parts).
* cpu_core_pct_per_side: each side in its own process, 640x480 at 30 fps VP8 + Opus both
  ways, CPU time / wall time in % of one core (the busier side is reported).
* rss_growth_mb: RSS of each side after warm-up vs at the end of the call (max of the two).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from companion.audio import AudioEngine, VoiceSource
from companion.audio.device import PORTAUDIO_LOCK, DeviceOptions
from companion.audio.engine import EngineOptions
from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.protocol.messages import Role
from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import SignalingClient

ROOT = Path(__file__).resolve().parent.parent


class ClickEar:
    """A voice output that timestamps the first sample of each click it is handed."""

    def __init__(self) -> None:
        self.heard_at: list[float] = []
        self._armed = True

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        now = time.perf_counter()
        peak_index = int(np.argmax(np.abs(pcm)))
        if abs(float(pcm[peak_index])) > 0.5:
            if self._armed:
                self.heard_at.append(now)
                self._armed = False
        else:
            self._armed = True


class DeviceClickProbe:
    """The same, at the output device: sees each block the audio engine's PortAudio
    callback writes and timestamps the click's sample within it."""

    def __init__(self, sample_rate: int = 48_000) -> None:
        self.heard_at: list[float] = []
        self._armed = True
        self._rate = sample_rate
        self._scratch = np.zeros(8192, dtype=np.float32)  # no allocation in the callback

    def __call__(self, block: np.ndarray, callback_start: float) -> None:
        scratch = self._scratch[: len(block)]
        np.abs(block[:, 0], out=scratch)
        index = int(scratch.argmax())
        if scratch[index] > 0.4:
            if self._armed:
                self.heard_at.append(callback_start + index / self._rate)
                self._armed = False
        else:
            self._armed = True


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


async def _side(
    url: str, role: str, hue: tuple[int, int], size: tuple[int, int, int], voice: Any = None
) -> tuple[SignalingClient, CallEngine, ToneTrack]:
    signaling = SignalingClient(url)
    await signaling.connect()
    tone = ToneTrack(440.0 if role == "patient" else 660.0)
    engine = CallEngine(signaling, role, LocalMedia(tone, TestPatternTrack(*size, hue=hue)), voice)  # type: ignore[arg-type]
    return signaling, engine, tone


def capture_latency_s() -> float:
    """What PortAudio reports for a microphone stream opened the way ``MicrophoneTrack``
    opens it (20 ms blocks, ``latency="low"``) on the default input."""
    import sounddevice as sd

    from companion.call.synthetic import AUDIO_RATE, AUDIO_SAMPLES

    with PORTAUDIO_LOCK:
        stream = sd.RawInputStream(
            samplerate=AUDIO_RATE, blocksize=AUDIO_SAMPLES, channels=1, dtype="int16", latency="low"
        )
        latency = float(stream.latency)
        stream.close()
    return latency


async def measure_setup_and_latency(
    calls: int, clicks: int, ear_at: str, output_latency_s: float | None = None
) -> dict[str, Any]:
    setups: list[float] = []
    latencies: list[float] = []
    audio: AudioEngine | None = None
    probe = DeviceClickProbe()
    parts: dict[str, Any] = {}
    lost: list[int] = []
    if ear_at == "device":
        # The therapist's real audio engine on a real PortAudio stream (ALSA file device).
        device = DeviceOptions()
        if output_latency_s is not None:
            device = replace(device, latency_s=output_latency_s)
        audio = AudioEngine(EngineOptions(device=device))
        audio.output_probe = probe
        audio.device_lost.connect(lambda _: lost.append(1))
        audio.start(play=False)
    with tempfile.TemporaryDirectory() as tmp:
        async with SignalingServer(ServerConfig(data_dir=Path(tmp), port=0)) as server:
            _, secret = server.db.add_therapist("bench")
            latencies, parts = await _clicks(server.ws_url, secret, clicks, audio, probe)
            parts["device_lost"] = len(lost)
            for _ in range(calls):
                t_sig, t_engine, _ = await _side(
                    server.ws_url, "therapist", (170, 110), (640, 480, 30), ClickEar()
                )
                await t_sig.login("bench", secret)
                created = await t_sig.create_session()
                await t_sig.join(session_id=created.session.session_id)
                await t_engine.start()
                p_sig, p_engine, _ = await _side(
                    server.ws_url, "patient", (90, 170), (640, 480, 30)
                )
                await p_sig.connect() if p_sig.state != "online" else None
                started = time.perf_counter()
                await p_sig.join(invite=created.invites[0].token)
                await p_engine.start()
                async with asyncio.timeout(20):
                    while (
                        p_engine.video.frames_received == 0 or t_engine.video.frames_received == 0
                    ):
                        await asyncio.sleep(0.005)
                setups.append(time.perf_counter() - started)
                for engine, sig in ((p_engine, p_sig), (t_engine, t_sig)):
                    await engine.close()
                    await engine.media.aclose()
                    await sig.close()
    if audio is not None:
        audio.close()
        written = latencies
        print("click -> device write, ms:", sorted(round(ms, 1) for ms in written), file=sys.stderr)
        extra = parts["capture_ms"] + parts["output_ms"]
        latencies = [ms + extra for ms in written]
        parts["device_write_p95_ms"] = round(p95(written), 1)
    return {
        **parts,
        "ear": ear_at,
        "setup_p95_s": round(p95(setups), 3),
        "setup_median_s": round(statistics.median(setups), 3),
        "calls": len(setups),
        "mouth_to_ear_p95_ms": round(p95(latencies), 1),
        "mouth_to_ear_median_ms": round(statistics.median(latencies), 1)
        if latencies
        else float("nan"),
        "clicks": len(latencies),
    }


async def _clicks(
    url: str, secret: str, clicks: int, audio: AudioEngine | None, probe: DeviceClickProbe
) -> tuple[list[float], dict[str, Any]]:
    """Mouth to ear: the therapist here (its audio engine, or a ``ClickEar``), the patient
    in a process of its own, as each app runs, with 640x480/30 video both ways. Both
    processes' ``perf_counter`` is the system's monotonic clock, so their times compare."""
    ear = ClickEar()
    voice = audio.add_voice() if audio is not None else ear
    heard = probe.heard_at if audio is not None else ear.heard_at
    t_sig, t_engine, _ = await _side(url, "therapist", (170, 110), (640, 480, 30), voice)
    await t_sig.login("bench", secret)
    created = await t_sig.create_session()
    await t_sig.join(session_id=created.session.session_id)
    await t_engine.start()
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--click-sender",
        url,
        created.invites[0].token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert sender.stdin is not None and sender.stdout is not None
    latencies: list[float] = []
    buffers: list[float] = []
    """The playout's delay as each click is heard: that of the packets around it."""
    missed = 0
    try:
        async with asyncio.timeout(30):
            while t_engine.video.frames_received == 0 or t_engine.voice_stats is None:
                await asyncio.sleep(0.01)
        await asyncio.sleep(2.0)  # let the jitter buffer settle
        for _ in range(clicks):
            sender.stdin.write(b"click\n")
            sent = json.loads(await sender.stdout.readline())["sent"]
            # The first time heard after it was sent (a time-stretch may repeat a click).
            try:
                async with asyncio.timeout(5):
                    while not any(h > sent for h in heard):
                        await asyncio.sleep(0.001)
            except TimeoutError:
                # Its packet came too late and was concealed (a loaded machine): counted.
                missed += 1
                continue
            latencies.append((next(h for h in heard if h > sent) - sent) * 1000)
            buffers.append(t_engine.voice_delay_ms or 0.0)
            heard.clear()
            await asyncio.sleep(0.3)
        parts = _device_parts(audio, t_engine, latencies, buffers) if audio is not None else {}
        parts["clicks_missed"] = missed
    finally:
        sender.stdin.close()
        await sender.wait()
        if isinstance(voice, VoiceSource) and audio is not None:
            audio.remove_voice(voice)
        await t_engine.close()
        await t_engine.media.aclose()
        await t_sig.close()
    return latencies, parts


async def click_sender(url: str, invite: str) -> None:
    """The patient's side of ``_clicks``: a click into its microphone per line on stdin,
    answered with the ``perf_counter`` of the frame that carried it."""
    signaling = SignalingClient(url)
    await signaling.connect()
    await signaling.join(invite=invite)
    tone = ToneTrack(440.0)
    media = LocalMedia(tone, TestPatternTrack(640, 480, 30, hue=(90, 170)))
    engine = CallEngine(signaling, "patient", media)
    await engine.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        before = tone.click_sent_at
        tone.inject_click()
        while tone.click_sent_at == before:
            await asyncio.sleep(0.001)
        print(json.dumps({"sent": tone.click_sent_at}), flush=True)
    await engine.close()
    await media.aclose()
    await signaling.close()


def _device_parts(
    audio: AudioEngine, engine: CallEngine, written_ms: list[float], buffer_ms: list[float]
) -> dict[str, Any]:
    """Where the time goes, device to device (all in ms): medians, and the same parts for
    the slowest clicks (those at or above the 90th percentile: what the p95 is made of)."""
    device = audio.device
    voice = engine.voice_stats
    capture = capture_latency_s() * 1000
    output = (device.latency_s if device else 0.0) * 1000
    encode, decode = _codec_ms()
    written, buffers = np.array(written_ms), np.array(buffer_ms)
    # click -> packet arrival: the sender's frame hand-over, encoding, SRTP, the network and
    # the receiver's loop (the playout measures each packet from its arrival).
    transport = written - buffers
    slow = written >= np.percentile(written, 90)
    callbacks = audio.callback_stats.durations()
    mix = float(np.median(callbacks)) * 1000 if len(callbacks) else 0.0
    return {
        "capture_ms": round(capture, 1),
        "encode_ms": round(encode, 2),
        "transport_ms": round(float(np.median(transport)), 1),
        "jitter_buffer_ms": round(float(np.median(buffers)), 1),
        "decode_ms": round(decode, 2),
        "mix_ms": round(mix, 2),
        "output_ms": round(output, 1),
        "slowest_transport_ms": round(float(np.mean(transport[slow])), 1),
        "slowest_jitter_buffer_ms": round(float(np.mean(buffers[slow])), 1),
        "jitter_buffer_mean_ms": round(voice.mean_delay_ms, 1) if voice else float("nan"),
        "output_block_frames": audio.options.device.block_frames,
        "concealed_pct": round(100 * voice.concealed_samples / max(1, voice.total_samples), 2)
        if voice
        else 0.0,
        "target_delay_ms": round(voice.target_delay_ms, 1) if voice else 0.0,
        "jitter_ms": round(voice.jitter_ms, 1) if voice else 0.0,
        "accelerate": voice.accelerate_count if voice else 0,
        "expand": voice.expand_count if voice else 0,
        "underruns": audio.underruns,
    }


def _codec_ms(frames: int = 200) -> tuple[float, float]:
    """Median time to encode and to decode one 20 ms frame of a tone with the call's Opus
    encoder and the playout's decoder (both are inside ``transport_ms`` and
    ``jitter_buffer_ms``; shown apart)."""
    import fractions

    import av

    from companion.call.opus import FecOpusEncoder, OpusDecoder
    from companion.call.synthetic import AUDIO_RATE, AUDIO_SAMPLES

    encoder, decoder = FecOpusEncoder(), OpusDecoder()
    t = np.arange(AUDIO_SAMPLES * frames) / AUDIO_RATE
    pcm = (0.1 * np.sin(2 * np.pi * 660 * t) * 32767).astype(np.int16)
    encode: list[float] = []
    decode: list[float] = []
    for index in range(frames):
        frame = av.AudioFrame.from_ndarray(
            pcm[index * AUDIO_SAMPLES : (index + 1) * AUDIO_SAMPLES].reshape(1, -1),
            format="s16",
            layout="mono",
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        started = time.perf_counter()
        payloads, _ = encoder.encode(frame)
        encode.append(time.perf_counter() - started)
        for payload in payloads:
            started = time.perf_counter()
            decoder.decode(payload)
            decode.append(time.perf_counter() - started)
    decoder.close()
    return 1000 * statistics.median(encode), 1000 * statistics.median(decode)


# -- CPU and memory: each side in its own process -------------------------------------------


async def run_side(role: str, url: str, token: str, seconds: float, warmup: float) -> None:
    import psutil

    process = psutil.Process()
    signaling = SignalingClient(url)
    await signaling.connect()
    hue = (90, 170) if role == "patient" else (170, 110)
    if role == "therapist":
        name, secret = token.split(":", 1)
        await signaling.login(name, secret)
        created = await signaling.create_session()
        print(json.dumps({"invite": created.invites[0].token}), flush=True)
        await signaling.join(session_id=created.session.session_id)
    else:
        await signaling.join(invite=token)
    side: Role = "therapist" if role == "therapist" else "patient"
    engine = CallEngine(
        signaling, side, LocalMedia(ToneTrack(), TestPatternTrack(640, 480, 30, hue=hue))
    )
    await engine.start()
    await asyncio.sleep(warmup)
    cpu0, wall0, rss0 = process.cpu_times(), time.monotonic(), process.memory_info().rss
    frames0 = engine.video.frames_received
    await asyncio.sleep(seconds)
    cpu1, wall1, rss1 = process.cpu_times(), time.monotonic(), process.memory_info().rss
    busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    print(
        json.dumps(
            {
                "role": role,
                "cpu_core_pct": round(100 * busy / (wall1 - wall0), 1),
                "rss_growth_mb": round((rss1 - rss0) / 2**20, 1),
                "rss_mb": round(rss1 / 2**20, 1),
                "fps_in": round((engine.video.frames_received - frames0) / (wall1 - wall0), 1),
            }
        ),
        flush=True,
    )
    await engine.close()
    await engine.media.aclose()
    await signaling.close()


def measure_cpu(seconds: float, warmup: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "companion",
                "server",
                "add-therapist",
                "bench",
                "--data-dir",
                str(data),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        secret = added.stdout.strip().split()[-1]
        server = subprocess.Popen(
            [sys.executable, "-m", "companion", "server", "--port", "0", "--data-dir", str(data)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split(" on ")[1].split()[0]
            me = [sys.executable, __file__, "--side"]
            timing = ["--seconds", str(seconds), "--warmup", str(warmup)]
            therapist = subprocess.Popen(
                [*me, "therapist", url, f"bench:{secret}", *timing],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert therapist.stdout is not None
            invite = json.loads(therapist.stdout.readline())["invite"]
            patient = subprocess.Popen(
                [*me, "patient", url, invite, *timing], stdout=subprocess.PIPE, text=True
            )
            results = []
            for proc in (patient, therapist):
                out, _ = proc.communicate(timeout=seconds + warmup + 60)
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print("sides:", results, file=sys.stderr)
    return {
        "cpu_core_pct_per_side": max(r["cpu_core_pct"] for r in results),
        "rss_growth_mb": max(r["rss_growth_mb"] for r in results),
        "fps_in_min": min(r["fps_in"] for r in results),
        "cpu_seconds": seconds,
    }


def latency_in_device_home(args: argparse.Namespace) -> dict[str, Any]:
    """Re-run the setup/latency part where ALSA's default device is a file plugin drained at
    48 kHz by tests/audio/pacer.py (ALSA reads ~/.asoundrc when PortAudio starts)."""
    pacer = ROOT / "tests" / "audio" / "pacer.py"
    latency = [] if args.output_latency is None else ["--output-latency", str(args.output_latency)]
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / ".asoundrc").write_text(
            f'pcm.!default {{ type file; slave.pcm "null"; '
            f'file "|{sys.executable} {pacer} {48_000 * 8} /dev/null"; format "raw" }}\n'
        )
        env = {**os.environ, "HOME": home}
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--in-device-home",
                "--calls",
                str(args.calls),
                "--clicks",
                str(args.clicks),
                *latency,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if out.returncode != 0:
        raise SystemExit(f"the latency run failed:\n{out.stderr[-3000:]}")
    for line in out.stderr.splitlines():
        if line.startswith("click ->"):
            print(line, file=sys.stderr)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument(
        "--output-latency",
        type=float,
        default=None,
        help="output stream latency in s (default: the engine's DeviceOptions.latency_s)",
    )
    parser.add_argument("--cpu-seconds", type=float, default=60.0)
    parser.add_argument(
        "--cpu-warmup", type=float, default=20.0, help="seconds before CPU/RSS are measured"
    )
    parser.add_argument(
        "--soak", action="store_true", help="measure CPU and memory over a 10-minute call"
    )
    parser.add_argument(
        "--ear",
        choices=["device", "push"],
        default="device",
        help="where the click is heard: written to the output device, or handed to the engine",
    )
    parser.add_argument("--side", nargs=3, metavar=("ROLE", "URL", "TOKEN"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--in-device-home", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--click-sender", nargs=2, metavar=("URL", "INVITE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--warmup", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.click_sender:
        asyncio.run(click_sender(*args.click_sender))
        return
    if args.side:
        role, url, token = args.side
        asyncio.run(run_side(role, url, token, seconds=args.seconds, warmup=args.warmup))
        return
    result: dict[str, Any] = {}
    result.update(
        latency_in_device_home(args)
        if args.ear == "device" and not args.in_device_home
        else asyncio.run(
            measure_setup_and_latency(args.calls, args.clicks, args.ear, args.output_latency)
        )
    )
    if args.in_device_home:
        print(json.dumps(result))
        return
    result.update(measure_cpu(600.0 if args.soak else args.cpu_seconds, args.cpu_warmup))
    result["soak"] = args.soak
    print(
        f"setup p95 {result['setup_p95_s']} s, mouth-to-ear p95 {result['mouth_to_ear_p95_ms']} ms "
        f"(capture {result.get('capture_ms')}, encode {result.get('encode_ms')}, "
        f"transport {result.get('transport_ms')}, buffer {result.get('jitter_buffer_ms')}, "
        f"decode {result.get('decode_ms')}, mix {result.get('mix_ms')}, "
        f"output {result.get('output_ms')}), "
        f"CPU {result['cpu_core_pct_per_side']} % per side, RSS growth {result['rss_growth_mb']} MB"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
