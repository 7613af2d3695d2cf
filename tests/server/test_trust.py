"""Issue 17, the server's half: resume tokens rotate, short codes cannot be guessed or
reused by another device. On both stores (in memory, and over a real Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from companion.protocol.messages import InviteInfo, PromptPush, SessionEvent
from companion.server.app import ServerConfig, SignalingServer
from companion.server.guard import AddressLimits
from companion.signaling.client import SignalingClient
from tests.conftest import Clinic
from tests.server.raw import RawClient
from tests.server.test_flow import server_config  # noqa: F401  (both stores)
from tests.server.test_redis_nodes import two_nodes  # noqa: F401


def _device() -> str:
    return secrets.token_urlsafe(16)


def _in_order(wanted: list[str], seen: list[str]) -> bool:
    rest = iter(seen)
    return all(kind in rest for kind in wanted)  # each found after the one before


@dataclass
class Room:
    """A therapist in a fresh session, watching its timeline."""

    clinic: Clinic
    therapist: SignalingClient
    patient_invite: InviteInfo
    timeline: list[SessionEvent]

    @property
    def url(self) -> str:
        return self.clinic.url

    def kinds(self) -> list[str]:
        """What the timeline said about the others."""
        me = self.therapist.member_id
        return [e.event.kind for e in self.timeline if getattr(e.event, "member_id", "") != me]

    async def wait_for(self, kinds: list[str], timeout: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not _in_order(kinds, self.kinds()):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timeline: {self.kinds()}, expected {kinds}") from None


@pytest.fixture
async def room(clinic: Clinic) -> AsyncIterator[Room]:
    therapist = SignalingClient(clinic.url)
    await therapist.connect()
    await therapist.login(clinic.therapist, clinic.secret)
    created = await therapist.create_session()
    await therapist.join(session_id=created.session.session_id)
    timeline: list[SessionEvent] = []
    therapist.event_received.connect(timeline.append)
    patient_invite = next(i for i in created.invites if i.role == "patient")
    yield Room(clinic, therapist, patient_invite, timeline)
    await therapist.close()


async def _joined(url: str, invite: str, device: str | None) -> tuple[RawClient, dict[str, Any]]:
    client = await RawClient.open(url)
    join: dict[str, Any] = {"type": "join", "invite": invite}
    if device is not None:
        join["device"] = device
    return client, await client.request(join, "joined")


async def _refused(url: str, message: dict[str, Any]) -> str:
    """The error code a fresh connection gets for ``message`` ("joined" if it got in)."""
    client = await RawClient.open(url)
    try:
        await client.send(message)
        async with asyncio.timeout(5):
            while (reply := await client.recv())["type"] not in ("error", "joined"):
                pass
        return str(reply.get("code", reply["type"]))
    finally:
        await client.close()


async def _miss_ten_times(url: str, **kwargs: Any) -> None:
    """Ten wrong codes from one client over three connections (each allows five): the
    first nine are unknown codes, the tenth ends this address's allowance."""
    codes: list[str] = []
    for start in range(0, 10, 4):
        client = await RawClient.open(url, **kwargs)
        try:
            for n in range(start, min(start + 4, 10)):
                await client.send({"type": "join", "invite": f"ZZZZ-ZZ{n:02d}"})
                codes.append((await client.recv_type("error"))["code"])
        finally:
            await client.close()
    assert codes == ["code_unknown"] * 9 + ["too_many_attempts"]


async def _still_open(client: RawClient, for_s: float = 0.5) -> bool:
    """Nothing but ordinary traffic (no close, no error) arrives for ``for_s``."""
    try:
        async with asyncio.timeout(for_s):
            while True:
                msg = await client.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT or '"type":"error"' in msg.data:
                    return False
    except TimeoutError:
        return True


async def test_a_rejoin_revokes_every_older_resume_token(room: Room) -> None:
    device = _device()
    first, joined = await _joined(room.url, room.patient_invite.token, device)
    tokens = [joined["resume_token"]]
    await first.close()
    await room.wait_for(["member.joined", "member.lost"])
    # Back by resuming: a new token, and the one used is dead from now on.
    second = await RawClient.open(room.url)
    resumed = await second.request(
        {"type": "resume", "resume_token": tokens[0], "last_seq": 0}, "joined"
    )
    assert resumed["member_id"] == joined["member_id"]
    tokens.append(resumed["resume_token"])
    assert (
        await _refused(room.url, {"type": "resume", "resume_token": tokens[0], "last_seq": 0})
        == "resume_invalid"
    )
    assert await _still_open(second)
    # Leave, then join again with the invite on the same device: the same member again.
    await second.request({"type": "leave", "rid": "l"}, "ok")
    await second.close()
    third, again = await _joined(room.url, room.patient_invite.token, device)
    assert again["member_id"] == joined["member_id"]
    try:
        for old in tokens:  # every token issued before the re-join stays dead
            resume = {"type": "resume", "resume_token": old, "last_seq": 0}
            assert await _refused(room.url, resume) == "resume_invalid"
        assert await _still_open(third)  # the holder was not replaced (close 4001)
    finally:
        await third.close()


