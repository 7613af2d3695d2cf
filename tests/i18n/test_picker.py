"""Choosing a language in the apps: on the first screen the window comes back in it at
once; later (joined, signed in) the choice is kept for the next opening."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QLocale

from companion import i18n
from companion.app import CoreOptions, RoleCore
from companion.ui.language import LanguagePicker, Rebuildable
from companion.ui.patient import PatientWindow


def _patient(data_dir: Path) -> PatientWindow:
    options = CoreOptions(data_dir=data_dir, fake_media=True)
    window = PatientWindow(lambda: RoleCore("patient", "ws://127.0.0.1:9/ws", options), data_dir)
    window.join_screen.offer_language(LanguagePicker(data_dir))
    window.prepare_screen.offer_language(LanguagePicker(data_dir, now=lambda: False))
    return window


def test_choosing_spanish_on_the_first_screen_rebuilds_the_window(qapp, tmp_path: Path) -> None:
    i18n.set_language("en")
    windows = Rebuildable(lambda: _patient(tmp_path), lambda w: w.core is None)
    first = windows.show()
    try:
        assert first.join_screen.join.text() == "Join my session"
        picker = first.join_screen.findChild(LanguagePicker)
        assert picker is not None and picker.combo.currentText() == "English"
        picker.combo.setCurrentIndex(picker.combo.findData("es"))
        assert windows.window is not first and not first.isVisible()
        again = windows.window
        assert again.isVisible() and again.join_screen.join.text() == "Unirme a mi sesión"
        assert i18n.language() == "es" and QLocale().language() == QLocale.Language.Spanish
        assert i18n.load_language(tmp_path) == "es"  # kept for this person

        # Past the first screen the choice waits for the next opening, with a note.
        later = again.prepare_screen.findChild(LanguagePicker)
        assert later is not None
        later.combo.setCurrentIndex(later.combo.findData("en"))
        assert windows.window is again and i18n.language() == "es"
        assert later.note.isVisibleTo(again.prepare_screen)
        assert i18n.load_language(tmp_path) == "en"
    finally:
        windows.window.close()
        i18n.set_language("en")
        QLocale.setDefault(QLocale(QLocale.Language.English))
