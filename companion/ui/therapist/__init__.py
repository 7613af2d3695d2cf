"""The therapist's console: sign in, sessions and invites, live sessions in tabs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import CoreOptions, RoleCore
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import InviteInfo
from companion.records import KeyringUnavailable, load_credential, store_credential
from companion.signaling.client import SignalingClient
from companion.ui.common import CLEAR_LIGHT, apply_theme, spawn, theme_window
from companion.ui.patient.window import wait_closed
from companion.ui.therapist.live import LiveSession

__all__ = ["InviteRow", "LiveSession", "TherapistConsole", "run_therapist"]


def _button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(text)
    button.setMinimumHeight(36)
    return button


class InviteRow(QWidget):
    def __init__(self, invite: InviteInfo, console: TherapistConsole) -> None:
        super().__init__()
        self.invite = invite
        row = QHBoxLayout(self)
        who = "Patient" if invite.role == "patient" else "Support person"
        self.label = QLabel(f"{who}: code <b>{invite.code}</b>")
        row.addWidget(self.label, 1)
        copy_code, copy_link = _button("Copy code"), _button("Copy link")
        copy_code.clicked.connect(lambda: QApplication.clipboard().setText(invite.code))
        copy_link.clicked.connect(lambda: QApplication.clipboard().setText(invite.link))
        self.revoke = _button("Revoke")
        self.revoke.clicked.connect(lambda: spawn(console.revoke(self)))
        for b in (copy_code, copy_link, self.revoke):
            row.addWidget(b)


class TherapistConsole(QMainWindow):
    def __init__(self, server: str, data_dir: Path, fake_media: bool, audio: bool = True) -> None:
        super().__init__()
        self.audio = audio
        self.server_url = server
        self.data_dir = data_dir
        self.fake_media = fake_media
        self.lobby = SignalingClient(server)
        self._name = ""
        self._secret = ""
        self.live: dict[str, LiveSession] = {}
        self.setWindowTitle("Companion — therapist")
        theme_window(self, CLEAR_LIGHT)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)

        home = QWidget()
        v = QVBoxLayout(home)
        form = QFormLayout()
        self.server_edit = QLineEdit(server)
        self.name_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        for label, edit in (("Clinic server", self.server_edit), ("Name", self.name_edit),
                            ("Secret", self.secret_edit)):  # fmt: skip
            edit.setAccessibleName(label)
            form.addRow(label, edit)
        v.addLayout(form)
        self.sign_in_button = _button("Sign in")
        self.sign_in_button.clicked.connect(
            lambda: spawn(self.sign_in(self.name_edit.text(), self.secret_edit.text()))
        )
        v.addWidget(self.sign_in_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        v.addWidget(self.status)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("Label for a new session (no names needed)")
        self.label_edit.setAccessibleName("New session label")
        create = _button("Create a session")
        create.clicked.connect(lambda: spawn(self.create_session(self.label_edit.text())))
        row = QHBoxLayout()
        row.addWidget(self.label_edit, 1)
        row.addWidget(create)
        v.addLayout(row)
        self.invites = QVBoxLayout()
        v.addLayout(self.invites)
        v.addWidget(QLabel("Sessions"))
        self.sessions = QListWidget()
        self.sessions.setAccessibleName("Sessions")
        self.sessions.itemActivated.connect(lambda item: spawn(self.open_live(str(item.data(256)))))
        v.addWidget(self.sessions, 1)
        open_button = _button("Open the selected session")
        open_button.clicked.connect(self._open_selected)
        v.addWidget(open_button)
        self.tabs.addTab(home, "Sessions")

    def _open_selected(self) -> None:
        item = self.sessions.currentItem()
        if item is not None:
            spawn(self.open_live(str(item.data(256))))

    async def sign_in(self, name: str, secret: str) -> bool:
        if not secret:
            try:
                secret = load_credential(self.server_url, name) or ""
            except KeyringUnavailable:
                secret = ""
        try:
            if self.lobby.state != "online":
                await self.lobby.connect()
            await self.lobby.login(name, secret)
        except ProtocolError as exc:
            self.status.setText(exc.message)
            return False
        except (OSError, ConnectionError, TimeoutError):
            self.status.setText("The clinic server could not be reached.")
            return False
        self._name, self._secret = name, secret
        try:
            store_credential(self.server_url, name, secret)
            remembered = "Your secret is kept in this computer's keyring."
        except (KeyringUnavailable, Exception):
            remembered = "Your secret is not remembered on this computer (no keyring)."
        self.status.setText(f"Signed in as {name}. {remembered}")
        await self.refresh()
        return True

    async def refresh(self) -> None:
        self.sessions.clear()
        for info in await self.lobby.list_sessions():
            item = QListWidgetItem(f"{info.label or info.session_id}")
            item.setData(256, info.session_id)
            self.sessions.addItem(item)

    async def create_session(self, label: str) -> tuple[str, dict[str, InviteInfo]]:
        created = await self.lobby.create_session(label[:120])
        invites: dict[str, InviteInfo] = {i.role: i for i in created.invites}
        while self.invites.count():
            old = self.invites.takeAt(0)
            if old is not None and old.widget() is not None:
                old.widget().deleteLater()  # type: ignore[union-attr]
        for invite in created.invites:
            self.invites.addWidget(InviteRow(invite, self))
        await self.refresh()
        return created.session.session_id, invites

    async def revoke(self, row: InviteRow) -> None:
        await self.lobby.revoke_invite(row.invite.invite_id)
        row.label.setText(row.label.text() + " — revoked")
        row.revoke.setEnabled(False)

    async def open_live(self, session_id: str) -> RoleCore:
        if session_id in self.live:
            self.tabs.setCurrentWidget(self.live[session_id])
            return self.live[session_id].core
        options = CoreOptions(
            data_dir=self.data_dir, fake_media=self.fake_media, audio=self.audio,
            video=(320, 240, 15),
        )  # fmt: skip
        core = RoleCore("therapist", self.server_url, options)
        await core.connect()
        await core.sign_in(self._name, self._secret)
        await core.open_session(session_id)
        await core.start()
        view = LiveSession(core, self.data_dir)
        self.live[session_id] = view
        self.tabs.addTab(view, f"Live {len(self.live)}")
        self.tabs.setCurrentWidget(view)
        return core

    def live_cores(self) -> list[RoleCore]:
        return [view.core for view in self.live.values()]

    async def close_all(self) -> None:
        for core in self.live_cores():
            await core.close()
        await self.lobby.close()

    def save_screenshots(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        current = self.tabs.currentIndex()
        for index in range(self.tabs.count()):
            self.tabs.setCurrentIndex(index)
            path = folder / f"therapist-{index}.png"
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
) -> int:
    apply_theme(app, CLEAR_LIGHT)
    console = TherapistConsole(server, data_dir, fake_media)
    console.resize(1400, 880)
    console.show()
    if name:
        console.name_edit.setText(name)
        if secret or _remembered(server, name):
            await console.sign_in(name, secret or "")
    await wait_closed(console)
    await console.close_all()
    return 0


def _remembered(server: str, name: str) -> bool:
    try:
        return bool(load_credential(server, name))
    except KeyringUnavailable:
        return False
