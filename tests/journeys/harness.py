"""Apps as a person uses them: each app its own process with its own HOME, on its own X
display (Xvfb, a window manager), driven only through the X server (xdotool, wmctrl),
read only through the accessibility tree a screen reader reads (AT-SPI), with a
screenshot of every step.

Nothing here calls into an app's objects: what a test knows of an app is what the
screen says. The clinic's server runs as its own process too; the therapist of a
patient's journey is a real ``RoleCore`` in the test process (a console journey drives
the therapist's window instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.services import free_port

ROOT = Path(__file__).resolve().parents[2]
DUMP = Path(__file__).with_name("a11y_dump.py")
SYSTEM_PYTHON = "/usr/bin/python3"
OUTPUT = Path(os.environ.get("COMPANION_JOURNEYS", ROOT / "test-output" / "journeys"))
TOOLS = ("Xvfb", "openbox", "xdotool", "wmctrl", "import", "dbus-daemon", "dbus-send")
SCREEN = (1366, 768)
READ_EVERY_S = 1.0
"""How often a wait reads the screen. PySide6 6.11's AT-SPI bridge has crashed the app
(SIGSEGV in QAccessibleCache::idForObject, answering a query) a few seconds after it
started, now and then, under a reader polling every 0.3 s: read no more than needed."""


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Atspi', '2.0')"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        missing.append("python3-gi + gir1.2-atspi-2.0")
    return missing


@dataclass
class Node:
    """One accessible object, as a screen reader sees it."""

    app: str
    path: str
    role: str
    name: str
    description: str
    text: str
    states: list[str]
    extents: list[int]

    @property
    def words(self) -> str:
        """What is read aloud: the name, then the text if it says more."""
        if self.text and self.text not in self.name:
            return f"{self.name} {self.text}".strip()
        return self.name

    @property
    def center(self) -> tuple[int, int]:
        x, y, w, h = self.extents
        return x + w // 2, y + h // 2

    @property
    def focused(self) -> bool:
        return "focused" in self.states


@dataclass
class Screen:
    """Everything showing on one display, read once."""

    nodes: list[Node]

    def find(
        self, name: str | None = None, role: str | None = None, says: str | None = None
    ) -> list[Node]:
        """Objects whose accessible name is ``name`` (exactly), of ``role``, whose
        words contain ``says`` (case-insensitive)."""
        found = []
        for node in self.nodes:
            if name is not None and node.name != name:
                continue
            if role is not None and node.role != role:
                continue
            if says is not None and says.lower() not in node.words.lower():
                continue
            found.append(node)
        return found

    def one(
        self, name: str | None = None, role: str | None = None, says: str | None = None
    ) -> Node:
        found = self.find(name, role, says)
        if not found:
            raise LookupError(f"nothing showing named {name!r}, role {role!r}, saying {says!r}")
        return found[0]

    def says(self, words: str) -> bool:
        return bool(self.find(says=words))

    @property
    def text(self) -> str:
        return "\n".join(node.words for node in self.nodes if node.words)

    @property
    def windows(self) -> list[Node]:
        return [
            n
            for n in self.nodes
            if n.role in ("frame", "window", "dialog", "filler") and "/" not in n.path
        ]


class Desktop:
    """One Xvfb display with openbox and a session bus whose accessibility bus is on."""

    def __init__(self, folder: Path, size: tuple[int, int] = SCREEN) -> None:
        self.folder = folder
        self.size = size
        self.number = 0
        self.display = ""
        self.bus = ""
        self._procs: list[subprocess.Popen[bytes]] = []
        self._bus_pid: int | None = None

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus}

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "desktop.log").open("ab")
        width, height = self.size
        # A display number of its own, far from the usual ones (another X server, even
        # in another network namespace, may hold a low number's abstract socket); Xvfb
        # exits at once if the number is taken, and the next one is tried.
        for number in random.sample(range(300, 900), 20):
            if Path(f"/tmp/.X{number}-lock").exists():
                continue
            xvfb = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                stdout=log,
                stderr=log,
            )
            self.number, self.display = number, f":{number}"
            try:
                self._wait_for(
                    ["xdotool", "getdisplaygeometry"],
                    {**_outside_env(), "DISPLAY": self.display},
                    xvfb,
                    "Xvfb",
                )
            except RuntimeError:
                if xvfb.poll() is None:
                    xvfb.kill()
                xvfb.wait()
                continue
            self._procs.append(xvfb)
            break
        else:
            raise RuntimeError("Xvfb did not start on any display (see desktop.log)")
        out = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            capture_output=True,
            text=True,
            check=True,
            # Its HOME is this desktop's: the accessibility bus puts its socket there.
            env={**_outside_env(), "DISPLAY": self.display, "HOME": str(self.folder)},
            timeout=10,
        )
        address, pid = out.stdout.split()[:2]
        self.bus, self._bus_pid = address, int(pid)
        env = {**_outside_env(), **self.env(), "HOME": str(self.folder)}
        for attempt in range(3):
            openbox = subprocess.Popen(["openbox"], stdout=log, stderr=log, env=env)
            try:
                self._wait_for(["wmctrl", "-m"], env, openbox, "openbox")
            except RuntimeError:
                openbox.wait()
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))  # seen once under load: try again
                continue
            self._procs.append(openbox)
            break
        # Asking for the accessibility bus's address starts it (at-spi-bus-launcher).
        subprocess.run(
            [
                "dbus-send",
                "--session",
                "--print-reply",
                "--dest=org.a11y.Bus",
                "/org/a11y/bus",
                "org.a11y.Bus.GetAddress",
            ],
            env=env,
            capture_output=True,
            check=True,
            timeout=10,
        )

    def _wait_for(
        self, probe: list[str], env: dict[str, str], proc: subprocess.Popen[bytes], what: str
    ) -> None:
        """Until ``probe`` succeeds on this display (the server, then the window manager,
        answering), or fail saying which did not start."""
        deadline = time.monotonic() + 15
        while subprocess.run(probe, env=env, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{what} did not start on {self.display}")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
            if proc.poll() is None:
                proc.kill()
        if self._bus_pid is not None:
            # The bus, and the accessibility services it started (they live on with no
            # parent, but carry this bus's address), belong to this desktop alone.
            mine = [*_processes_on_bus(self.bus), self._bus_pid]
            for pid in [child for parent in mine for child in _children_of(parent)] + mine:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    async def read(self) -> Screen:
        proc = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            str(DUMP),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_outside_env(), **self.env()},
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"reading the accessibility tree failed: {err.decode()[-500:]}")
        return Screen([Node(**item) for item in json.loads(out or b"[]")])

    async def run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**_outside_env(), **self.env()},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        return out.decode()

    async def click(self, node: Node) -> None:
        x, y = node.center
        await self.run("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1")

    async def type(self, text: str) -> None:
        await self.run("xdotool", "type", "--delay", "20", text)

    async def key(self, *keys: str) -> None:
        await self.run("xdotool", "key", *keys)

    async def close_window(self, title: str) -> None:
        """What the window manager's close button does (_NET_CLOSE_WINDOW)."""
        await self.run("wmctrl", "-c", title)

    async def window_sizes(self) -> list[tuple[int, int, int, int]]:
        """Every managed window's frame (x, y, width, height), as wmctrl reports it."""
        out = await self.run("wmctrl", "-l", "-G")
        sizes = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 6:
                sizes.append(tuple(int(p) for p in parts[2:6]))
        return sizes  # type: ignore[return-value]

    async def screenshot(self, path: Path) -> Path:
        await self.run("import", "-window", "root", str(path))
        return path


