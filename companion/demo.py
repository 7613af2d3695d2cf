"""``companion demo``: a whole session on this machine in about a minute.

What runs is real: an embedded signaling server on 127.0.0.1 and the three apps — the
patient's and the therapist's in a WebRTC call with a synthetic camera (a moving test
pattern) and microphone (a tone), the patient's and the support person's joined by the
home link, each with its never-alone monitor, the patient's music playing locally. The
scripted steps are what people would press; the windows show what each person sees.

``--headless`` runs the same under Qt's offscreen platform; ``--record DIR`` writes a
screenshot of each window after each step and the timeline (JSON) to DIR.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion.app import CoreOptions, RoleCore
from companion.app.words import ROLE_NAMES
from companion.server.app import ServerConfig, SignalingServer


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    entries: list[dict[str, object]] = field(default_factory=list)

    def add(self, who: str, what: str) -> None:
        at = time.monotonic() - self.started
        self.entries.append({"t": round(at, 3), "who": who, "what": what})
        print(f"  {int(at // 60):02d}:{at % 60:05.2f}  {who:<15} {what}", flush=True)


async def until(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


def has_screen() -> bool:
    return sys.platform != "linux" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def run_demo(record_dir: Path | None = None, quick: bool = False, headless: bool = False) -> int:
    if not headless and not has_screen():
        print("No screen found here, so the demo runs headless (use --record DIR for screenshots).")
        headless = True
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from companion.ui.common import run_qt

    return run_qt(lambda app: _demo(app, record_dir, quick, headless))


async def _demo(app: Any, record_dir: Path | None, quick: bool, headless: bool) -> int:
    from companion.app import CLEAR_LIGHT
    from companion.ui.common import apply_theme
    from companion.ui.language import start_language
    from companion.ui.patient import PatientWindow
    from companion.ui.support import SupportWindow
    from companion.ui.therapist import TherapistConsole

    # All three apps share this process, so they share the operating system's language
    # (LANGUAGE=es companion demo: the whole session in Spanish).
    start_language(None)
    apply_theme(app, CLEAR_LIGHT)
    pause = 0.4 if (quick or headless) else 2.5
    print("Companion demo. Running for real on this machine: the clinic's signaling server and the")
    print(
        "patient's, therapist's and support person's apps — a WebRTC call with a synthetic camera"
    )
    print("and microphone, calm music, the home link and the never-alone monitor.\n")
    timeline = Timeline()
    shots = _Shots(record_dir)
    with tempfile.TemporaryDirectory(prefix="companion-demo-") as tmp:
        folder = Path(tmp)
        config = ServerConfig(data_dir=folder / "server", port=0)
        async with SignalingServer(config) as server:
            timeline.add("server", f"listening on {server.ws_url}")
            _, secret = server.db.add_therapist("demo-therapist")
            url = server.ws_url
            audio = not headless and os.environ.get("COMPANION_DEMO_AUDIO", "patient") != "none"

            def maker(role: str) -> Callable[[], RoleCore]:
                # On one machine only the patient's app plays sound (music and the
                # therapist's voice); three engines on one speaker would be a din.
                options = CoreOptions(
                    data_dir=folder / role,
                    fake_media=True,
                    audio=audio and role == "patient",
                    video=(320, 240, 15),
                )
                return lambda: RoleCore(role, url, options)  # type: ignore[arg-type]

            console = TherapistConsole(url, folder / "therapist", True, audio=False)
            patient = PatientWindow(maker("patient"), folder / "patient")
            support = SupportWindow(maker("support"))
            windows: dict[str, Any] = {"therapist": console, "patient": patient, "support": support}
            for index, window in enumerate(windows.values()):
                window.resize(1100, 760)
                window.move(40 + index * 60, 40 + index * 40)
                window.show()
            try:
                await _script(timeline, shots, windows, secret, pause)
                if not headless and record_dir is None:
                    print("\nThe session goes on: close any window to end the demo.")
                    while all(window.isVisible() for window in windows.values()):
                        await asyncio.sleep(0.2)
            finally:
                patient.confirm_close = lambda: True
                for window in windows.values():
                    window.close_for_demo() if hasattr(window, "close_for_demo") else None
                for core in _cores(windows):
                    await core.close()
                for window in windows.values():
                    window.hide()
    if record_dir is not None:
        path = record_dir / "timeline.json"
        await asyncio.to_thread(_write_json, path, timeline.entries)
        print(f"\nTimeline and {shots.count} screenshots written to {record_dir}")
    print(
        "\nDemo finished: every step above went through the real server and real peer connections."
    )
    return 0


def _narrate(timeline: Timeline, who: str, core: RoleCore) -> None:
    core.link_changed.connect(lambda words: timeline.add(who, f"sees: {words}"))
    core.alert_shown.connect(lambda alert: timeline.add(who, f"ALERT: {alert.reason}"))
    core.patient_line.connect(lambda text: timeline.add(who, f'reads, calmly: "{text}"'))


def _cores(windows: dict[str, Any]) -> list[RoleCore]:
    cores: list[RoleCore] = []
    for window in windows.values():
        core = getattr(window, "core", None)
        if isinstance(core, RoleCore):
            cores.append(core)
        for live in getattr(window, "live_cores", lambda: [])():
            cores.append(live)
    return cores


class _Shots:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.count = 0

    def take(self, step: str, windows: dict[str, Any]) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for role, window in windows.items():
            self.count += 1
            window.grab().save(str(self.folder / f"{self.count:02d}-{step}-{role}.png"))


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


async def _script(
    timeline: Timeline, shots: _Shots, windows: dict[str, Any], secret: str, pause: float
) -> None:
    console, patient_window, support_window = (
        windows["therapist"],
        windows["patient"],
        windows["support"],
    )
    await console.sign_in("demo-therapist", secret)
    timeline.add("therapist", "signed in")
    session_id, invites = await console.create_session("Demo session")
    timeline.add("therapist", f"created a session; the patient's code is {invites['patient'].code}")
    therapist = await console.open_live(session_id)
    assert await support_window.join(invites["support"].link), "support could not join"
    timeline.add("support", "joined with the invite link")
    assert await patient_window.join(invites["patient"].code), "patient could not join"
    timeline.add("patient", "joined with the code read over the phone")
    shots.take("joined", windows)
    await patient_window.begin_session()
    patient, support = patient_window.core, support_window.core
    assert isinstance(patient, RoleCore) and isinstance(support, RoleCore)
    for who, core in (("therapist", therapist), ("patient", patient), ("support", support)):
        _narrate(timeline, who, core)
    support.timeline_added.connect(
        lambda e: timeline.add(f"{ROLE_NAMES.get(e.who or '', 'Support')} (board)".lower(), e.text)
    )
    call = therapist.call
    assert call is not None
    await until(lambda: call.video.frames_received > 10)
    await asyncio.sleep(pause)
    timeline.add(
        "therapist", f"sees the patient ({call.video.frames_received} video frames so far)"
    )
    shots.take("in-call", windows)

    await patient.check_in("key")
    await asyncio.sleep(pause)
    await therapist.request_checkin()
    await until(lambda: patient.pending_checkin is not None)
    await asyncio.sleep(pause)
    shots.take("checkin-requested", windows)
    await patient.check_in("button")
    await therapist.push_prompt("box-breathing")
    await asyncio.sleep(pause)
    shots.take("prompt", windows)
    await therapist.music_remote("next")
    await asyncio.sleep(pause)

    timeline.add("patient", "holds 'I need help' for 1.5 s")
    await patient.help_held()
    await until(lambda: bool(therapist.facts.open_alerts) and bool(support.facts.open_alerts))
    await asyncio.sleep(pause)
    shots.take("help", windows)
    timeline.add("support", "presses “I'm with the patient”")
    await support.im_with_patient()
    await until(lambda: not therapist.facts.open_alerts)
    await asyncio.sleep(pause)

    p_call = patient.call
    assert p_call is not None
    timeline.add("patient", "the call's network path dies, without a goodbye")
    await p_call.drop()
    await until(lambda: patient.facts.link == "lost")
    await asyncio.sleep(0.3)
    shots.take("link-lost", windows)
    await until(lambda: patient.facts.link == "connected", within_s=30)
    await asyncio.sleep(pause)
    shots.take("link-back", windows)
    await patient.check_in("key")
    await asyncio.sleep(pause)
