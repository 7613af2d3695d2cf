"""The support person's phone and e-mail for the clinic's texts and e-mails: one form,
on the support person's board (their own, optional) and in the therapist's plan (for the
session). Mistakes are said under the form, never in a dialog; nothing typed is logged."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from companion.app import CLEAR_LIGHT, ContactRefused
from companion.i18n import _
from companion.ui.common import spawn

Submit = Callable[[str, str, bool], Awaitable[None]]
"""(phone, e-mail, consent): the core's ``set_contacts``."""


class ContactsForm(QFrame):
    saved = Signal()
    skipped = Signal()

    def __init__(
        self,
        intro: str,
        consent: str,
        save: str,
        skip: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``skip``: the button that leaves it for now; with one, saving nothing typed is
        skipping too (it never removes contacts someone else gave: the therapist's)."""
        super().__init__(parent)
        self.submit: Submit | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.phone = QLineEdit()
        self.phone.setPlaceholderText(_("Mobile number, e.g. +44 7700 900123"))
        self.phone.setAccessibleName(_("Mobile number for texts"))
        self.email = QLineEdit()
        self.email.setPlaceholderText(_("E-mail, e.g. name@example.org"))
        self.email.setAccessibleName(_("E-mail address"))
        self.consent = QCheckBox(consent)
        self.consent.setAccessibleName(consent)
        for widget in (self.phone, self.email):
            widget.setMinimumHeight(40)
            widget.returnPressed.connect(self.save)
            layout.addWidget(widget)
        layout.addWidget(self.consent)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setAccessibleDescription(_("Problem"))
        self.error.setStyleSheet(f"color: {CLEAR_LIGHT['danger']}; font-weight: bold;")
        self.error.hide()
        layout.addWidget(self.error)
        row = QHBoxLayout()
        self.save_button = QPushButton(save)
        self.save_button.setAccessibleName(save)
        self.save_button.setMinimumHeight(44)
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.save_button)
        self.skip_button: QPushButton | None = None
        if skip is not None:
            self.skip_button = QPushButton(skip)
            self.skip_button.setAccessibleName(skip)
            self.skip_button.setMinimumHeight(44)
            self.skip_button.clicked.connect(self.skipped.emit)
            row.addWidget(self.skip_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleDescription(_("Saved"))
        row.addWidget(self.status, 1)
        layout.addLayout(row)

    @property
    def given(self) -> bool:
        """Something is typed in (a phone or an e-mail)."""
        return bool(self.phone.text().strip() or self.email.text().strip())

    def save(self) -> None:
        spawn(self.send())

    async def send(self) -> bool:
        """Hand what was typed to the core; a refusal is shown under the form."""
        if self.submit is None:
            return False
        if self.skip_button is not None and not self.given:
            self.error.hide()
            self.skipped.emit()
            return False
        self.save_button.setEnabled(False)
        self.status.setText(_("Saving…"))
        try:
            await self.submit(self.phone.text(), self.email.text(), self.consent.isChecked())
        except ContactRefused as refused:
            self.status.setText("")
            self.error.setText(refused.words)
            self.error.show()
            where = {"phone": self.phone, "email": self.email, "consent": self.consent}
            focus = where.get(refused.field)
            if focus is not None:
                focus.setFocus()
            return False
        finally:
            self.save_button.setEnabled(True)
        self.error.hide()
        self.status.setText(
            (_("Saved at {time}.") if self.given else _("Removed at {time}.")).format(
                time=time.strftime("%H:%M")
            )
        )
        self.saved.emit()
        return True
