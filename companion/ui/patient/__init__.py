"""The patient's app: join, prepare, the session screen, after."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from companion.app import CALM_DARK, CoreOptions, RoleCore, saved_place
from companion.app.clinic import clinic_server
from companion.app.joining import JOIN_WITHIN_S, RELAUNCH_WITHIN_S
from companion.app.journal import reminder_words
from companion.i18n import _
from companion.ui.common import apply_theme, close_core
from companion.ui.language import LanguagePicker, Rebuildable, start_language
from companion.ui.patient.window import PatientWindow

__all__ = ["PatientWindow", "integration_reminder", "run_patient"]


def integration_reminder(data_dir: Path) -> str:
    """The integration session the patient asked to be reminded of, in plain words."""
    return reminder_words(data_dir)


async def run_patient(
    app: QApplication, server: str, join: str | None, data_dir: Path, fake_media: bool
) -> int:
    """Shows the patient's window and runs until it is closed; closes the core."""
    start_language(data_dir)
    apply_theme(app, CALM_DARK)
    # After a crash or a close mid-session: back into the same session, asking nothing.
    place = None if join else saved_place(data_dir)
    server = server or (place.server if place else "") or clinic_server(data_dir) or ""
    options = CoreOptions(data_dir=data_dir, fake_media=fake_media)

    def build() -> PatientWindow:
        window = PatientWindow(lambda: RoleCore("patient", server, options), data_dir)
        window.join_screen.know_server(server)
        window.join_screen.offer_language(LanguagePicker(data_dir))
        window.prepare_screen.offer_language(LanguagePicker(data_dir, now=lambda: False))
        window.resize(1280, 740)
        reminder = integration_reminder(data_dir)
        if reminder:
            window.join_screen.reminder.setText(reminder)
            window.join_screen.reminder.show()
        return window

    windows = Rebuildable(build, lambda w: w.core is None)
    window = windows.show()
    screen = window.join_screen
    code = join or (place.invite if place else None)
    if code:
        if place is not None:
            screen.say(_("Welcome back. Taking you back into your session…"))
        screen.code.setText(code)
        if await window.join(code, RELAUNCH_WITHIN_S if place else JOIN_WITHIN_S):
            if place is not None and place.began:
                await window.begin_session()
        elif place is not None:
            screen.say(
                screen.message.text()
                + _("\nPress “Join my session” to try again, or type a new code.")
            )
    window = await windows.closed()
    await close_core(window.core)
    return 0
