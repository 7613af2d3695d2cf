"""Real windows on Qt's offscreen platform, driven on one qasync loop with a real
embedded signaling server and real role cores (synthetic media)."""

from __future__ import annotations

import asyncio
import contextlib
import os

# Real widgets without a screen (script/test sets this too; a plain `pytest` run needs it).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from PySide6.QtWidgets import QApplication

from companion.app import CoreOptions, RoleCore
from companion.server.app import ServerConfig, SignalingServer
from companion.ui.common import QtLoop

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("COMPANION_SCREENSHOTS", ROOT / "test-output" / "screenshots"))


@dataclass
class UiClinic:
    server: SignalingServer
    secret: str
    folder: Path

    def options(self, role: str, audio: bool = False) -> CoreOptions:
        return CoreOptions(data_dir=self.folder / role, fake_media=True, audio=audio,
                           video=(320, 240, 15))  # fmt: skip

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
    def __call__(self, test: UiTest, timeout_s: float = 60.0) -> None: ...


@pytest.fixture
def run_ui(qapp: QApplication, tmp_path: Path) -> RunUi:
    """Runs ``test(clinic)`` on a qasync loop over the test's QApplication."""

    def run(test: UiTest, timeout_s: float = 60.0) -> None:
        # Closing a test's window must not quit the application (and stop the loop).
        qapp.setQuitOnLastWindowClosed(False)
        # An app's theme (the patient's dark palette, a scaled font) is set on the shared
        # QApplication: put it back, so no test sees (or screenshots) another's.
        palette, font = QApplication.palette(), QApplication.font()
        loop = QtLoop(qapp)
        asyncio.set_event_loop(loop)

        async def main() -> None:
            config = ServerConfig(data_dir=tmp_path / "server", port=0)
            async with SignalingServer(config) as server:
                _, secret = server.db.add_therapist("dr-test")
                async with asyncio.timeout(timeout_s):
                    await test(UiClinic(server, secret, tmp_path))

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


Waiter = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def patient_joined(
    clinic: UiClinic, audio: bool = False
) -> AsyncIterator[tuple[Any, RoleCore]]:
    """A patient's window joined to a fresh session (on the preparation screen) and the
    therapist's core; both closed at the end, whatever the test left open. ``audio``: the
    patient's real engine and voice (no sound card here: the engine keeps retrying)."""
    from companion.ui.patient import PatientWindow

    therapist, invites = await clinic.therapist_session()
    window = PatientWindow(clinic.maker("patient", audio), clinic.folder / "patient")
    window.show()
    try:
        assert await window.join(invites["patient"].code)
        yield window, therapist
    finally:
        window.confirm_close = lambda: True
        if window.core is not None:
            await window.core.close()
        await therapist.close()
        window.close()
