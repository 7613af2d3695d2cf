"""The patient's app: join, prepare, the session screen, after."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from companion.app import CoreOptions, RoleCore
from companion.app.journal import reminder_words
from companion.ui.common import CALM_DARK, apply_theme
from companion.ui.patient.window import PatientWindow, wait_closed

__all__ = ["PatientWindow", "integration_reminder", "run_patient"]


def integration_reminder(data_dir: Path) -> str:
    """The integration session the patient asked to be reminded of, in plain words."""
    return reminder_words(data_dir)


async def run_patient(
    app: QApplication, server: str, join: str | None, data_dir: Path, fake_media: bool
) -> int:
    """Shows the patient's window and runs until it is closed; closes the core."""
    apply_theme(app, CALM_DARK)
    options = CoreOptions(data_dir=data_dir, fake_media=fake_media)
    window = PatientWindow(lambda: RoleCore("patient", server, options), data_dir)
    screen = window.join_screen
    screen.server.setText(server)
    window.resize(1280, 820)
    window.show()
    reminder = integration_reminder(data_dir)
    if reminder:
        screen.reminder.setText(reminder)
        screen.reminder.show()
    # After a crash or restart: back into the same session without asking for the code.
    saved = None if join else RoleCore("patient", server, options).saved_invite()
    code = join or saved
    if code:
        if saved:
            screen.say("Welcome back. Taking you back into your session…")
        screen.code.setText(code)
        if await window.join(code):
            if saved:
                await window.begin_session()
        elif saved:
            # The old session is over (or gone): start fresh, with a plain word.
            screen.code.clear()
            screen.say(
                screen.message.text()
                + "\nYour last session could not be re-opened; type a new code to join."
            )
    await wait_closed(window)
    if window.core is not None:
        await window.core.close()
    return 0
