"""The therapist's clinic before a live session: sign in, the sessions, their invitations.

A connection of its own to the clinic's server; each session opened live gets a
``RoleCore("therapist")`` of its own (``open_live``), signed in with the same name and
secret, so several sessions keep their own state side by side. Qt-free; the console
shows what this returns and says.
"""

from __future__ import annotations

import logging

from companion.app.core import RoleCore
from companion.app.options import CoreOptions
from companion.protocol.messages import InvitedRole, InviteInfo, SessionCreated, SessionInfo
from companion.records import KeyringUnavailable, load_credential, store_credential
from companion.signaling.client import SignalingClient

_log = logging.getLogger(__name__)

INVITED: tuple[InvitedRole, ...] = ("patient", "support")
"""Who a session's invitations are for, in the order they are shown."""
UNREACHABLE = "The clinic server could not be reached. Check the address."


def remembered_secret(server: str, name: str) -> str:
    """The secret kept in this computer's keyring for ``name`` at ``server`` ("" if none,
    or no keyring here)."""
    try:
        return load_credential(server, name) or ""
    except KeyringUnavailable:
        return ""


class Lobby:
    def __init__(self, server: str) -> None:
        self.server_url = server
        self._client = SignalingClient(server)
        self._name = ""
        self._secret = ""

    @property
    def signed_in(self) -> bool:
        return bool(self._name)

    async def use_server(self, server: str) -> None:
        """Another clinic server: the connection to this one is closed."""
        if server != self.server_url:
            await self._client.close()
            self.server_url, self._client = server, SignalingClient(server)

    async def sign_in(self, name: str, secret: str) -> None:
        """Raises ``ProtocolError`` (a plain ``message``: wrong name or secret) or
        ``OSError``/``ConnectionError``/``TimeoutError`` (see ``UNREACHABLE``)."""
        if self._client.state != "online":
            await self._client.connect()
        await self._client.login(name, secret)
        self._name, self._secret = name, secret

    def remember_secret(self) -> str:
        """Keep the signed-in secret in the system keyring; the plain sentence to show."""
        try:
            store_credential(self.server_url, self._name, self._secret)
            return "Your secret is remembered in this computer's keyring."
        except KeyringUnavailable:
            return "Your secret is not remembered on this computer (no keyring here)."
        except Exception as exc:  # a keyring backend failing in its own way
            _log.info("could not keep the secret: %s", type(exc).__name__)
            return "Your secret could not be remembered on this computer."

    async def sessions(self) -> list[SessionInfo]:
        return await self._client.list_sessions()

    async def create_session(self, label: str) -> SessionCreated:
        return await self._client.create_session(label[:120])

    async def new_invites(self, session_id: str) -> list[InviteInfo]:
        """A fresh patient and support invitation for ``session_id``."""
        return [await self._client.create_invite(session_id, role) for role in INVITED]

    async def revoke(self, invite_id: str) -> None:
        await self._client.revoke_invite(invite_id)

    async def open_live(self, session_id: str, options: CoreOptions) -> RoleCore:
        """A started core for ``session_id`` (closed again if any step fails)."""
        core = RoleCore("therapist", self.server_url, options)
        try:
            await core.connect()
            await core.sign_in(self._name, self._secret)
            await core.open_session(session_id)
            await core.start()
        except BaseException:
            await core.close()
            raise
        return core

    async def close(self) -> None:
        await self._client.close()
