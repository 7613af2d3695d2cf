"""Real windows on Qt's offscreen platform, driven on one qasync loop with a real
embedded signaling server and real role cores (synthetic media)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys

# Real widgets without a screen (script/test sets this too; a plain `pytest` run needs it).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from PySide6.QtWidgets import QApplication

from companion.app import CoreOptions, RoleCore
from companion.server.app import ServerConfig, SignalingServer
from companion.ui.common import QtLoop, settle_remaining_tasks

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("COMPANION_SCREENSHOTS", ROOT / "test-output" / "screenshots"))


def run_tool(
    script: str,
    args: list[str],
    env: dict[str, str],
    screen: str | None = None,
    timeout_s: float = 90,
) -> dict[str, Any]:
    """Run ``tools/<script>`` on a real X server (Xvfb, with ``screen`` as "WxHxD"), or on
    the offscreen platform where there is no Xvfb; its last line of output, as JSON."""
    env = dict(env)
    command = [sys.executable, str(ROOT / "tools" / script), *args]
    if shutil.which("xvfb-run"):
        env["QT_QPA_PLATFORM"] = "xcb"
        command = ["xvfb-run", "-a", *(["-s", f"-screen 0 {screen}"] if screen else []), *command]
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@dataclass
class UiClinic:
    server: SignalingServer
    secret: str
    folder: Path

    def options(self, role: str, audio: bool = False) -> CoreOptions:
        return CoreOptions(
            data_dir=self.folder / role, fake_media=True, audio=audio, video=(320, 240, 15)
        )

    def maker(self, role: str, audio: bool = False) -> Callable[[], RoleCore]:
        options = self.options(role, audio)
        return lambda: RoleCore(role, self.server.ws_url, options)  # type: ignore[arg-type]

    async def therapist_session(self) -> tuple[RoleCore, dict[str, Any]]:
        """A therapist core in a fresh session; returns it and the invites by role."""
        core = RoleCore("therapist", self.server.ws_url, self.options("therapist"))
        await core.connect()
        await core.sign_in("dr-test", self.secret)
        created = await core.signaling.create_session("ui test")
        await core.open_session(created.session.session_id)
        await core.start()
        return core, {i.role: i for i in created.invites}


UiTest = Callable[[UiClinic], Coroutine[Any, Any, None]]


class RunUi(Protocol):
    def __call__(
        self, test: UiTest, timeout_s: float = 60.0, notify_config: Path | None = None
    ) -> None: ...


@pytest.fixture
def run_ui(qapp: QApplication, tmp_path: Path) -> RunUi:
    """Runs ``test(clinic)`` on a qasync loop over the test's QApplication."""

    def run(test: UiTest, timeout_s: float = 60.0, notify_config: Path | None = None) -> None:
        # Closing a test's window must not quit the application (and stop the loop).
        qapp.setQuitOnLastWindowClosed(False)
        # An app's theme (the patient's dark palette, a scaled font) is set on the shared
        # QApplication: put it back, so no test sees (or screenshots) another's.
        palette, font = QApplication.palette(), QApplication.font()
        loop = QtLoop(qapp)
        asyncio.set_event_loop(loop)

        async def main() -> None:
            # notify_config: a server that texts and e-mails (its outer ladder) too.
            config = ServerConfig(data_dir=tmp_path / "server", port=0, notify_config=notify_config)
            try:
                async with SignalingServer(config) as server:
                    _, secret = server.db.add_therapist("dr-test")
                    async with asyncio.timeout(timeout_s):
                        await test(UiClinic(server, secret, tmp_path))
            finally:
                # As the apps end (run_qt): nothing left to be stepped once the loop has
                # stopped, or collected after it closed ("_SimpleTimer already deleted").
                await settle_remaining_tasks()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
            asyncio.set_event_loop(None)
            qapp.setPalette(palette)
            qapp.setFont(font)

    return run


def answer_modal(button_text: str, seen: list[str], tries: int = 100) -> None:
    """From Qt timers (outside any asyncio task, since the dialog's nested event loop runs
    while the task that opened it is suspended): waits for a modal QMessageBox, records
    its default button's text in ``seen``, then clicks the button named ``button_text``."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    def poll(left: int) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            default = box.defaultButton()
            seen.append(default.text() if default is not None else "")
            for button in box.buttons():
                if button.text() == button_text:
                    button.click()
                    return
            seen.append(f"no button {button_text!r}")
            box.reject()
        elif left > 0:
            QTimer.singleShot(50, lambda: poll(left - 1))

    QTimer.singleShot(50, lambda: poll(tries))


async def settle(seconds: float = 0.2) -> None:
    await asyncio.sleep(seconds)


def shots(role: str) -> Path:
    folder = SCREENSHOTS / role
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


@contextlib.asynccontextmanager
async def live_console(
    clinic: UiClinic, height: int = 760
) -> AsyncIterator[tuple[RoleCore, dict[str, Any], Any]]:
    """A fresh session's therapist core, its invites and its live session (a
    ``LiveSession``, shown); the core closed at the end."""
    from companion.ui.therapist.live import LiveSession

    therapist, invites = await clinic.therapist_session()
    live = LiveSession(therapist, clinic.folder / "therapist", "Tuesday")
    live.resize(1200, height)
    live.show()
    try:
        yield therapist, invites, live
    finally:
        live.detach()
        await therapist.close()
        live.close()


async def board_joined(clinic: UiClinic, code: str, boards: list[Any]) -> Any:
    """A support person's board (a ``SupportWindow``, shown) joined with ``code``; kept in
    ``boards`` for ``close_all``."""
    from companion.ui.support import SupportWindow

    board = SupportWindow(clinic.maker("support"))
    boards.append(board)
    board.show()
    assert await board.join(code)
    return board


async def close_all(*windows: Any, cores: Sequence[RoleCore] = ()) -> None:
    """The end of a UI test, whatever it left open: each window's core, then ``cores``
    (the therapist's…), then the windows, closed as a person closes them: mid-session the
    window asks, inside itself, and "Close" is the answer."""
    for window in windows:
        if window.core is not None:
            await window.core.close()
    for core in cores:
        await core.close()
    for window in windows:
        window.close()
        if window.isVisible():  # asked: the patient's question is on its session screen
            getattr(window, "session_screen", window).close_question.act.click()


def moved_on(window: Any, seconds: float) -> None:
    """The patient's check-in clock, ``seconds`` later (rather than wait them out)."""
    clock = window.clock
    window.clock = lambda: clock() + seconds


Waiter = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def patient_joined(
    clinic: UiClinic, options: CoreOptions | None = None, audio: bool = False
) -> AsyncIterator[tuple[Any, RoleCore]]:
    """A patient's window joined to a fresh session (on the preparation screen) and the
    therapist's core; both closed at the end, whatever the test left open. ``options``:
    the patient's core set up otherwise (a stand-in battery); ``audio``: the patient's real
    engine and voice (no sound card here: the engine keeps retrying)."""
    from companion.ui.patient import PatientWindow

    therapist, invites = await clinic.therapist_session()
    chosen = options or clinic.options("patient", audio)
    make = lambda: RoleCore("patient", clinic.server.ws_url, chosen)  # noqa: E731
    window = PatientWindow(make, clinic.folder / "patient")
    window.show()
    try:
        assert await window.join(invites["patient"].code)
        yield window, therapist
    finally:
        await close_all(window, cores=[therapist])