async def test_another_device_with_the_patients_code_is_kept_out_and_the_therapist_told(
    room: Room,
) -> None:
    code, device = room.patient_invite.code, _device()
    first, joined = await _joined(room.url, code, device)
    # While the patient is connected, and while it is lost (it can still resume).
    stranger = {"type": "join", "invite": code, "device": _device()}
    assert await _refused(room.url, stranger) == "device_bound"
    await first.close()
    await room.wait_for(["member.lost"])  # (its arrival and the refusal: in either order)
    assert sorted(room.kinds()) == ["member.joined", "member.lost", "member.refused"]
    assert await _refused(room.url, stranger) == "device_bound"
    assert await _refused(room.url, {"type": "join", "invite": code}) == "device_bound"
    # The link of the same invite is no way around it.
    link = {"type": "join", "invite": room.patient_invite.token, "device": _device()}
    assert await _refused(room.url, link) == "device_bound"
    await room.wait_for(["member.refused"] * 4)
    refusal = next(e.event for e in room.timeline if e.event.kind == "member.refused")
    assert (getattr(refusal, "member_id", None), getattr(refusal, "role", None)) == (
        joined["member_id"],
        "patient",
    )
    # The patient's own device takes its place back (an app restarted after a crash).
    back, again = await _joined(room.url, code, device)
    assert again["member_id"] == joined["member_id"]
    # Once the patient has left, another device is someone new, and announced as such.
    await back.request({"type": "leave", "rid": "l"}, "ok")
    await back.close()
    newcomer, other = await _joined(room.url, code, _device())
    try:
        assert other["member_id"] != joined["member_id"]
        await room.wait_for(["member.back", "member.left", "member.joined"])
    finally:
        await newcomer.close()


async def test_the_same_device_twice_at_once_is_told_the_invite_is_in_use(room: Room) -> None:
    device = _device()
    first, _ = await _joined(room.url, room.patient_invite.token, device)
    try:
        join = {"type": "join", "invite": room.patient_invite.token, "device": device}
        assert await _refused(room.url, join) == "invite_in_use"
        assert "member.refused" not in room.kinds()
    finally:
        await first.close()


async def test_wrong_codes_are_limited_per_address_across_connections(room: Room) -> None:
    right = room.patient_invite.code
    await _miss_ten_times(room.url)
    # A fresh connection, even with the right code: wait a minute.
    join = {"type": "join", "invite": right, "device": _device()}
    assert await _refused(room.url, join) == "too_many_attempts"
    # Invite links cannot be guessed and still work from the same address.
    client, _ = await _joined(room.url, room.patient_invite.token, _device())
    await client.close()


async def test_a_code_presented_by_other_devices_locks(room: Room) -> None:
    code, device = room.patient_invite.code, _device()
    holder, _ = await _joined(room.url, code, device)
    try:
        for _ in range(20):
            join = {"type": "join", "invite": code, "device": _device()}
            assert await _refused(room.url, join) == "device_bound"
        assert await _refused(room.url, {"type": "join", "invite": code}) == "code_locked"
        await room.wait_for(["member.refused"] * 20)
        await asyncio.sleep(0.3)
        assert room.kinds().count("member.refused") == 20  # news stops where the lock starts
    finally:
        await holder.close()
    # The code's own device still gets back in with it (the app restarted after a crash).
    await room.wait_for(["member.lost"])
    back, _ = await _joined(room.url, code, device)
    await back.close()


async def test_a_device_whose_newest_token_was_lost_takes_its_place_back_with_what_it_missed(
    room: Room,
) -> None:
    """The newest resume token never reached the device (its socket died with the reply):
    its old token is dead, so it joins again with its invite and device, and gets its own
    place back with the events it missed, as a resume would have given them."""
    patient = SignalingClient(room.url)
    prompts: list[str] = []
    patient.event_received.connect(
        lambda e: (
            prompts.append(getattr(e.event, "prompt_id", ""))
            if e.event.kind == "prompt.push"
            else None
        )
    )
    try:
        await patient.connect()
        joined = await patient.join(invite=room.patient_invite.token)  # its own device secret
        # Someone else takes the place with the newest token (as if the reply with it had
        # reached only them); the patient's socket is closed, its token is dead.
        other = await RawClient.open(room.url)
        resume = {"type": "resume", "resume_token": joined.resume_token, "last_seq": 0}
        await other.request(resume, "joined")
        await room.therapist.send_event(PromptPush(kind="prompt.push", prompt_id="missed-one"))
        await asyncio.sleep(0.5)
        await other.close()
        async with asyncio.timeout(15):
            while "missed-one" not in prompts or patient.state != "online":
                await asyncio.sleep(0.05)
        assert patient.member_id == joined.member_id
    finally:
        await patient.close()


async def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(tmp_path: Path) -> None:
    """The proxy's own X-Forwarded-For line counts, not one a client wrote before it."""
    config = ServerConfig(
        data_dir=tmp_path / "server",
        port=0,
        address_limits=AddressLimits(trusted_proxies=frozenset({"127.0.0.1"})),
    )
    async with SignalingServer(config) as server:

        def via_proxy(client: str) -> CIMultiDict[str]:
            # The client claims a fresh address each time; the proxy appends what it saw.
            return CIMultiDict([("X-Forwarded-For", _device()), ("X-Forwarded-For", client)])

        await _miss_ten_times(server.ws_url, headers=via_proxy("203.0.113.7"))
        joins = {"type": "join", "invite": "ZZZZ-ZZZZ"}
        for client, expected in (
            ("203.0.113.7", "too_many_attempts"),
            ("203.0.113.8", "code_unknown"),
        ):
            raw = await RawClient.open(server.ws_url, headers=via_proxy(client))
            try:
                await raw.send(joins)
                assert (await raw.recv_type("error"))["code"] == expected
            finally:
                await raw.close()


async def test_wrong_codes_count_on_every_node(
    two_nodes: tuple[SignalingServer, SignalingServer],  # noqa: F811  (the fixture)
) -> None:
    """Nodes sharing Redis share the count: moving to another node earns no new tries."""
    first, second = two_nodes
    await _miss_ten_times(first.ws_url)
    join = {"type": "join", "invite": "ZZZZ-ZZZZ"}
    assert await _refused(second.ws_url, join) == "too_many_attempts"
