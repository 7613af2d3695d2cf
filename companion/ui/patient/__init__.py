"""The patient's app: join, prepare, the session screen, after."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

from companion.app import CoreOptions, RoleCore
from companion.ui.common import CALM_DARK, apply_theme
from companion.ui.patient.window import PatientWindow, wait_closed

__all__ = ["PatientWindow", "integration_reminder", "run_patient"]


def integration_reminder(data_dir: Path) -> str:
    """The integration session the patient asked to be reminded of, in plain words."""
    import time

    try:
        when = int((data_dir / "integration-reminder.txt").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if when < time.time() - 86_400:
        return ""
    return (
        "Reminder: your integration session is on "
        + time.strftime("%A %d %B at %H:%M", time.localtime(when))
        + "."
    )


async def run_patient(
    app: QApplication, server: str, join: str | None, data_dir: Path, fake_media: bool
) -> int:
    apply_theme(app, CALM_DARK)
    options = CoreOptions(data_dir=data_dir, fake_media=fake_media)
    window = PatientWindow(lambda: RoleCore("patient", server, options), data_dir)
    window.join_screen.server.setText(server)
    window.resize(1280, 820)
    window.show()
    reminder = integration_reminder(data_dir)
    if reminder:
        window.join_screen.message.setText(reminder)
    # After a crash or restart: back into the same session without asking for the code.
    join = join or RoleCore("patient", server, options).saved_invite()
    if join:
        window.join_screen.code.setText(join)
        if await window.join(join):
            await window.begin_session()
    await wait_closed(window)
    if window.core is not None:
        await window.core.close()
    return 0
