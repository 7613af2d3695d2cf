"""``companion demo``: a whole (headless) session on this machine in under a minute.

What runs is real: an embedded signaling server on 127.0.0.1 and three real clients
(therapist, patient, support person) talking to it over WebSockets. The scripted steps are
what the apps will do when a person presses their buttons. The call, the music and the
screens join the demo as they are built; until then it says so instead of pretending.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from companion.protocol.messages import (
    CheckIn,
    CheckInRequest,
    MusicCommand,
    PromptPush,
    SessionEvent,
    WithPatient,
)
from companion.server.app import ServerConfig, SignalingServer
from companion.signaling.client import LinkState, SignalingClient

# What a person would read for each timeline entry; never personal details.
_DESCRIBE: dict[str, str] = {
    "member.joined": "{role} joined",
    "member.lost": "{role}'s connection dropped",
    "member.back": "{role} is back",
    "member.left": "{role} left",
    "checkin": "patient checked in: I'm OK",
    "checkin.request": "therapist asked for a check-in",
    "prompt.push": "therapist showed a grounding prompt ({prompt_id})",
    "music.command": "therapist's music remote: {action}",
    "with_patient": "support person is with the patient",
}


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[dict[str, object]] = field(default_factory=list)

    def add(self, who: str, what: str) -> None:
        at = time.monotonic() - self.started
        self.entries.append({"t": round(at, 3), "who": who, "what": what})
        print(f"  {int(at // 60):02d}:{at % 60:05.2f}  {who:<9} {what}", flush=True)

    def add_event(self, event: SessionEvent) -> None:
        body = event.event.model_dump()
        template = _DESCRIBE.get(event.event.kind, event.event.kind)
        self.add("timeline", f"#{event.seq} " + template.format(**body))


async def run_demo(record_dir: Path | None = None, quick: bool = False) -> int:
    pause = 0.2 if quick else 1.0
    print("Companion demo — headless: an embedded signaling server and three scripted clients.")
    print("(Live audio/video, music and the windows arrive with their issues; not shown here.)\n")
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="companion-demo-") as tmp:
        async with SignalingServer(ServerConfig(data_dir=Path(tmp), port=0)) as server:
            timeline.add("server", f"listening on {server.ws_url}")
            _, secret = server.db.add_therapist("demo-therapist")
            therapist, patient, support = (SignalingClient(server.ws_url) for _ in range(3))
            try:
                await _script(timeline, therapist, patient, support, secret, pause)
            finally:
                support.event_received.disconnect_all()
                for client in (therapist, patient, support):
                    await client.close()
    if record_dir is not None:
        path = record_dir / "timeline.json"
        await asyncio.to_thread(_write_json, path, timeline.entries)
        print(f"\nTimeline written to {path}")
    print("\nDemo finished: every step above went through the real server.")
    return 0


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


async def _script(
    timeline: Timeline,
    therapist: SignalingClient,
    patient: SignalingClient,
    support: SignalingClient,
    secret: str,
    pause: float,
) -> None:
    await therapist.connect()
    await therapist.login("demo-therapist", secret)
    timeline.add("therapist", "signed in")
    created = await therapist.create_session("demo")
    invites = {invite.role: invite for invite in created.invites}
    timeline.add("therapist", f"created a session; patient code {invites['patient'].code}")
    await therapist.join(session_id=created.session.session_id)
    # The support person's board shows the shared timeline as it happens.
    support.event_received.connect(timeline.add_event)

    def watch(who: str, client: SignalingClient) -> None:
        def on_state(state: LinkState) -> None:
            timeline.add(who, f"signaling {state}")

        client.state_changed.connect(on_state)

    await support.connect()
    await support.join(invite=invites["support"].link.split("invite=")[1], as_role="support")
    timeline.add("support", "joined with the invite link")
    await patient.connect()
    await patient.join(invite=invites["patient"].code, as_role="patient")
    timeline.add("patient", "joined with the code read over the phone")
    watch("patient", patient)
    await asyncio.sleep(pause)

    await patient.send_event(CheckIn(kind="checkin", source="key"))
    await asyncio.sleep(pause)
    request_id = uuid.uuid4().hex[:12]
    await therapist.send_event(CheckInRequest(kind="checkin.request", request_id=request_id))
    await asyncio.sleep(pause)
    await patient.send_event(CheckIn(kind="checkin", request_id=request_id))
    await therapist.send_event(PromptPush(kind="prompt.push", prompt_id="box-breathing"))
    await therapist.send_event(MusicCommand(kind="music.command", action="next"))
    await asyncio.sleep(pause)

    timeline.add("patient", "the home network blips (socket cut)")
    await patient.drop_connection()
    await patient.send_event(CheckIn(kind="checkin", source="button"))
    timeline.add("patient", "pressed I'm OK while offline (queued)")
    async with asyncio.timeout(10):
        while patient.state != "online" or patient.unacknowledged:
            await asyncio.sleep(0.05)
    await asyncio.sleep(pause)
    await support.send_event(WithPatient(kind="with_patient"))
    await asyncio.sleep(pause)
    await patient.leave()
    await asyncio.sleep(0.2)
