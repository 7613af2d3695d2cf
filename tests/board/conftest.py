"""The support person's board in headless Chromium, against a real server and the real
therapist's and patient's cores (companion/app RoleCore)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from companion.app import CoreOptions, RoleCore
from companion.protocol.messages import InvitedRole, InviteInfo
from companion.server.app import ServerConfig, SignalingServer
from devtools.chromium import CHROMIUM, Browser, Page

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium")


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

    browser_flags: tuple[str, ...] = ()

    async def close(self) -> None:
        """The browser killed (its console printed for a failing test's report), then the
        cores closed."""
        if self.browser is not None:
            for page in self.browser.pages:
                print("\n".join(page.console()))
            await self.browser.close()
        for core in reversed(self.cores or []):
            await core.close()

    async def page(self, url: str, phone: bool = True) -> Page:
        if self.browser is None:
            self.browser = await Browser.start(self.folder / "chromium", self.browser_flags)
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


@contextlib.asynccontextmanager
async def running_rig(server: SignalingServer, folder: Path) -> AsyncIterator[BoardRig]:
    """A therapist account on ``server``; the browser and the cores closed afterwards."""
    _, secret = server.db.add_therapist("dr-board")
    rig = BoardRig(server, secret, folder, cores=[])
    try:
        yield rig
    finally:
        await rig.close()


@pytest.fixture
async def rig(server: SignalingServer, tmp_path: Path) -> AsyncIterator[BoardRig]:
    async with running_rig(server, tmp_path) as running:
        yield running


@pytest.fixture
def shots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a test saves its screenshots: its tmp dir, or BOARD_SHOTS/<test> to keep them
    (pytest prunes old tmp dirs, shared by everyone running tests on the machine)."""
    keep = os.environ.get("BOARD_SHOTS")
    folder = Path(keep) / request.node.name if keep else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


CLONE_NEWNET = 0x40000000


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _enter(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


@pytest.fixture
async def home_rig(tmp_path: Path) -> AsyncIterator[BoardRig]:
    """Everything in a home network of its own: a network namespace whose one address
    (10.89.0.1) is on an interface that carries multicast, so the browser's mDNS names can be asked for and
    answered there and nowhere else. This test's thread enters it for the test (sockets
    made meanwhile are the namespace's; the browser started from it inherits it); the
    server, the cores and Chromium all live there, and the namespace goes afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    name = f"brd{os.getpid() % 100000}"
    _ip("netns", "add", name)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        # Both ends of a veth pair inside (this kernel has no dummy interfaces): the one
        # with the address is the home network; multicast goes out on it and loops back.
        _ip("-n", name, "link", "add", "home0", "type", "veth", "peer", "name", "home1")
        _ip("-n", name, "addr", "add", "10.89.0.1/24", "dev", "home0")
        for device in ("home0", "home1"):
            _ip("-n", name, "link", "set", device, "multicast", "on", "up")
        _ip("-n", name, "route", "add", "224.0.0.0/4", "dev", "home0")
        # A default route as a home router gives one (Chromium gathers no host address
        # without it); nothing answers there, and nothing leaves the namespace.
        _ip("-n", name, "route", "add", "default", "via", "10.89.0.254", "dev", "home0")
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _enter(target)
        finally:
            os.close(target)
        try:
            config = ServerConfig(data_dir=tmp_path / "server", port=0)
            async with SignalingServer(config) as server, running_rig(server, tmp_path) as rig:
                yield rig
        finally:
            _enter(original)
    finally:
        os.close(original)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=10)


# WCAG 2.1 AA: text contrast 4.5:1 (3:1 for large text: 24 px, or 18.66 px bold); every
# button at least 44 × 44 CSS px (2.5.5's target size).
A11Y_PROBLEMS = """(() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const problems = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.closest('[hidden]')) continue;
    const style = getComputedStyle(el);
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own || el.tagName === 'INPUT') {
      const [a, b] = [lum(rgb(style.color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      if (ratio < (large ? 3 : 4.5)) problems.push(`${el.id || el.tagName} ${ratio.toFixed(2)}:1`);
    }
    if (el.tagName === 'BUTTON' && (r.width < 44 || r.height < 44)) problems.push(`${el.id || el.textContent} ${r.width}x${r.height}`);
  }
  return problems;
})()"""