def _allow_core_dump() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _outside_env() -> dict[str, str]:
    """This process's environment without any X server or session bus it may know of
    (another test's xvfb-run, the developer's desktop): a desktop here is its own."""
    drop = ("DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY")
    return {key: value for key, value in os.environ.items() if key not in drop}


def _processes_on_bus(address: str) -> list[int]:
    wanted = f"DBUS_SESSION_BUS_ADDRESS={address}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return [pid for pid in found if pid != os.getpid()]


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Journey:
    """One person's journey: their desktop, their app's process, the steps' screenshots."""

    name: str
    desktop: Desktop
    home: Path
    shots: Path
    step: int = 0
    proc: asyncio.subprocess.Process | None = None
    runs: int = 0
    saved: list[Path] = field(default_factory=list)

    def app_env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE", "TMPDIR")
        }
        env.update(self.desktop.env())
        env.update(
            {
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
                "XDG_CACHE_HOME": str(self.home / ".cache"),
                "XDG_RUNTIME_DIR": str(self.home / ".runtime"),
                "QT_QPA_PLATFORM": "xcb",
                "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
                "QT_ACCESSIBILITY": "1",
                "QT_LOGGING_RULES": "qt.accessibility.atspi=false",
                "PYTHONFAULTHANDLER": "1",
                "LANG": env.get("LANG", "C.UTF-8"),
            }
        )
        return env

    async def launch(self, *args: str) -> None:
        """``companion ARGS`` as this person starts it (a new process each time)."""
        (self.home / ".runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.runs += 1
        log = (self.shots / f"{self.name}-run{self.runs}.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "companion",
            *args,
            stdout=log,
            stderr=log,
            env=self.app_env(),
            cwd=str(self.home),
            preexec_fn=_allow_core_dump,
        )
        log.close()

    def log(self, run: int | None = None) -> str:
        path = self.shots / f"{self.name}-run{run or self.runs}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def exited(self, within_s: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within_s)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def see(
        self, check: Callable[[Screen], bool], within_s: float = 20.0, what: str = ""
    ) -> Screen:
        """Reads the screen until ``check`` holds; fails with what the screen said."""
        deadline = time.monotonic() + within_s
        screen = Screen([])
        while True:
            # A read that fails or takes too long (a busy computer) is "not yet".
            with contextlib.suppress(RuntimeError, TimeoutError):
                screen = await self.desktop.read()
                if check(screen):
                    return screen
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(
                    f"{self.name}: the app exited ({self.proc.returncode}) while waiting for "
                    f"{what or 'the screen'}\n{self.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                await self.shot(f"failed-{what or 'wait'}")
                raise AssertionError(
                    f"{self.name}: after {within_s:.0f} s the screen does not show "
                    f"{what or 'what was expected'}; it says:\n{screen.text[:3000]}"
                )
            await asyncio.sleep(READ_EVERY_S)

    async def see_words(self, words: str, within_s: float = 20.0) -> Screen:
        return await self.see(lambda s: s.says(words), within_s, repr(words))

    async def click(self, name: str, role: str = "push button", within_s: float = 15.0) -> None:
        screen = await self.see(
            lambda s: any("enabled" in n.states for n in s.find(name=name, role=role)),
            within_s,
            f"{role} {name!r}",
        )
        await self.desktop.click(
            next(n for n in screen.find(name=name, role=role) if "enabled" in n.states)
        )

    async def fill(self, name: str, text: str) -> None:
        """Clicks into the field named ``name``, selects what is there and types."""

        def field(screen: Screen) -> list[Node]:
            return [n for n in screen.find(name=name) if "editable" in n.states]

        screen = await self.see(lambda s: bool(field(s)), 15, f"field {name!r}")
        await self.desktop.click(field(screen)[0])
        await self.desktop.key("ctrl+a")
        await self.desktop.type(text)

    async def shot(self, what: str) -> Path:
        self.step += 1
        safe = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:60]
        path = self.shots / f"{self.name}-{self.step:02d}-{safe}.png"
        await self.desktop.screenshot(path)
        self.saved.append(path)
        return path


