"""A simulated room between the app's speaker and its microphone, driving the app's own code.

The audio engine renders the final mix (``AudioEngine.render``, what its PortAudio callback
runs, with the echo canceller as output tap) and the microphone track takes blocks
(``MicrophoneTrack.captured``, what its PortAudio callback runs), both with random block
sizes, interleaved on one simulated sample clock, faster than real time. Between them:
the played mix through a decaying impulse response after an echo delay, plus the near
talker and room noise. Speech is made here with espeak-ng.

Used by ``benchmarks/echo.py`` and the echo tests.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from companion.audio import AudioEngine, EngineOptions, bundled_playlist
from companion.audio.device import OutputTap
from companion.audio.processing import FRAME, ProcessingSettings, VoiceProcessing
from companion.audio.resample import Resampler
from companion.call.devices import MicrophoneTrack

RATE = 48_000

FAR_TEXT = (
    "Take a slow breath in, and let it go. You are safe here, and I am with you. "
    "Notice the weight of your body on the bed. There is nothing you need to do right now. "
    "If anything feels too strong, press the button, and I will be right here. "
)
NEAR_TEXT = (
    "I can hear the music, and the colours are moving slowly. My hands feel very heavy. "
    "It is a little strange, but I think I am all right. Could you stay with me a while. "
)


def speech(text: str, voice: str, seconds: float, dbfs: float = -20.0) -> np.ndarray:
    """``text`` spoken by espeak-ng, repeated to ``seconds``, mono float32 at 48 kHz, its
    active speech at ``dbfs`` RMS."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is missing (script/bootstrap installs it)")
    wav = subprocess.run(
        [espeak, "-v", voice, "-s", "150", "--stdout", text],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    voice_pcm = Resampler(rate, RATE).process(pcm.astype(np.float32) / 32768.0)
    n = int(seconds * RATE)
    out = np.tile(voice_pcm, n // len(voice_pcm) + 1)[:n]
    active = out[np.abs(out) > 1e-3]
    rms = float(np.sqrt(np.mean(active**2))) if active.size else 1.0
    return (out * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def impulse_response(rt60_s: float, seed: int, length_s: float = 0.3) -> np.ndarray:
    """A direct path (1.0) and an exponentially decaying diffuse tail (60 dB in rt60_s)."""
    rng = np.random.default_rng(seed)
    n = int(length_s * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * 0.08 * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.002 * RATE)] = 0.0  # first reflections arrive a little after the direct path
    tail[0] = 1.0
    return tail


@dataclass
class Room:
    """Mutable while the simulation runs (events change it)."""

    delay_s: float
    gain: float
    ir: np.ndarray


@dataclass
class RoomConfig:
    seconds: float
    delay_s: float = 0.13
    """Speaker to microphone, on top of the device buffers below."""
    echo_gain: float = 0.5
    """Direct-path gain from the speaker into the microphone (0: headphones)."""
    rt60_s: float = 0.3
    noise_dbfs: float = -60.0
    noise: np.ndarray | None = None
    """Room noise other than the white floor (a fan), at the microphone."""
    far: np.ndarray | None = None
    """The far end's voice, pushed into the engine as the call's voice."""
    far_start_s: float = 0.0
    music: bool = False
    near: np.ndarray | None = None
    """The near talker at the microphone."""
    reverse: str = "mix"
    """"mix": the engine's output tap feeds the canceller; "none": nothing played reaches
    it (the control run, which must fail)."""
    jump_at_s: float | None = None
    jump_s: float = 0.2
    announce_jump: bool = True
    """The jump is an output underrun PortAudio reports (False: an unreported shift)."""
    out_latency_s: float = 0.1
    in_latency_s: float = 0.01
    settings: ProcessingSettings = field(default_factory=ProcessingSettings)
    seed: int = 1
    realtime: bool = False
    """Paced to the wall clock with the processing on its own thread, as in the app
    (``events`` are not supported then)."""
    events: Sequence[tuple[float, Callable[[RoomRun], None]]] = ()
    """``(time, action)``: device switches, a new microphone… mid-run."""


@dataclass
class RoomResult:
    mic: np.ndarray
    """What the microphone captured (int16 scale, float64)."""
    echo: np.ndarray
    """The echo part of ``mic`` alone."""
    out: np.ndarray
    """What the call would send (int16 scale), aligned with ``mic``."""
    processing: VoiceProcessing
    cpu_s: float
    """Thread CPU time of the capture path: the microphone callback (copy, wake-up), the
    output tap (copy of the mix), and the processing: in real time the worker thread's
    whole life (its sleeps, wake-ups and passes), driven the passes. The engine's mix is
    not counted: it plays with or without a call."""


class RoomRun:
    """The running simulation, as events see it."""

    def __init__(self, config: RoomConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.room = Room(
            config.delay_s, config.echo_gain, impulse_response(config.rt60_s, config.seed)
        )
        self.processing = VoiceProcessing(config.settings)
        self.processing.set_output_latency(config.out_latency_s)
        self.engine = AudioEngine(EngineOptions(fade_in_s=0.01))
        self.track = self.new_microphone()

    def new_microphone(self) -> MicrophoneTrack:
        track = MicrophoneTrack(loop=self.loop, processing=self.processing, stream=False)
        self.processing.set_input_latency(self.config.in_latency_s)
        self.track_base = self.processing.blocks_out
        """Blocks the processing had sent before this microphone."""
        return track

    def switch_output(self, latency_s: float) -> None:
        """What the engine does on a device switch: the taps hear of the new device."""
        for tap in self.engine.output_taps:
            tap.set_output_latency(latency_s)
            tap.discontinuity()


class _TimedTap:
    """The output tap as the engine calls it, its thread CPU time counted."""

    def __init__(self, tap: OutputTap) -> None:
        self._tap = tap
        self.cpu_s = 0.0

    def played(self, block: np.ndarray) -> None:
        t0 = time.thread_time()
        self._tap.played(block)
        self.cpu_s += time.thread_time() - t0

    def discontinuity(self) -> None:
        self._tap.discontinuity()

    def set_output_latency(self, seconds: float) -> None:
        self._tap.set_output_latency(seconds)


class _SilentTap:
    """The control run's tap: the echo canceller is told nothing was played."""

    def __init__(self, processing: VoiceProcessing) -> None:
        self._processing = processing
        self._zeros = np.zeros((4096, 2), dtype=np.float32)

    def played(self, block: np.ndarray) -> None:
        self._processing.played(self._zeros[: len(block)])

    def discontinuity(self) -> None:
        self._processing.discontinuity()

    def set_output_latency(self, seconds: float) -> None:
        self._processing.set_output_latency(seconds)


async def run_room(config: RoomConfig) -> RoomResult:
    run = RoomRun(config, asyncio.get_running_loop())
    engine, processing = run.engine, run.processing
    rng = np.random.default_rng(config.seed)
    total = int(config.seconds * RATE)
    if config.music:
        engine.load_playlist(bundled_playlist())
    tap = _TimedTap(processing if config.reverse == "mix" else _SilentTap(processing))
    engine.add_output_tap(tap)
    await asyncio.to_thread(engine.start, play=config.music, driven=True)
    voice = engine.add_voice() if config.far is not None else None
    if config.realtime:
        assert not config.events, "events need the driven mode"
        processing.start()
    started = time.monotonic()

    out_lat = int(config.out_latency_s * RATE)
    ir_len = len(run.room.ir)
    played = np.zeros(total + 4 * RATE + ir_len)
    played_offset = ir_len + RATE  # played[i + offset] is the speaker at sample time i
    mic = np.zeros(total)
    echo = np.zeros(total)
    noise = rng.standard_normal(total) * 32768.0 * 10 ** (config.noise_dbfs / 20)
    if config.noise is not None:
        noise += config.noise[:total] * 32768.0
    near = np.zeros(total)
    if config.near is not None:
        near[: len(config.near)] = config.near[:total] * 32768.0
    far_pos = 0
    far_start = int(config.far_start_s * RATE)
    rendered = 0
    shift = 0
    jumped = config.jump_at_s is None
    jump_at = int((config.jump_at_s or 0.0) * RATE)
    events = sorted(config.events, key=lambda e: e[0])
    outputs: list[tuple[int, np.ndarray]] = []
    received_base = (0, run.track)
    got_blocks = 0
    block_buf = np.zeros((2048, 2), dtype=np.float32)
    cpu = 0.0
    pos = 0
    while pos < total:
        b = int(rng.integers(64, 2049))
        now = min(total, pos + b)
        while events and events[0][0] * RATE <= pos:
            _, action = events.pop(0)
            track_before = run.track
            action(run)
            if run.track is not track_before:
                track_before.stop()
                received_base = (pos, run.track)
                got_blocks = 0
        # The output device asks for a block whenever its buffer falls to its latency.
        while rendered + shift - out_lat <= now:
            ob = int(rng.integers(64, 2049))
            underflow = False
            if not jumped and rendered + shift >= jump_at:
                jumped = True
                shift += int(config.jump_s * RATE)
                underflow = config.announce_jump
            if voice is not None and config.far is not None:
                # Network packets (20 ms) arrive a little ahead of the device's need.
                due = rendered + ob + 2 * 960 - far_start
                while far_pos < due and far_pos < len(config.far):
                    if far_pos + far_start >= 0:
                        voice.push(config.far[far_pos : far_pos + 960], RATE)
                    far_pos += 960
            if config.music:
                deadline = time.monotonic() + 2.0
                while engine.mixer.music_ring.available < ob and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
            block = block_buf[:ob]
            engine.render(block, underflow)
            start = rendered + shift + played_offset
            if start + ob <= len(played):
                played[start : start + ob] = block.mean(axis=1) * 32767.0
            rendered += ob
        # The microphone's block [pos, now): the room's echo plus the near talker and noise.
        d = int(run.room.delay_s * RATE)
        lo, hi = pos - d - ir_len + 1 + played_offset, now - d + played_offset
        seg = played[lo:hi]
        conv = _fftconv(seg, run.room.ir)[ir_len - 1 : ir_len - 1 + (now - pos)]
        echo[pos:now] = conv * run.room.gain
        mic[pos:now] = echo[pos:now] + near[pos:now] + noise[pos:now]
        pcm = np.clip(np.round(mic[pos:now]), -32768, 32767).astype(np.int16)
        if config.realtime:  # the block is complete at ``now``, on the wall clock too
            await asyncio.sleep(max(0.0, started + now / RATE - time.monotonic()))
        t0 = time.thread_time()
        run.track.captured(pcm)
        if not config.realtime:
            processing.process_pending()
        cpu += time.thread_time() - t0
        await asyncio.sleep(0)
        base, track = received_base
        # Every block the processing has handed over is on its way to this loop.
        while got_blocks < processing.blocks_out - run.track_base:
            try:
                frame = await asyncio.wait_for(track.recv(), 5.0)
            except TimeoutError:  # not a hang: the track drops a backlog it was not read
                raise RuntimeError("blocks dropped: the machine stalled this loop") from None
            outputs.append((base + got_blocks * 2 * FRAME, frame.to_ndarray().reshape(-1)))
            got_blocks += 1
        pos = now
    run.track.stop()
    processing.close()
    cpu += processing.worker_cpu_s + tap.cpu_s
    engine.remove_output_tap(tap)
    engine.close()
    out = np.zeros(total)
    for start, pcm_out in outputs:
        n = min(len(pcm_out), total - start)
        if n > 0:
            out[start : start + n] = pcm_out[:n]
    return RoomResult(mic, echo, out, processing, cpu)


def _fftconv(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


# -- measurements -----------------------------------------------------------------------


def frame_power(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    n = len(x) // frame
    power: np.ndarray = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    return power


def erle_db(result: RoomResult, start_s: float, end_s: float, floor_dbfs: float = -50.0) -> float:
    """Echo return loss enhancement over the frames of [start, end) where the echo is
    heard (above ``floor_dbfs``): microphone power over sent power."""
    pm, po, pe = frame_power(result.mic), frame_power(result.out), frame_power(result.echo)
    a, b = int(start_s * 100), int(end_s * 100)
    active = np.zeros(len(pm), dtype=bool)
    active[a:b] = pe[a:b] > (32768.0 * 10 ** (floor_dbfs / 20)) ** 2
    if not active.any():
        return float("nan")  # no echo to cancel in this stretch
    return float(10 * np.log10(np.sum(pm[active]) / max(np.sum(po[active]), 1e-9)))


def echo_onset_s(result: RoomResult, floor_dbfs: float = -50.0) -> float:
    """When the echo is first heard at the microphone."""
    pe = frame_power(result.echo)
    loud = np.flatnonzero(pe > (32768.0 * 10 ** (floor_dbfs / 20)) ** 2)
    return float(loud[0]) / 100 if loud.size else 0.0


def reconverge_s(result: RoomResult, after_s: float, target_db: float = 20.0) -> float:
    """Seconds from ``after_s`` until the echo is cancelled by ``target_db`` again and stays
    so (ERLE over sliding 0.5 s windows of echo)."""
    end = len(result.mic) / RATE
    step = 0.1
    t = after_s
    last_bad = after_s
    while t + 0.5 <= end:
        if erle_db(result, t, t + 0.5) < target_db:  # NaN (no echo) compares False
            last_bad = t + 0.5
        t += step
    return last_bad - after_s


def spectral_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two signals' magnitude spectra (the whole stretch at once).
    Phase-blind: the high-pass filter shifts phase, so waveform correlation would mislead."""
    sa, sb = np.abs(np.fft.rfft(a)), np.abs(np.fft.rfft(b))
    return float(np.dot(sa, sb) / max(np.linalg.norm(sa) * np.linalg.norm(sb), 1e-12))


def spectrogram_similarity(a: np.ndarray, b: np.ndarray, n_fft: int = 1024) -> float:
    """The same over 21 ms frames: stricter, it also sees when each sound happens."""
    hop = n_fft // 2
    n = (min(len(a), len(b)) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    window = np.hanning(n_fft)
    sa = np.abs(np.fft.rfft(a[idx] * window, axis=1)).ravel()
    sb = np.abs(np.fft.rfft(b[idx] * window, axis=1)).ravel()
    return float(np.dot(sa, sb) / max(np.linalg.norm(sa) * np.linalg.norm(sb), 1e-12))
