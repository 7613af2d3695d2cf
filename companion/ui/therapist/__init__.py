"""The therapist's console: sign in, sessions and invites, live sessions in tabs.

The lobby (sign in, list, create, invite, revoke) is the app core's ``Lobby``; each
opened session gets a ``RoleCore("therapist")`` of its own (from the lobby), in a tab of
its own, so several sessions keep their own state side by side.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QColor, QFont
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
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from companion.app import CLEAR_LIGHT, CoreOptions, Lobby, ProcessingSettings, RoleCore
from companion.app.lobby import UNREACHABLE, remembered_secret
from companion.app.voice import VoiceStudio
from companion.app.words import error_words
from companion.i18n import N_, _, day_and_time
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import InviteInfo, SessionInfo
from companion.ui.common import (
    ElidedLabel,
    apply_theme,
    card_style,
    fit_to_screen,
    press_with_enter,
    spawn,
    theme_window,
)
from companion.ui.language import LanguagePicker, Rebuildable, start_language
from companion.ui.therapist.live import LiveSession, PassphraseMemory, console_button, write_pdf
from companion.ui.therapist.voice import VoicePage
from companion.ui.widgets import InlineQuestion

__all__ = ["InviteRow", "LiveSession", "TherapistConsole", "run_therapist", "write_pdf"]

_ROLE_WORDS = {"patient": N_("Patient"), "support": N_("Support person")}
GREY = CLEAR_LIGHT["muted"]


def session_status(info: SessionInfo) -> tuple[str, str]:
    """("live" | "upcoming" | "ended", plain words about who is there)."""
    if info.ended:
        return "ended", "ended"
    online = [m.role for m in info.members if m.status == "online" and m.role != "therapist"]
    if online:
        who = " and ".join(_(_ROLE_WORDS.get(r, r)).lower() for r in sorted(set(online)))
        return "live", _("live — {who} online").format(who=who)
    return "upcoming", _("upcoming — nobody has joined yet")


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
        who = _(_ROLE_WORDS.get(invite.role, invite.role))
        self.label = QLabel(
            _("{who} · code <b style='font-size:14pt'>{code}</b>").format(who=who, code=invite.code)
        )
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        expires = day_and_time(invite.expires_at)
        # As much as fits (the whole link is in the tooltip and "Copy link"): a link is one
        # long word, and the row must fit a 1366-pixel screen.
        self.link = ElidedLabel(invite.link, GREY)
        self.link.setMaximumWidth(760)
        self.expires = QLabel(
            _("<span style='color:{GREY}'>Valid until {expires}</span>").format(
                GREY=GREY, expires=expires
            )
        )
        words.addWidget(self.label)
        words.addWidget(self.link)
        self.copy_code, self.copy_link = (
            console_button(_("Copy code")),
            console_button(_("Copy link")),
        )
        self.copy_code.setAccessibleName(_("Copy the {role}'s code").format(role=who.lower()))
        self.copy_link.setAccessibleName(_("Copy the {role}'s link").format(role=who.lower()))
        self.copy_code.clicked.connect(lambda: self._copy(invite.code, _("Code copied.")))
        self.copy_link.clicked.connect(lambda: self._copy(invite.link, _("Link copied.")))
        self.copy_web: QPushButton | None = None
        if invite.web_link:
            # The status board in a phone's browser (no app to install): a link the
            # therapist can text to the support person.
            web = invite.web_link
            self.web_link = ElidedLabel(_("On a phone: {link}").format(link=web), GREY)
            self.web_link.setToolTip(web)
            self.web_link.setMaximumWidth(760)
            words.addWidget(self.web_link)
            self.copy_web = console_button(_("Copy phone link"))
            self.copy_web.setAccessibleName(
                _("Copy the {role}'s phone link").format(role=who.lower())
            )
            self.copy_web.clicked.connect(lambda: self._copy(web, _("Phone link copied.")))
        words.addWidget(self.expires)
        row.addLayout(words, 1)
        self.revoke = console_button(_("Revoke"))
        self.revoke.setAccessibleName(_("Revoke the {role}'s invitation").format(role=who.lower()))
        self.revoke.clicked.connect(lambda: spawn(console.revoke(self)))
        self.copied = QLabel("")
        for widget in (self.copied, self.copy_code, self.copy_link, self.copy_web, self.revoke):
            if widget is not None:
                row.addWidget(widget)

    def _copy(self, text: str, words: str) -> None:
        QApplication.clipboard().setText(text)
        self.copied.setText(words)

    def mark_revoked(self) -> None:
        self.revoked = True
        who = _(_ROLE_WORDS.get(self.invite.role, self.invite.role))
        self.label.setText(
            _(
                "{who} · code <s>{code}</s> <span style='color:{value}'>— revoked, no longer works</span>"
            ).format(who=who, code=self.invite.code, value=CLEAR_LIGHT["danger"])
        )
        for button in (self.copy_code, self.copy_link, self.copy_web, self.revoke):
            if button is not None:
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
        self.voice_page: VoicePage | None = None
        """"Your voice", once signed in: the lines recorded in the therapist's voice."""
        self.setWindowTitle(_("Companion — therapist"))
        theme_window(self, CLEAR_LIGHT)
        self.tabs = QTabWidget()
        # Closing mid-session asks first, inside the window (a modal dialog's nested
        # event loop would stop the calls): the patient's call ends with the console.
        self._close_confirmed = False
        self.close_question = InlineQuestion(_("Stay in the session"), _("Close the console"))
        self.close_question.answered.connect(self._close_answered)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.close_question)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.tabs.currentChanged.connect(self._tab_changed)
        press_with_enter(self)

        home = QWidget()
        v = QVBoxLayout(home)
        v.setContentsMargins(16, 12, 16, 12)
        title = QLabel(_("Companion — therapist console"))
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        v.addWidget(title)

        self.sign_in_box = QGroupBox(_("Sign in to your clinic"))
        form = QFormLayout(self.sign_in_box)
        self.server_edit = QLineEdit(server)
        self.name_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText(_("Leave empty to use the one remembered here"))
        self.secret_edit.returnPressed.connect(self._sign_in_clicked)
        for label, edit in (
            (_("Clinic server"), self.server_edit),
            (_("Your name"), self.name_edit),
            (_("Secret"), self.secret_edit),
        ):
            edit.setAccessibleName(label)
            form.addRow(label, edit)
        self.remember = QCheckBox(_("Remember my secret on this computer (system keyring)"))
        self.remember.setChecked(True)
        form.addRow("", self.remember)
        self.sign_in_button = console_button(_("Sign in"), primary=True)
        self.sign_in_button.clicked.connect(self._sign_in_clicked)
        form.addRow("", self.sign_in_button)
        v.addWidget(self.sign_in_box)
        status_row = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleDescription(_("Sign-in status"))
        self.switch_button = console_button(_("Sign in as someone else"))
        self.switch_button.clicked.connect(self._switch)
        self.switch_button.hide()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.switch_button)
        v.addLayout(status_row)

        self.work = QWidget()
        w = QHBoxLayout(self.work)
        w.setContentsMargins(0, 0, 0, 0)
        sessions_box = QGroupBox(_("Your sessions"))
        sl = QVBoxLayout(sessions_box)
        self.sessions = QListWidget()
        self.sessions.setAccessibleName(_("Sessions"))
        self.sessions.setWordWrap(True)
        self.sessions.setSpacing(3)
        self.sessions.itemActivated.connect(lambda item: spawn(self.open_live(str(item.data(256)))))
        sl.addWidget(self.sessions, 1)
        buttons = QHBoxLayout()
        self.open_button = console_button(_("Open live session"), primary=True)
        self.open_button.clicked.connect(self._open_selected)
        self.new_invites_button = console_button(_("New invitations"))
        self.new_invites_button.setToolTip(_("Make a fresh patient and support invitation"))
        self.new_invites_button.clicked.connect(self._new_invites_selected)
        refresh = console_button(_("Refresh"))
        refresh.clicked.connect(lambda: spawn(self.refresh()))
        for b in (self.open_button, self.new_invites_button, refresh):
            buttons.addWidget(b)
        sl.addLayout(buttons)
        w.addWidget(sessions_box, 4)

        right = QVBoxLayout()
        create_box = QGroupBox(_("New session"))
        cl = QHBoxLayout(create_box)
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText(_("A label only you see, e.g. “Tue 10:00 · R.”"))
        self.label_edit.setAccessibleName(_("New session label"))
        self.label_edit.returnPressed.connect(self._create_clicked)
        create = console_button(_("Create session"), primary=True)
        create.clicked.connect(self._create_clicked)
        cl.addWidget(self.label_edit, 1)
        cl.addWidget(create)
        right.addWidget(create_box)
        self.invites_box = QGroupBox(_("Invitations"))
        self.invites = QVBoxLayout(self.invites_box)
        self.invites_hint = QLabel(
            _(
                "Create a session to get its invitations: one for the patient, one for the "
                "support person. Send each person their own link, or read them the code."
            )
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
        self.tabs.addTab(home, _("Sessions"))

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
        message = (
            error_words(exc)
            if isinstance(exc, ProtocolError)
            else _("That did not work: try again.")
        )
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
                self.status.setText(_("Enter your secret (none is remembered on this computer)."))
                return False
        self.sign_in_button.setEnabled(False)
        try:
            await self.lobby.sign_in(name, secret)
        except ProtocolError as exc:
            self.status.setText(error_words(exc))
            return False
        except (OSError, ConnectionError, TimeoutError):
            self.status.setText(_(UNREACHABLE))
            return False
        finally:
            self.sign_in_button.setEnabled(True)
        self.secret_edit.clear()
        note = ""
        if self.remember.isChecked() and not was_remembered:
            note = " " + self.lobby.remember_secret()
        self.status.setText(
            _("Signed in as {name} at {server_url}.{note}").format(
                name=name, server_url=self.server_url, note=note
            )
        )
        self.sign_in_box.hide()
        self.switch_button.show()
        self.work.setEnabled(True)
        self._show_voice(name)
        await self.refresh()
        return True

    def _show_voice(self, name: str) -> None:
        if self.voice_page is not None:
            self.tabs.removeTab(self.tabs.indexOf(self.voice_page))
            self.voice_page.studio.close()
        self.voice_page = VoicePage(
            VoiceStudio(self.data_dir, name),
            known=lambda: self.passphrases.value,
            saved=lambda: spawn(self.send_voice()),
        )
        self.tabs.insertTab(1, self.voice_page, _("Your voice"))
        spawn(self.voice_page.refresh())

    async def send_voice(self, cores: list[RoleCore] | None = None) -> None:
        """The recorded lines to the patients of the live sessions (a line recorded during
        a session is heard from then on)."""
        page = self.voice_page
        if page is None or not page.studio.book.unlocked:
            return
        # Every language's: the patient's app keeps those in its own language.
        recordings = await page.studio.book.recordings()
        for core in self.live_cores() if cores is None else cores:
            if not core.facts.ended:
                core.send_voice(recordings)

    async def refresh(self) -> None:
        infos = await self.lobby.sessions()
        order = {"live": 0, "upcoming": 1, "ended": 2}
        rows = sorted(
            ((session_status(i), i) for i in infos),
            key=lambda pair: (order[pair[0][0]], -pair[1].created_at),
        )
        self.sessions.clear()
        for (kind, words), info in rows:
            self.labels[info.session_id] = info.label or _("Untitled session")
            created = day_and_time(info.created_at)
            tab = _(" · open in a tab") if info.session_id in self.live else ""
            item = QListWidgetItem(
                _("{label}\n{words}{tab} · made {created}").format(
                    label=self.labels[info.session_id], words=words, tab=tab, created=created
                )
            )
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
        self.invites_box.setTitle(
            _("Invitations for “{label}”").format(label=label) if label else _("Invitations")
        )
        self.invites_hint.setText(
            _(
                "Send each person their own link (or read them the code). "
                "Revoke an invitation that went to the wrong person: its code stops working."
            )
        )
        for row in self.invite_rows:
            self.invites.addWidget(row)

    async def create_session(self, label: str) -> tuple[str, dict[str, InviteInfo]]:
        created = await self.lobby.create_session(label)
        session_id = created.session.session_id
        self.labels[session_id] = label[:120] or _("Untitled session")
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
            data_dir=self.data_dir / "sessions" / session_id,
            fake_media=self.fake_media,
            audio=self.audio,
            video=(640, 480, 30) if not self.fake_media else (320, 240, 15),
            voice=self.voice,
        )
        core = await self.lobby.open_live(session_id, options)
        await self.send_voice([core])
        label = self.labels.get(session_id, _("Live session"))
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
            self.tabs.setTabText(
                index, _("⚠ {label} — alert").format(label=view.label) if alerting else view.label
            )
            bar.setTabTextColor(
                index, QColor(CLEAR_LIGHT["danger"] if alerting else CLEAR_LIGHT["text"])
            )

    def live_sessions_running(self) -> list[LiveSession]:
        return [view for view in self.live.values() if not view.core.facts.ended]

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.live_sessions_running() and not self._close_confirmed:
            event.ignore()
            self.close_question.ask(
                _(
                    "Close the console? The patient's call ends: they will hear that your "
                    "connection dropped and that the music keeps playing, and the support "
                    "person will be told. The session stays open: start the console again "
                    "and open it to come back."
                )
            )
            self.raise_()
            self.activateWindow()
            return
        super().closeEvent(event)

    def _close_answered(self, close: bool) -> None:
        if close:
            self._close_confirmed = True
            self.close()

    def live_cores(self) -> list[RoleCore]:
        return [view.core for view in self.live.values()]

    async def close_all(self) -> None:
        if self.voice_page is not None:
            self.voice_page.studio.close()
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
                name = "your-voice" if page is self.voice_page else "sessions"
                path = folder / f"therapist-{name}.png"
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
    start_language(data_dir)
    apply_theme(app, CLEAR_LIGHT)

    def build() -> TherapistConsole:
        console = TherapistConsole(server, data_dir, fake_media, voice=voice)
        # Before signing in the console is rebuilt in the new language; after, the choice
        # shows from the next opening (live sessions stay as they are).
        home = console.tabs.widget(0)
        page = home.layout() if home is not None else None
        assert isinstance(page, QVBoxLayout)
        page.insertWidget(1, LanguagePicker(data_dir, now=lambda: can_rebuild(console)))
        fit_to_screen(console, 1400, 880)
        return console

    def can_rebuild(console: TherapistConsole) -> bool:
        return not console.live and console.sign_in_box.isVisible()

    consoles = Rebuildable(build, can_rebuild, lambda c: spawn(c.close_all()))
    console = consoles.show()
    if name:
        console.name_edit.setText(name)
        if secret or _remembered(server, name):
            await console.sign_in(name, secret or "")
    console = await consoles.closed()
    await console.close_all()
    return 0


def _remembered(server: str, name: str) -> bool:
    return bool(remembered_secret(server, name))
