"""``companion demo``: a whole (headless) session on this machine in about a minute.

What runs is real: an embedded signaling server on 127.0.0.1 and the cores of the three
apps — the patient's and the therapist's in a WebRTC call with a synthetic camera (a moving
test pattern) and microphone (a tone), the patient's and the support person's joined by the
home link, each with its never-alone guardian. The scripted steps are what people would
press. The windows and the music join the demo as they are built; until then it says so
instead of pretending.
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from companion.call.engine import CallEngine
from companion.call.homelink import HomeLink
from companion.call.media import LocalMedia
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.monitor.guardian import Guardian
from companion.monitor.ladder import Alert
from companion.protocol.messages import (
    EventBody,
    MusicCommand,
    PromptPush,
    Role,
)
from companion.records import RecordStore
from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import SignalingClient

# What a person would read for each timeline entry; never personal details.
_DESCRIBE: dict[str, str] = {
    "member.joined": "{role} joined",
    "member.lost": "{role}'s connection to the server dropped",
    "member.back": "{role} is back on the server",
    "member.left": "{role} left",
    "checkin": "patient checked in: I'm OK",
    "checkin.request": "therapist asked for a check-in",
    "prompt.push": "therapist showed a grounding prompt ({prompt_id})",
    "music.command": "therapist's music remote: {action}",
    "with_patient": "support person is with the patient",
    "help": "patient is holding 'I need help'",
    "alert.raised": "alert raised: {reason}",
    "alert.ack": "alert acknowledged",
    "alert.resolved": "alert resolved",
    "link.state": "link: {state}",
}


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[dict[str, object]] = field(default_factory=list)

    def add(self, who: str, what: str) -> None:
        at = time.monotonic() - self.started
        self.entries.append({"t": round(at, 3), "who": who, "what": what})
        print(f"  {int(at // 60):02d}:{at % 60:05.2f}  {who:<9} {what}", flush=True)

    def add_event(self, event: EventBody, from_role: Role | None) -> None:
        template = _DESCRIBE.get(event.kind, event.kind)
        self.add(from_role or "server", template.format(**event.model_dump()))


class Ear:
    """Keeps the last second of what a call delivers, to say what was heard."""

    def __init__(self) -> None:
        self.samples = np.zeros(0, dtype=np.float32)

    def push(self, pcm: np.ndarray, sample_rate: int) -> None:
        self.samples = np.concatenate([self.samples, pcm])[-sample_rate:]

    def pitch(self) -> float:
        if len(self.samples) < 4800:
            return 0.0
        spectrum = np.abs(np.fft.rfft(self.samples * np.hanning(len(self.samples))))
        return float(np.fft.rfftfreq(len(self.samples), 1 / 48_000)[int(np.argmax(spectrum))])


@dataclass
class DemoApp:
    role: Role
    signaling: SignalingClient
    guardian: Guardian | None = None
    call: CallEngine | None = None
    home: HomeLink | None = None
    ear: Ear = field(default_factory=Ear)
    records: RecordStore | None = None

    async def start(self, folder: Path, timeline: Timeline) -> None:
        if self.role in ("patient", "therapist"):
            hue, hz = ((90, 170), 440.0) if self.role == "patient" else ((170, 110), 660.0)
            media = LocalMedia(ToneTrack(hz), TestPatternTrack(320, 240, 15, hue=hue), "synthetic")
            self.call = CallEngine(self.signaling, self.role, media, self.ear)
        if self.role in ("patient", "support"):
            self.home = HomeLink(self.signaling, self.role)
        self.records = RecordStore.open(folder / self.role)
        self.guardian = Guardian(self.role, self.signaling, self.call, self.home, self.records)
        self._narrate(timeline)
        for link in (self.call, self.home):
            if link is not None:
                await link.start()
        await self.guardian.start()

    def _narrate(self, timeline: Timeline) -> None:
        assert self.guardian is not None
        who = self.role

        def alert(a: Alert) -> None:
            timeline.add(who, f"ALERT on screen: {a.reason.replace('_', ' ')}")

        self.guardian.alert_shown.connect(alert)
        self.guardian.alert_cleared.connect(lambda _id, how: timeline.add(who, f"alert {how}"))
        self.guardian.sound.connect(
            lambda kind: timeline.add(who, f"sound: {kind.replace('_', ' ')}")
        )
        self.guardian.patient_line.connect(
            lambda text: timeline.add(who, f'says, calmly: "{text}"')
        )
        for watch, name in (
            (self.guardian.call_watch, "call link"),
            (self.guardian.home_watch, "home link"),
        ):
            if watch is not None:
                watch.state_changed.connect(functools.partial(_say_state, timeline, who, name))

    async def close(self) -> None:
        if self.guardian is not None:
            await self.guardian.close()
        for link in (self.call, self.home):
            if link is not None:
                await link.close()
        if self.call is not None:
            self.call.media.stop()
        await self.signaling.close()
        if self.records is not None:
            self.records.close()


def _say_state(timeline: Timeline, who: str, link: str, state: str) -> None:
    timeline.add(who, f"{link} {state}")


async def _until(predicate: Callable[[], bool], within_s: float = 15.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def run_demo(record_dir: Path | None = None, quick: bool = False) -> int:
    pause = 0.3 if quick else 1.5
    print("Companion demo — headless. Running for real on this machine: the clinic's signaling")
    print("server, and the cores of the patient's, therapist's and support person's apps: a WebRTC")
    print("call with a synthetic camera and microphone, the home link, the never-alone monitor.")
    print("(The windows and the music arrive with their issues; they are not shown here.)\n")
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="companion-demo-") as tmp:
        async with SignalingServer(ServerConfig(data_dir=Path(tmp) / "server", port=0)) as server:
            timeline.add("server", f"listening on {server.ws_url}")
            _, secret = server.db.add_therapist("demo-therapist")
            apps = {role: DemoApp(role, SignalingClient(server.ws_url))
                    for role in ("therapist", "patient", "support")}  # fmt: skip
            try:
                await _script(timeline, apps, secret, pause, Path(tmp))
            finally:
                for app in apps.values():
                    await app.close()
    if record_dir is not None:
        path = record_dir / "timeline.json"
        await asyncio.to_thread(_write_json, path, timeline.entries)
        print(f"\nTimeline written to {path}")
    print(
        "\nDemo finished: every step above went through the real server and real peer connections."
    )
    return 0


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


async def _script(
    timeline: Timeline, apps: dict[str, DemoApp], secret: str, pause: float, folder: Path
) -> None:
    therapist, patient, support = apps["therapist"], apps["patient"], apps["support"]
    await therapist.signaling.connect()
    await therapist.signaling.login("demo-therapist", secret)
    timeline.add("therapist", "signed in")
    created = await therapist.signaling.create_session("demo")
    invites = {invite.role: invite for invite in created.invites}
    timeline.add("therapist", f"created a session; the patient's code is {invites['patient'].code}")
    await therapist.signaling.join(session_id=created.session.session_id)

    await support.signaling.connect()
    await support.signaling.join(
        invite=invites["support"].link.split("invite=")[1], as_role="support"
    )
    timeline.add("support", "joined with the invite link")
    await patient.signaling.connect()
    await patient.signaling.join(invite=invites["patient"].code, as_role="patient")
    timeline.add("patient", "joined with the code read over the phone")
    for app in (therapist, patient, support):
        await app.start(folder, timeline)
    t_guard, p_guard, s_guard = therapist.guardian, patient.guardian, support.guardian
    t_call, p_call = therapist.call, patient.call
    assert t_guard and p_guard and s_guard and t_call and p_call
    # The support person's board shows the shared timeline as it happens.
    stop_board = s_guard.event_received.connect(
        lambda _id, event, role: timeline.add_event(event, role)
    )

    await _until(lambda: t_call.video.frames_received > 15)
    await asyncio.sleep(1.0)
    timeline.add("therapist", f"sees the patient ({t_call.video.frames_received} video frames so far)"
                 f" and hears their microphone at {therapist.ear.pitch():.0f} Hz")  # fmt: skip
    timeline.add("patient", f"hears the therapist at {patient.ear.pitch():.0f} Hz")

    await p_guard.check_in("key")
    await asyncio.sleep(pause)
    request_id = await t_guard.request_checkin()
    await asyncio.sleep(pause)
    await p_guard.check_in("button", request_id)
    await t_guard.publish(PromptPush(kind="prompt.push", prompt_id="box-breathing"))
    await t_guard.publish(MusicCommand(kind="music.command", action="next"))
    await asyncio.sleep(pause)

    timeline.add("patient", "holds 'I need help' for 1.5 s")
    await p_guard.help_held()
    alerts = t_guard.ladder.alerts
    await _until(lambda: any(not a.closed for a in alerts.values()))
    await asyncio.sleep(pause)
    open_alert = next(a for a in alerts.values() if not a.closed)
    timeline.add("therapist", "presses Acknowledge")
    await t_guard.acknowledge(open_alert.alert_id)
    await asyncio.sleep(pause)

    call_watch = p_guard.call_watch
    assert call_watch is not None
    timeline.add("patient", "the call's network path dies, without a goodbye")
    await p_call.drop()
    await _until(lambda: call_watch.state == "lost")
    await _until(lambda: call_watch.state == "connected", within_s=30)
    await asyncio.sleep(pause)

    timeline.add("patient", "the signaling connection blips too (socket cut)")
    await patient.signaling.drop_connection()
    await _until(lambda: patient.signaling.state == "online")
    await p_guard.check_in("key")
    await asyncio.sleep(pause)
    await patient.signaling.leave()
    await asyncio.sleep(0.3)
    stop_board()
