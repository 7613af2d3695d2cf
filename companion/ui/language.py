"""The person's language in the Qt apps: set at start, chosen on the first screen.

Words are read when widgets are made, so a choice made before joining (or signing in)
rebuilds the window in the new language at once; once a session is under way the choice
is saved and shows the next time the app opens (no screen is torn down mid-session).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from PySide6.QtCore import QLocale, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMainWindow, QWidget

from companion.i18n import _, language, language_name, languages, save_language, set_language
from companion.i18n import start_language as _start_language

W = TypeVar("W", bound=QMainWindow)


def use_language(lang: str) -> str:
    """Make ``lang`` this app's language, Qt's dates and numbers included."""
    lang = set_language(lang)
    QLocale.setDefault(QLocale(lang))
    return lang


def start_language(data_dir: Path | None) -> str:
    """At an app's start: the person's saved language, else the operating system's."""
    return use_language(_start_language(data_dir))


class LanguagePicker(QWidget):
    """The language, each named in itself ("Español"). Choosing saves it for this person
    (their app's data folder); while ``now()`` it becomes the app's language at once
    (``chosen``: the window is rebuilt), otherwise a note says it shows from the next
    opening."""

    chosen = Signal(str)
    """The app's language changed now (the window is rebuilt)."""
    picked = Signal(str)
    """The person chose a language (now or for later): for whoever must be told."""

    def __init__(self, data_dir: Path | None, now: Callable[[], bool] = lambda: True) -> None:
        super().__init__()
        self.data_dir = data_dir
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(_("Language"))
        self.combo = QComboBox()
        self.combo.setAccessibleName(_("Language"))
        for lang in languages():
            self.combo.addItem(language_name(lang), lang)
        self.combo.setCurrentIndex(max(0, self.combo.findData(language())))
        self.combo.currentIndexChanged.connect(self._changed)
        self.label.setBuddy(self.combo)
        row.addWidget(self.label)
        row.addWidget(self.combo)
        row.addStretch(1)
        self.note = QLabel(_("Language: the change shows the next time Companion opens."))
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        self.now = now
        row.addWidget(self.note, 3)

    def _changed(self, _index: int) -> None:
        lang = str(self.combo.currentData())
        if self.data_dir is not None:
            save_language(self.data_dir, lang)
        self.picked.emit(lang)
        if not self.now():
            self.note.setVisible(lang != language())
            return
        use_language(lang)
        self.chosen.emit(lang)


class Rebuildable(Generic[W]):
    """An app's window that its ``LanguagePicker`` may rebuild: while
    ``can_rebuild(window)`` (nothing joined yet), a choice replaces the window by a fresh
    ``build()`` in the new language, in the same place."""

    def __init__(
        self,
        build: Callable[[], W],
        can_rebuild: Callable[[W], bool],
        discard: Callable[[W], None] | None = None,
    ) -> None:
        self._build = build
        self._can_rebuild = can_rebuild
        self._discard = discard
        self._windows: list[W] = []

    @property
    def window(self) -> W:
        """The window in front."""
        return self._windows[-1]

    def show(self) -> W:
        window = self._build()
        for picker in window.findChildren(LanguagePicker):
            picker.chosen.connect(lambda _lang, w=window: self._rebuild(w))
        self._windows.append(window)
        window.show()
        return window

    def _rebuild(self, old: W) -> None:
        if old is not self.window or not self._can_rebuild(old):
            return
        geometry = old.geometry()
        new = self.show()
        new.setGeometry(geometry)
        old.hide()
        if self._discard is not None:
            self._discard(old)
        old.deleteLater()

    async def closed(self) -> W:
        """Returns once the window in front is closed (and returns it)."""
        while self.window.isVisible():
            await asyncio.sleep(0.2)
        return self.window
