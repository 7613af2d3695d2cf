"""Choosing a language in the apps: on the first screen the window comes back in it at
once; later (joined, signed in) the choice is kept for the next opening."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QWidget

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


def _choose_for_later(windows: Rebuildable[Any], page: QWidget, lang: str, data_dir: Path) -> None:
    """Choose ``lang`` on ``page``'s picker, which keeps it for the next opening: the
    window stays as it is, a note says so, the choice is saved."""
    picker = page.findChild(LanguagePicker)
    assert picker is not None, f"no language picker on {type(page).__name__}"
    window, before = windows.window, i18n.language()
    picker.combo.setCurrentIndex(picker.combo.findData(lang))
    assert windows.window is window and i18n.language() == before
    assert picker.note.isVisibleTo(page)
    assert i18n.load_language(data_dir) == lang


@pytest.fixture
def english_afterwards() -> Iterator[None]:
    """The test starts and leaves this process in English, Qt's locale included."""
    i18n.set_language("en")
    try:
        yield
    finally:
        i18n.set_language("en")
        QLocale.setDefault(QLocale(QLocale.Language.English))


@pytest.mark.usefixtures("english_afterwards")
def test_choosing_spanish_on_the_first_screen_rebuilds_the_window(qapp, tmp_path: Path) -> None:
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
        _choose_for_later(windows, again.prepare_screen, "en", tmp_path)
    finally:
        windows.window.close()


@pytest.mark.usefixtures("english_afterwards")
def test_the_support_person_can_choose_their_language_on_the_board_too(
    qapp, tmp_path: Path
) -> None:
    """After joining, the support board keeps a language picker: the choice is kept for
    the next opening, with a note; nothing is torn down mid-session."""
    from companion.ui.support import support_window

    options = CoreOptions(data_dir=tmp_path, fake_media=True)
    windows = Rebuildable(
        lambda: support_window(
            lambda: RoleCore("support", "ws://127.0.0.1:9/ws", options), tmp_path
        ),
        lambda w: w.core is None,
    )
    window = windows.show()
    try:
        assert window.join_page.findChild(LanguagePicker) is not None
        window.stack.setCurrentWidget(window.board)
        _choose_for_later(windows, window.board, "es", tmp_path)
    finally:
        windows.window.close()
