"""The console's "Your voice": the therapist records the patient's spoken lines in their
own voice (issue 22), in the patient's language, before or during a session.

Each line shows its words, whether it is recorded (or the computer's voice says it), and
record / stop, play back and record again; nothing here opens a dialog. The recordings
are kept encrypted on this computer (``VoiceStudio``) and sent to the patient's app when a
session opens.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from companion.app.journal import MIN_PASSPHRASE, WRONG_KEY, NeedsPassphrase
from companion.app.voice import VoiceLine, VoiceStudio
from companion.i18n import _, language, language_name, languages
from companion.ui.common import spawn
from companion.ui.therapist.live import console_button


class VoicePage(QWidget):
    """``known``: the passphrase typed this sitting for notes, if any."""

    def __init__(
        self,
        studio: VoiceStudio,
        known: Callable[[], str] = lambda: "",
        saved: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self.studio = studio
        self._known = known
        self._saved = saved
        """A line was recorded (again): the console sends the recordings to live sessions."""
        self.rows: dict[str, tuple[QLabel, QPushButton, QPushButton]] = {}
        page = QVBoxLayout(self)
        page.setContentsMargins(16, 12, 16, 12)
        intro = QLabel(
            _(
                "Record the lines your patient hears with their eyes closed, in your own "
                "voice. A line you have not recorded is said by the computer's voice. "
                "Recordings are kept encrypted on this computer and sent to the patient's "
                "app when a session opens."
            )
        )
        intro.setWordWrap(True)
        page.addWidget(intro)
        top = QHBoxLayout()
        words = _("Language of the recordings (the patient's)")
        top.addWidget(QLabel(words))
        self.language = QComboBox()
        self.language.setAccessibleName(words)
        for lang in languages():
            self.language.addItem(language_name(lang), lang)
        self.language.setCurrentIndex(max(0, self.language.findData(language())))
        self.language.currentIndexChanged.connect(lambda _i: spawn(self.refresh()))
        top.addWidget(self.language)
        top.addStretch(1)
        page.addLayout(top)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setAccessibleName(_("Passphrase for your recordings"))
        self.passphrase.setPlaceholderText(_("Passphrase for your recordings"))
        self.passphrase.returnPressed.connect(lambda: spawn(self.refresh()))
        self.passphrase.hide()
        page.addWidget(self.passphrase)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        page.addWidget(self.status)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setColumnStretch(0, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.grid_host)
        page.addWidget(scroll, 1)

    @property
    def chosen_language(self) -> str:
        return str(self.language.currentData())

    async def refresh(self) -> bool:
        """Unlock (keyring, else the passphrase) and show every line; False while locked."""
        if not self.studio.book.unlocked:
            try:
                try:
                    await self.studio.book.unlock()
                except NeedsPassphrase:
                    passphrase = self._known() or self.passphrase.text()
                    if len(passphrase) < MIN_PASSPHRASE:
                        self.passphrase.show()
                        self.status.setText(
                            _(
                                "This computer has no keyring, so your recordings are locked "
                                "with a passphrase: type one (8 characters or more), then "
                                "press Enter."
                            )
                        )
                        return False
                    await self.studio.book.unlock(passphrase)
            except WRONG_KEY:
                self.passphrase.clear()
                self.status.setText(_("That passphrase does not open your recordings."))
                return False
            self.passphrase.hide()
        self._show(await self.studio.book.lines(self.chosen_language))
        return True

    def _show(self, lines: list[VoiceLine]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.rows.clear()
        for row, line in enumerate(lines):
            words = QLabel(line.words)
            words.setWordWrap(True)
            state = QLabel()
            record = console_button("")
            play = console_button(_("Play back"))
            record.clicked.connect(lambda _c=False, i=line.line_id: self._record_clicked(i))
            play.clicked.connect(lambda _c=False, i=line.line_id: spawn(self.play(i), self._failed))
            self.grid.addWidget(words, row, 0)
            self.grid.addWidget(state, row, 1)
            self.grid.addWidget(record, row, 2)
            self.grid.addWidget(play, row, 3)
            self.rows[line.line_id] = (state, record, play)
            self._mark(line.line_id, line.recorded, line.words)
        self.status.setText(
            _("{done} of {total} lines recorded in your voice.").format(
                done=sum(line.recorded for line in lines), total=len(lines)
            )
        )

    def _mark(self, line_id: str, recorded: bool, words: str = "") -> None:
        state, record, play = self.rows[line_id]
        state.setText(_("Recorded") if recorded else _("Computer's voice"))
        busy = self.studio.recording == (self.chosen_language, line_id)
        text = _("Stop") if busy else (_("Record again") if recorded else _("Record"))
        record.setText(text)
        record.setAccessibleName(f"{text}: {words}" if words else text)
        record.setProperty("line_words", words or record.property("line_words"))
        play.setEnabled(recorded and not busy)
        play.setAccessibleName(_("Play back: {line}").format(line=record.property("line_words")))

    def _record_clicked(self, line_id: str) -> None:
        if self.studio.recording == (self.chosen_language, line_id):
            spawn(self.stop(), self._failed)
            return
        if self.studio.recording is not None:
            spawn(self.stop(), self._failed)
        try:
            self.studio.start(self.chosen_language, line_id)
        except OSError:
            self.status.setText(_("No microphone found: plug one in to record."))
            return
        self.status.setText(_("Recording… speak the line, then press Stop."))
        self._mark(line_id, False)

    async def stop(self) -> bool:
        which = self.studio.recording
        kept = await self.studio.stop()
        if kept:
            self._saved()
        if which is not None and which[0] == self.chosen_language and which[1] in self.rows:
            recorded = (await self.studio.book.recordings(which[0])).get(which) is not None
            self._mark(which[1], recorded)
        self.status.setText(
            _("Kept, encrypted. It is sent to the patient's app when the session opens.")
            if kept
            else _("Nothing was heard: the line was not recorded. Try again.")
        )
        return kept

    async def play(self, line_id: str) -> None:
        await self.studio.play(self.chosen_language, line_id)

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(
            _("The sound device could not be used: {what}").format(what=type(exc).__name__)
        )
