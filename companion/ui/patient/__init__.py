"""The patient's app: join, prepare, the session screen, after."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from companion.app import CALM_DARK, CoreOptions, RoleCore, saved_place
from companion.app.clinic import clinic_server
from companion.app.joining import JOIN_WITHIN_S, RELAUNCH_WITHIN_S
from companion.app.journal import reminder_words
from companion.ui.common import apply_theme, close_core
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
    # After a crash or a close mid-session: back into the same session, asking nothing.
    place = None if join else saved_place(data_dir)
    server = server or (place.server if place else "") or clinic_server(data_dir) or ""
    options = CoreOptions(data_dir=data_dir, fake_media=fake_media)
    window = PatientWindow(lambda: RoleCore("patient", server, options), data_dir)
    screen = window.join_screen
    screen.know_server(server)
    window.resize(1280, 740)
    window.show()
    reminder = integration_reminder(data_dir)
    if reminder:
        screen.reminder.setText(reminder)
        screen.reminder.show()
    code = join or (place.invite if place else None)
    if code:
        if place is not None:
            screen.say("Welcome back. Taking you back into your session…")
        screen.code.setText(code)
        if await window.join(code, RELAUNCH_WITHIN_S if place else JOIN_WITHIN_S):
            if place is not None and place.began:
                await window.begin_session()
        elif place is not None:
            screen.say(
                screen.message.text()
                + "\nPress “Join my session” to try again, or type a new code."
            )
    await wait_closed(window)
    await close_core(window.core)
    return 0
