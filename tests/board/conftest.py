"""The support person's board in headless Chromium, against a real server and the real
therapist's and patient's cores (companion/app RoleCore)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from companion.app import CoreOptions, RoleCore
from companion.protocol.messages import InvitedRole, InviteInfo
from companion.server.app import SignalingServer
from tests.board.cdp import CHROMIUM, Browser, Page

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium")


async def until(predicate: Callable[[], bool], within_s: float = 15.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


@dataclass
class Session:
    therapist: RoleCore
    patient: RoleCore
    invites: dict[InvitedRole, InviteInfo]

    @property
    def board_link(self) -> str:
        link = self.invites["support"].web_link
        assert link is not None
        return link


@dataclass
class BoardRig:
    server: SignalingServer
    secret: str
    folder: Path
    browser: Browser | None = None
    cores: list[RoleCore] | None = None

    def core(self, role: str) -> RoleCore:
        options = CoreOptions(
            data_dir=self.folder / role, fake_media=True, audio=False, video=(160, 120, 10)
        )
        core = RoleCore(role, self.server.ws_url, options)  # type: ignore[arg-type]
        assert self.cores is not None
        self.cores.append(core)
        return core

    async def session(self, patient: bool = True) -> Session:
        """A therapist in their session, and (``patient``) the patient's app joined and
        started: both cores real, their call up once the patient is in."""
        therapist = self.core("therapist")
        await therapist.connect()
        await therapist.sign_in("dr-board", self.secret)
        created = await therapist.signaling.create_session("board")
        invites = {i.role: i for i in created.invites}
        await therapist.open_session(created.session.session_id)
        await therapist.start()
        core = self.core("patient")
        if patient:
            await core.connect()
            await core.join(invites["patient"].token)
            await core.start()
        return Session(therapist, core, invites)

    async def page(self, url: str, phone: bool = True) -> Page:
        if self.browser is None:
            self.browser = await Browser.start(self.folder / "chromium")
        page = await self.browser.open("about:blank")
        if phone:
            await page.phone()
        await page.goto(url)
        await page.wait_for("document.readyState === 'complete' && !!window.companionBoard")
        return page

    async def join(self, page: Page) -> None:
        """Press "Join the session" as a person does, and wait for the board."""
        await page.tap("join")
        await page.wait_for("!document.getElementById('board').hidden", timeout=15)


@pytest.fixture
async def rig(server: SignalingServer, tmp_path: Path) -> AsyncIterator[BoardRig]:
    _, secret = server.db.add_therapist("dr-board")
    rig = BoardRig(server, secret, tmp_path, cores=[])
    try:
        yield rig
    finally:
        if rig.browser is not None:
            for page in rig.browser.pages:
                print("\n".join(page.console()))
            await rig.browser.close()
        for core in reversed(rig.cores or []):
            await core.close()


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test saves its screenshots: its tmp dir, or BOARD_SHOTS/<test> to keep them
    (pytest prunes old tmp dirs, shared by everyone running tests on the machine)."""
    keep = os.environ.get("BOARD_SHOTS")
    folder = Path(keep) / request.node.name if keep else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder
