"""The therapist's lobby without a window: sign in, sessions, invitations, a live core."""

from __future__ import annotations

import pytest

from companion.app import CoreOptions, Lobby
from companion.protocol.errors import ProtocolError
from tests.app.conftest import CoreClinic


async def test_the_lobby_signs_in_makes_a_session_and_opens_it_live(
    core_clinic: CoreClinic,
) -> None:
    lobby = Lobby(core_clinic.server.ws_url)
    try:
        with pytest.raises(ProtocolError):
            await lobby.sign_in("dr-test", "not the secret")
        assert not lobby.signed_in
        await lobby.sign_in("dr-test", core_clinic.secret)
        created = await lobby.create_session("Tue 10:00")
        session_id = created.session.session_id
        assert [s.session_id for s in await lobby.sessions()] == [session_id]
        invites = await lobby.new_invites(session_id)
        assert [i.role for i in invites] == ["patient", "support"]
        await lobby.revoke(invites[0].invite_id)
        options = CoreOptions(
            data_dir=core_clinic.folder / "therapist", fake_media=True, audio=False
        )
        core = await lobby.open_live(session_id, options)
        try:
            assert core.session_id == session_id and core.guardian is not None
        finally:
            await core.close()
    finally:
        await lobby.close()
