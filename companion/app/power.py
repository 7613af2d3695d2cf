"""The patient's computer during a session: kept awake, its sleep noticed, its power watched.

A laptop that sleeps after thirty minutes of a patient lying still, or whose battery runs
out at minute eighty, ends the session as surely as a dropped network. Three parts:

- ``KeepAwake`` asks the operating system to keep the computer awake and the screen on
  (wakepy: Windows ``SetThreadExecutionState``, macOS IOKit, Linux D-Bus inhibitors) for as
  long as a session runs. Its calls block, so they run on a worker thread.
- ``SleepWatch`` notices a sleep anyway (the wall clock jumps while the monotonic clock,
  which stands still in suspend, does not).
- ``PowerWatch`` turns battery readings (psutil) into a few plain states with hysteresis.

The two watchers are Sans-I/O: they take readings and say what changed; the app core reads
the clocks and the battery and decides who is told.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from companion.i18n import _
from companion.protocol.messages import ComputerWhat

_log = logging.getLogger(__name__)

PowerState = Literal["unknown", "plugged", "on_battery", "low"]
"""``unknown``: no reading yet or no battery to read (a desktop reads as ``plugged``)."""


@dataclass(frozen=True)
class PowerReading:
    percent: float | None
    """Battery charge 0–100, None where the computer has no battery."""
    plugged: bool | None
    """On mains power; None where the OS cannot say."""


def read_power() -> PowerReading:
    """The computer's battery as psutil sees it; a computer with no battery is plugged in."""
    import psutil

    try:
        battery = psutil.sensors_battery()
    except (OSError, RuntimeError) as error:  # a sysfs read that fails mid-way
        _log.warning("power: battery could not be read (%s)", type(error).__name__)
        return PowerReading(percent=None, plugged=None)
    if battery is None:
        return PowerReading(percent=None, plugged=True)
    return PowerReading(percent=float(battery.percent), plugged=battery.power_plugged)


class PowerWatch:
    """Battery readings in, a new ``PowerState`` out when it changes.

    ``low`` below ``low_percent`` on battery; it ends only once the charge is
    ``recover_margin`` above the line again or the computer is plugged in, so a battery
    hovering at the line does not raise the alert over and over."""

    def __init__(self, low_percent: float = 20.0, recover_margin: float = 3.0) -> None:
        self.low_percent = low_percent
        self.recover_margin = recover_margin
        self.state: PowerState = "unknown"

    def observe(self, reading: PowerReading) -> PowerState | None:
        new = self._classify(reading)
        if new == self.state:
            return None
        _log.info("power: %s -> %s", self.state, new)
        self.state = new
        return new

    def _classify(self, reading: PowerReading) -> PowerState:
        if reading.plugged:
            return "plugged"
        if reading.plugged is None and reading.percent is None:
            return "unknown"
        if reading.percent is None:
            return "on_battery"
        line = self.low_percent
        if self.state == "low":
            line += self.recover_margin
        return "low" if reading.percent < line else "on_battery"


def plug_in_words(reading: PowerReading) -> str | None:
    """The preparation checklist's ask while the computer runs on battery (None: nothing
    to ask: plugged in, no battery, or the OS cannot say)."""
    if reading.plugged is not False:
        return None
    if reading.percent is None:
        return _(
            "Your computer is running on battery. Please plug it in before you start, so it "
            "stays on for the whole session."
        )
    return _(
        "Your computer is running on battery ({percent} %). Please plug it in before you "
        "start, so it stays on for the whole session."
    ).format(percent=round(reading.percent))


class SleepWatch:
    """Clock readings in, the seconds the computer slept out.

    Each ``observe(wall, monotonic)`` compares how far the two clocks moved since the last
    reading. The monotonic clock stops while the computer is suspended and the wall clock
    does not, so a difference above ``threshold_s`` is a sleep of that length. (A wall
    clock set by hand or by NTP moves too; the threshold keeps ordinary corrections out.)
    """

    def __init__(self, threshold_s: float = 20.0) -> None:
        self.threshold_s = threshold_s
        self._last: tuple[float, float] | None = None

    def observe(self, wall: float, monotonic: float) -> float | None:
        last, self._last = self._last, (wall, monotonic)
        if last is None:
            return None
        gap = (wall - last[0]) - (monotonic - last[1])
        return gap if gap > self.threshold_s else None


