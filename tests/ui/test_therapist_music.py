"""The console's music remote against a real patient app whose audio engine plays into an
ALSA device (the null plugin writing to a file) in a process of its own: "Next" changes
what the patient's engine plays, and the console shows the new title."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from companion.ui.therapist import TherapistConsole
from tests.ui.conftest import RunUi, UiClinic, shots
from tests.ui.support_fixtures import spawn_patient
from tests.waiting import until

pytest.importorskip("sounddevice")


def test_next_changes_what_the_patients_engine_plays(run_ui: RunUi, tmp_path: Path) -> None:
    async def test(clinic: UiClinic) -> None:
        console = TherapistConsole(
            clinic.server.ws_url, clinic.folder / "therapist", True, audio=False
        )
        console.resize(1400, 880)
        console.show()
        reports: list[dict[str, Any]] = []
        proc = None
        try:
            assert await console.sign_in("dr-test", clinic.secret)
            session_id, invites = await console.create_session("Music")
            therapist = await console.open_live(session_id)
            live = console.live[session_id]
            proc = spawn_patient(
                clinic.server.ws_url, invites["patient"].code, tmp_path / "patient", seconds=40
            )
            out = proc.stdout
            assert out is not None

            def read() -> None:
                for line in out:
                    if line.startswith("{"):
                        reports.append(json.loads(line))

            threading.Thread(target=read, daemon=True).start()

            def titles() -> list[str]:
                return [r["title"] for r in reports if r["event"] == "title"]

            def written() -> int:
                sizes = [r["bytes"] for r in reports if r["event"] == "device"]
                return sizes[-1] if sizes else 0

            await until(lambda: bool(titles()), 30)
            first = titles()[0]
            # The console shows what the patient's machine plays.
            await until(lambda: live.now_playing.property("title") == first, 20)
            # The engine really plays into the ALSA device.
            start = written()
            await until(lambda: written() > start + 48_000, 10)
            QTest.mouseClick(live.music_buttons["next"], Qt.MouseButton.LeftButton)
            await until(lambda: any(t != first for t in titles()), 15)
            second = next(t for t in titles() if t != first)
            await until(lambda: live.now_playing.property("title") == second, 20)
            assert any(e.kind == "music.command" for e in therapist.facts.timeline)
            live.tabs.setCurrentIndex(0)
            console.grab().save(str(shots("therapist") / "therapist-music.png"))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
            await console.close_all()
            console.close()

    run_ui(test, timeout_s=70)