@contextlib.asynccontextmanager
async def journey(
    name: str, folder: Path, size: tuple[int, int] = SCREEN
) -> AsyncIterator[Journey]:
    """A person with their own computer: a fresh HOME and desktop; the app stopped and
    the desktop taken down at the end."""
    home = folder / f"home-{name}"
    home.mkdir(parents=True, exist_ok=True)
    # No sound card here: ALSA's null device. It does not keep time (PortAudio's callback
    # runs unpaced); the app's own pace holds it to real time (audio/device.py DevicePace).
    (home / ".asoundrc").write_text("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    desktop = Desktop(home / ".desktop", size)
    person = Journey(name, desktop, home, folder)
    try:
        await asyncio.to_thread(desktop.start)
        yield person
    finally:
        await person.stop()
        await asyncio.to_thread(desktop.stop)


class ClinicServer:
    """``companion server`` as its own process, on a port that stays the same across a
    restart (so "the server is down, then up again" is the same address)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.secret = ""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        data = self.folder / "server"
        if not self.secret:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "companion",
                    "server",
                    "add-therapist",
                    "dr-journey",
                    "--data-dir",
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            self.secret = out.stdout.rsplit(":", 1)[1].strip()
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "companion",
                "server",
                "--port",
                str(self.port),
                "--data-dir",
                str(data),
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the clinic's server did not start: see server.log")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
