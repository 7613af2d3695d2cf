"""The therapist's console: sign in, sessions and invites, live sessions in tabs.

The lobby (sign in, list, create, invite, revoke) is the app core's ``Lobby``; each
opened session gets a ``RoleCore("therapist")`` of its own (from the lobby), in a tab of
its own, so several sessions keep their own state side by side.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import CLEAR_LIGHT, CoreOptions, Lobby, ProcessingSettings, RoleCore
from companion.app.lobby import UNREACHABLE, remembered_secret
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import InviteInfo, SessionInfo
from companion.ui.common import (
    apply_theme,
    card_style,
    fit_to_screen,
    press_with_enter,
    spawn,
    theme_window,
)
from companion.ui.patient.window import wait_closed
from companion.ui.therapist.live import LiveSession, PassphraseMemory, console_button, write_pdf

__all__ = ["InviteRow", "LiveSession", "TherapistConsole", "run_therapist", "write_pdf"]

_ROLE_WORDS = {"patient": "Patient", "support": "Support person"}
GREY = CLEAR_LIGHT["muted"]


def session_status(info: SessionInfo) -> tuple[str, str]:
    """("live" | "upcoming" | "ended", plain words about who is there)."""
    if info.ended:
        return "ended", "ended"
    online = [m.role for m in info.members if m.status == "online" and m.role != "therapist"]
    if online:
        who = " and ".join(_ROLE_WORDS.get(r, r).lower() for r in sorted(set(online)))
        return "live", f"live — {who} online"
    return "upcoming", "upcoming — nobody has joined yet"


class InviteRow(QFrame):
    """One invitation: who it is for, the short code (large, to read over the phone), the
    link, copy buttons and revoke."""

    def __init__(self, invite: InviteInfo, console: TherapistConsole) -> None:
        super().__init__()
        self.invite = invite
        self.revoked = False
        self.setObjectName("invite")
        self.setStyleSheet(card_style("invite", CLEAR_LIGHT))
        row = QHBoxLayout(self)
        words = QVBoxLayout()
        who = _ROLE_WORDS.get(invite.role, invite.role)
        self.label = QLabel(f"{who} · code <b style='font-size:14pt'>{invite.code}</b>")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        expires = time.strftime("%a %d %b %H:%M", time.localtime(invite.expires_at))
        self.link = QLabel(f"<span style='color:{GREY}'>{invite.link}</span>")
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.link.setToolTip(invite.link)
        self.link.setMaximumWidth(760)
        # The link is cut at the card's edge (whole in its tooltip and "Copy link"): as
        # wide as its text, it made the console wider than a 1366-px screen.
        self.link.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.expires = QLabel(f"<span style='color:{GREY}'>Valid until {expires}</span>")
        words.addWidget(self.label)
        words.addWidget(self.link)
        words.addWidget(self.expires)
        row.addLayout(words, 1)
        self.copy_code, self.copy_link = console_button("Copy code"), console_button("Copy link")
        self.copy_code.setAccessibleName(f"Copy the {who.lower()}'s code")
        self.copy_link.setAccessibleName(f"Copy the {who.lower()}'s link")
        self.copy_code.clicked.connect(lambda: self._copy(invite.code, "Code copied."))
        self.copy_link.clicked.connect(lambda: self._copy(invite.link, "Link copied."))
        self.revoke = console_button("Revoke")
        self.revoke.setAccessibleName(f"Revoke the {who.lower()}'s invitation")
        self.revoke.clicked.connect(lambda: spawn(console.revoke(self)))
        self.copied = QLabel("")
        for widget in (self.copied, self.copy_code, self.copy_link, self.revoke):
            row.addWidget(widget)

    def _copy(self, text: str, words: str) -> None:
        QApplication.clipboard().setText(text)
        self.copied.setText(words)

    def mark_revoked(self) -> None:
        self.revoked = True
        who = _ROLE_WORDS.get(self.invite.role, self.invite.role)
        self.label.setText(
            f"{who} · code <s>{self.invite.code}</s> "
            f"<span style='color:{CLEAR_LIGHT['danger']}'>— revoked, no longer works</span>"
        )
        for button in (self.copy_code, self.copy_link, self.revoke):
            button.setEnabled(False)
        self.copied.setText("")


class TherapistConsole(QMainWindow):
    def __init__(
        self,
        server: str,
        data_dir: Path,
        fake_media: bool,
        audio: bool = True,
        voice: ProcessingSettings | None = None,
    ) -> None:
        super().__init__()
        self.audio = audio
        self.server_url = server
        self.data_dir = data_dir
        self.fake_media = fake_media
        self.voice = voice
        """The microphone's noise suppression and automatic gain (``--auto-gain``)."""
        self.lobby = Lobby(server)
        self.passphrases = PassphraseMemory()
        """Typed once in any live tab, used by every session's notes this sitting."""
        self.labels: dict[str, str] = {}
        self.live: dict[str, LiveSession] = {}
        self.invite_rows: list[InviteRow] = []
        self.invites_session: str | None = None
        self.setWindowTitle("Companion — therapist")
        theme_window(self, CLEAR_LIGHT)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.tabs.currentChanged.connect(self._tab_changed)
        press_with_enter(self)

        home = QWidget()
        v = QVBoxLayout(home)
        v.setContentsMargins(16, 12, 16, 12)
        title = QLabel("Companion — therapist console")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        v.addWidget(title)

        self.sign_in_box = QGroupBox("Sign in to your clinic")
        form = QFormLayout(self.sign_in_box)
        self.server_edit = QLineEdit(server)
        self.name_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("Leave empty to use the one remembered here")
        self.secret_edit.returnPressed.connect(self._sign_in_clicked)
        for label, edit in (("Clinic server", self.server_edit), ("Your name", self.name_edit),
                            ("Secret", self.secret_edit)):  # fmt: skip
            edit.setAccessibleName(label)
            form.addRow(label, edit)
        self.remember = QCheckBox("Remember my secret on this computer (system keyring)")
        self.remember.setChecked(True)
        form.addRow("", self.remember)
        self.sign_in_button = console_button("Sign in", primary=True)
        self.sign_in_button.clicked.connect(self._sign_in_clicked)
        form.addRow("", self.sign_in_button)
        v.addWidget(self.sign_in_box)
        status_row = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleDescription("Sign-in status")
        self.switch_button = console_button("Sign in as someone else")
        self.switch_button.clicked.connect(self._switch)
        self.switch_button.hide()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.switch_button)
        v.addLayout(status_row)

        self.work = QWidget()
        w = QHBoxLayout(self.work)
        w.setContentsMargins(0, 0, 0, 0)
        sessions_box = QGroupBox("Your sessions")
        sl = QVBoxLayout(sessions_box)
        self.sessions = QListWidget()
        self.sessions.setAccessibleName("Sessions")
        self.sessions.setWordWrap(True)
        self.sessions.setSpacing(3)
        self.sessions.itemActivated.connect(lambda item: spawn(self.open_live(str(item.data(256)))))
        sl.addWidget(self.sessions, 1)
        buttons = QHBoxLayout()
        self.open_button = console_button("Open live session", primary=True)
        self.open_button.clicked.connect(self._open_selected)
        self.new_invites_button = console_button("New invitations")
        self.new_invites_button.setToolTip("Make a fresh patient and support invitation")
        self.new_invites_button.clicked.connect(self._new_invites_selected)
        refresh = console_button("Refresh")
        refresh.clicked.connect(lambda: spawn(self.refresh()))
        for b in (self.open_button, self.new_invites_button, refresh):
            buttons.addWidget(b)
        sl.addLayout(buttons)
        w.addWidget(sessions_box, 4)

        right = QVBoxLayout()
        create_box = QGroupBox("New session")
        cl = QHBoxLayout(create_box)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("A label only you see, e.g. “Tue 10:00 · R.”")
        self.label_edit.setAccessibleName("New session label")
        self.label_edit.returnPressed.connect(self._create_clicked)
        create = console_button("Create session", primary=True)
        create.clicked.connect(self._create_clicked)
        cl.addWidget(self.label_edit, 1)
        cl.addWidget(create)
        right.addWidget(create_box)
        self.invites_box = QGroupBox("Invitations")
        self.invites = QVBoxLayout(self.invites_box)
        self.invites_hint = QLabel(
            "Create a session to get its invitations: one for the patient, one for the "
            "support person. Send each person their own link, or read them the code."
        )
        self.invites_hint.setWordWrap(True)
        self.invites_hint.setStyleSheet(f"color: {GREY};")
        self.invites.addWidget(self.invites_hint)
        right.addWidget(self.invites_box)
        right.addStretch(1)
        w.addLayout(right, 5)
        v.addWidget(self.work, 1)
        self.work.setEnabled(False)
        self.home = home
        self.tabs.addTab(home, "Sessions")

    # -- lobby -------------------------------------------------------------------------

    def _tab_changed(self, _index: int) -> None:
        self._mark_tabs()
        if self.tabs.currentWidget() is self.home and self.work.isEnabled():
            spawn(self.refresh())

    def _switch(self) -> None:
        self.sign_in_box.show()
        self.switch_button.hide()
        self.name_edit.setFocus()

    def _sign_in_clicked(self) -> None:
        spawn(self.sign_in(self.name_edit.text().strip(), self.secret_edit.text()))

    def _create_clicked(self) -> None:
        spawn(self.create_session(self.label_edit.text().strip()), self._failed)

    def _failed(self, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, ProtocolError) else "That did not work: try again."
        self.status.setText(message)

    def _open_selected(self) -> None:
        item = self.sessions.currentItem()
        if item is not None:
            spawn(self.open_live(str(item.data(256))), self._failed)

    def _new_invites_selected(self) -> None:
        item = self.sessions.currentItem()
        if item is not None:
            spawn(self.new_invites(str(item.data(256))), self._failed)

    async def sign_in(self, name: str, secret: str) -> bool:
        await self.lobby.use_server(self.server_edit.text().strip() or self.server_url)
        self.server_url = self.lobby.server_url
        was_remembered = False
        if not secret:
            secret = remembered_secret(self.server_url, name)
            was_remembered = bool(secret)
            if not secret:
                self.status.setText("Enter your secret (none is remembered on this computer).")
                return False
        self.sign_in_button.setEnabled(False)
        try:
            await self.lobby.sign_in(name, secret)
        except ProtocolError as exc:
            self.status.setText(exc.message)
            return False
        except (OSError, ConnectionError, TimeoutError):
            self.status.setText(UNREACHABLE)
            return False
        finally:
            self.sign_in_button.setEnabled(True)
        self.secret_edit.clear()
        note = ""
        if self.remember.isChecked() and not was_remembered:
            note = " " + self.lobby.remember_secret()
        self.status.setText(f"Signed in as {name} at {self.server_url}.{note}")
        self.sign_in_box.hide()
        self.switch_button.show()
        self.work.setEnabled(True)
        await self.refresh()
        return True

    async def refresh(self) -> None:
        infos = await self.lobby.sessions()
        order = {"live": 0, "upcoming": 1, "ended": 2}
        rows = sorted(
            ((session_status(i), i) for i in infos),
            key=lambda pair: (order[pair[0][0]], -pair[1].created_at),
        )
        self.sessions.clear()
        for (kind, words), info in rows:
            self.labels[info.session_id] = info.label or "Untitled session"
            created = time.strftime("%a %d %b %H:%M", time.localtime(info.created_at))
            tab = " · open in a tab" if info.session_id in self.live else ""
            item = QListWidgetItem(f"{self.labels[info.session_id]}\n{words}{tab} · made {created}")
            item.setData(256, info.session_id)
            item.setData(257, kind)
            if kind == "live":
                item.setForeground(QColor(CLEAR_LIGHT["accent"]))
            elif kind == "ended":
                item.setForeground(QColor(GREY))
            self.sessions.addItem(item)

    def _show_invites(self, session_id: str, invites: list[InviteInfo]) -> None:
        for row in self.invite_rows:
            self.invites.removeWidget(row)
            row.deleteLater()
        self.invite_rows = [InviteRow(i, self) for i in invites]
        self.invites_session = session_id
        label = self.labels.get(session_id, "")
        self.invites_box.setTitle(f"Invitations for “{label}”" if label else "Invitations")
        self.invites_hint.setText(
            "Send each person their own link (or read them the code). "
            "Revoke an invitation that went to the wrong person: its code stops working."
        )
        for row in self.invite_rows:
            self.invites.addWidget(row)

    async def create_session(self, label: str) -> tuple[str, dict[str, InviteInfo]]:
        created = await self.lobby.create_session(label)
        session_id = created.session.session_id
        self.labels[session_id] = label[:120] or "Untitled session"
        self._show_invites(session_id, list(created.invites))
        self.label_edit.clear()
        await self.refresh()
        return session_id, {i.role: i for i in created.invites}

    async def new_invites(self, session_id: str) -> dict[str, InviteInfo]:
        invites = await self.lobby.new_invites(session_id)
        self._show_invites(session_id, invites)
        return {i.role: i for i in invites}

    async def revoke(self, row: InviteRow) -> None:
        await self.lobby.revoke(row.invite.invite_id)
        row.mark_revoked()

    # -- live sessions -----------------------------------------------------------------

    async def open_live(self, session_id: str) -> RoleCore:
        if session_id in self.live:
            self.tabs.setCurrentWidget(self.live[session_id])
            return self.live[session_id].core
        options = CoreOptions(
            data_dir=self.data_dir / "sessions" / session_id, fake_media=self.fake_media,
            audio=self.audio, video=(640, 480, 30) if not self.fake_media else (320, 240, 15),
            voice=self.voice,
        )  # fmt: skip
        core = await self.lobby.open_live(session_id, options)
        label = self.labels.get(session_id, "Live session")
        view = LiveSession(core, self.data_dir, label, passphrases=self.passphrases)
        view.attention.connect(lambda _on: self._mark_tabs())
        self.live[session_id] = view
        self.tabs.addTab(view, label)
        self.tabs.setCurrentWidget(view)
        return core

    def _mark_tabs(self) -> None:
        """A session with an open alert says so on its tab, whichever tab is in front."""
        bar = self.tabs.tabBar()
        for view in self.live.values():
            index = self.tabs.indexOf(view)
            if index < 0:
                continue
            alerting = view.needs_attention
            self.tabs.setTabText(index, f"⚠ {view.label} — alert" if alerting else view.label)
            bar.setTabTextColor(
                index, QColor(CLEAR_LIGHT["danger"] if alerting else CLEAR_LIGHT["text"])
            )

    def live_cores(self) -> list[RoleCore]:
        return [view.core for view in self.live.values()]

    async def close_all(self) -> None:
        for view in self.live.values():
            view.detach()
            await view.core.close()
        await self.lobby.close()

    def save_screenshots(self, folder: Path) -> list[Path]:
        """Every tab, and every page of each live tab, as PNGs in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        current = self.tabs.currentIndex()
        for index in range(self.tabs.count()):
            self.tabs.setCurrentIndex(index)
            page = self.tabs.widget(index)
            if isinstance(page, LiveSession):
                inner = page.tabs.currentIndex()
                for sub in range(page.tabs.count()):
                    page.tabs.setCurrentIndex(sub)
                    name = page.tabs.tabText(sub).lower()
                    path = folder / f"therapist-live{index}-{sub}-{name}.png"
                    self.grab().save(str(path))
                    saved.append(path)
                page.tabs.setCurrentIndex(inner)
            else:
                path = folder / "therapist-sessions.png"
                self.grab().save(str(path))
                saved.append(path)
        self.tabs.setCurrentIndex(current)
        return saved


async def run_therapist(
    app: QApplication,
    server: str,
    data_dir: Path,
    fake_media: bool,
    name: str | None = None,
    secret: str | None = None,
    voice: ProcessingSettings | None = None,
) -> int:
    apply_theme(app, CLEAR_LIGHT)
    console = TherapistConsole(server, data_dir, fake_media, voice=voice)
    fit_to_screen(console, 1400, 880)
    console.show()
    if name:
        console.name_edit.setText(name)
        if secret or _remembered(server, name):
            await console.sign_in(name, secret or "")
    await wait_closed(console)
    await console.close_all()
    return 0


def _remembered(server: str, name: str) -> bool:
    return bool(remembered_secret(server, name))