class KeepAwake:
    """Hold the OS's "keep awake, screen on" for a session; ``release`` is safe twice.

    ``method`` names what the OS granted (e.g. ``org.freedesktop.ScreenSaver``), or is None
    where nothing could be held: then the app says so once and the ``SleepWatch`` is what
    is left."""

    def __init__(self) -> None:
        self.method: str | None = None
        self._mode: Any = None
        self._lock = asyncio.Lock()
        # wakepy keeps the current mode in a context variable: entering and leaving must
        # happen on one thread in one context, so the calls share a one-thread executor,
        # made for each hold and shut down with it (an idle worker left behind would keep
        # the process alive after its window closed).
        self._worker: ThreadPoolExecutor | None = None

    @property
    def active(self) -> bool:
        return self.method is not None

    async def acquire(self) -> str | None:
        async with self._lock:
            if self._mode is None:
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keep-awake")
                loop = asyncio.get_running_loop()
                self._mode, self.method = await loop.run_in_executor(worker, _enter_presenting)
                if self._mode is None:
                    worker.shutdown(wait=False)
                else:
                    self._worker = worker
            return self.method

    async def release(self) -> None:
        async with self._lock:
            mode, self._mode, self.method = self._mode, None, None
            worker, self._worker = self._worker, None
            if mode is not None and worker is not None:
                await asyncio.get_running_loop().run_in_executor(worker, _exit_mode, mode)
                worker.shutdown(wait=False)


def _enter_presenting() -> tuple[Any, str | None]:
    from wakepy import keep

    mode = keep.presenting(on_fail="pass")
    try:
        mode.__enter__()
    except Exception as error:  # an OS call that fails in a way wakepy does not catch
        _log.warning("keep awake: could not be held (%s)", type(error).__name__)
        return None, None
    if not mode.active:
        _log.warning("keep awake: no method available here; sleep will be noticed instead")
        mode.__exit__(None, None, None)
        return None, None
    method = mode.active_method
    name = method.name if method is not None else "unknown"
    _log.info("keep awake: held by %s", name)
    return mode, name


def _exit_mode(mode: Any) -> None:
    try:
        mode.__exit__(None, None, None)
    except Exception as error:  # the inhibitor's service went away first
        _log.warning("keep awake: release failed (%s)", type(error).__name__)


_POWER_CHANGES: dict[PowerState, ComputerWhat] = {
    "plugged": "plugged_in",
    "on_battery": "on_battery",
    "low": "battery_low",
}


@dataclass(frozen=True)
class ComputerChange:
    """What ``ComputerCare`` reports: one of ``ComputerNotice``'s ``what`` values."""

    what: ComputerWhat
    asleep_s: float | None = None
    percent: int | None = None


class ComputerCare:
    """The patient's computer for the length of a session: held awake, its sleep and its
    power watched. ``run`` until cancelled (the keep-awake is given back then).

    ``report`` hears each change; the first power reading is reported only when it is not
    ``plugged`` (a laptop already on battery as the session starts)."""

    def __init__(
        self,
        report: Callable[[ComputerChange], None],
        *,
        every_s: float = 5.0,
        power_every_s: float = 30.0,
        read: Callable[[], PowerReading] = read_power,
        clock: Callable[[], tuple[float, float]] = lambda: (time.time(), time.monotonic()),
    ) -> None:
        self.report = report
        self.every_s = every_s
        self.power_every_s = power_every_s
        self.keep_awake = KeepAwake()
        self.sleep = SleepWatch()
        self.power = PowerWatch()
        self._read = read
        self._clock = clock

    async def run(self) -> None:
        try:
            if await self.keep_awake.acquire() is None:
                self.report(ComputerChange("cannot_stay_awake"))
            next_power = 0.0
            while True:
                wall, mono = self._clock()
                slept = self.sleep.observe(wall, mono)
                if slept is not None:
                    self.report(ComputerChange("asleep", asleep_s=slept))
                if mono >= next_power:
                    next_power = mono + self.power_every_s
                    await self._check_power()
                await asyncio.sleep(self.every_s)
        finally:
            await self.keep_awake.release()

    async def _check_power(self) -> None:
        reading = await asyncio.to_thread(self._read)
        before = self.power.state
        state = self.power.observe(reading)
        if state is None or state == "unknown" or (before == "unknown" and state == "plugged"):
            return
        percent = None if reading.percent is None else round(reading.percent)
        self.report(ComputerChange(_POWER_CHANGES[state], percent=percent))
