"""The patient's computer: kept awake over a real D-Bus session bus, sleep and battery noticed."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.app.power import (
    ComputerCare,
    KeepAwake,
    PowerReading,
    PowerWatch,
    SleepWatch,
    read_power,
)
from tests.app.conftest import CoreClinic
from tests.app.test_core import three
from tests.waiting import until

_SERVICE = Path(__file__).with_name("screensaver_service.py")


class SessionBus:
    """A real ``dbus-daemon --session`` of the test's own, and a reader for a service's lines."""

    def __init__(self, address: str, daemon_pid: int) -> None:
        self.address = address
        self.daemon_pid = daemon_pid
        self.service: subprocess.Popen[str] | None = None

    def start_screensaver(self) -> None:
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address}
        self.service = subprocess.Popen(
            [sys.executable, str(_SERVICE)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.next_line() == "ready"

    def next_line(self) -> str:
        assert self.service is not None and self.service.stdout is not None
        return self.service.stdout.readline().strip()

    def close(self) -> None:
        if self.service is not None:
            self.service.kill()
            self.service.wait(timeout=5)
        os.kill(self.daemon_pid, 15)


@pytest.fixture
def session_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[SessionBus]:
    daemon = shutil.which("dbus-daemon")
    assert daemon, "dbus-daemon is missing: script/bootstrap installs it"
    started = subprocess.run(
        [daemon, "--session", "--fork", "--print-address=1", "--print-pid=1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    address, pid = started.stdout.split()
    bus = SessionBus(address, int(pid))
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield bus
    bus.close()


async def test_keep_awake_holds_the_desktops_inhibitor_for_the_session(
    session_bus: SessionBus,
) -> None:
    session_bus.start_screensaver()
    awake = KeepAwake()

    assert await awake.acquire() == "org.freedesktop.ScreenSaver"
    assert awake.active
    inhibit = session_bus.next_line().split()
    assert inhibit[0] == "inhibit"
    assert await awake.acquire() == "org.freedesktop.ScreenSaver"  # held once, not twice

    await awake.release()
    assert session_bus.next_line() == f"uninhibit {inhibit[2]}"
    assert awake.method is None
    await awake.release()  # safe twice
    await _no_worker_left()


async def test_keep_awake_without_an_inhibitor_says_so_and_goes_on(
    session_bus: SessionBus,
) -> None:
    """A bus where nobody answers for the screen saver (a bare window manager)."""
    awake = KeepAwake()
    assert await awake.acquire() is None
    assert not awake.active
    await _no_worker_left()  # nothing held: no thread kept for it
    await awake.release()


async def _no_worker_left() -> None:
    """An idle worker left behind is a non-daemon thread: the app could not exit."""
    await until(lambda: not any(t.name.startswith("keep-awake") for t in threading.enumerate()))


def test_sleep_is_the_wall_clock_moving_while_the_monotonic_clock_stood_still() -> None:
    watch = SleepWatch(threshold_s=20.0)
    assert watch.observe(wall=1000.0, monotonic=50.0) is None
    assert watch.observe(wall=1001.0, monotonic=51.0) is None
    assert watch.observe(wall=1006.0, monotonic=52.0) is None  # NTP stepped the clock 4 s
    slept = watch.observe(wall=1006.0 + 1 + 25 * 60, monotonic=53.0)
    assert slept == pytest.approx(25 * 60)
    assert watch.observe(wall=2508.0, monotonic=54.0) is None


def test_power_states_change_once_and_low_battery_does_not_flap() -> None:
    watch = PowerWatch(low_percent=20.0, recover_margin=3.0)
    assert watch.observe(PowerReading(percent=80.0, plugged=True)) == "plugged"
    assert watch.observe(PowerReading(percent=80.0, plugged=True)) is None
    assert watch.observe(PowerReading(percent=79.0, plugged=False)) == "on_battery"
    assert watch.observe(PowerReading(percent=21.0, plugged=False)) is None
    assert watch.observe(PowerReading(percent=19.5, plugged=False)) == "low"
    assert watch.observe(PowerReading(percent=20.5, plugged=False)) is None  # hovering
    assert watch.observe(PowerReading(percent=22.5, plugged=False)) is None
    assert watch.observe(PowerReading(percent=23.5, plugged=False)) == "on_battery"
    assert watch.observe(PowerReading(percent=18.0, plugged=False)) == "low"
    assert watch.observe(PowerReading(percent=18.0, plugged=True)) == "plugged"


def test_a_computer_without_a_battery_reads_as_plugged_in() -> None:
    """The real psutil reading of this machine (a server: no battery)."""
    reading = read_power()
    if reading.percent is None:
        assert reading.plugged is True
        assert PowerWatch().observe(reading) == "plugged"
    else:  # a laptop running the suite
        assert 0.0 <= reading.percent <= 100.0


class FakeComputer:
    """A laptop's battery and clocks, set by the test (this machine has neither)."""

    def __init__(self) -> None:
        self.reading = PowerReading(percent=80.0, plugged=True)
        self.wall = 1_000_000.0
        self.mono = 0.0

    def read(self) -> PowerReading:
        return self.reading

    def clock(self) -> tuple[float, float]:
        self.wall += 0.01
        self.mono += 0.01
        return self.wall, self.mono


async def test_the_patients_computer_reaches_the_therapist_and_the_support_person(
    core_clinic: CoreClinic,
) -> None:
    """Battery low: the therapist is alerted and the support person gets a gentle line;
    plugged in: the alert clears; asleep: everyone's timeline says for how long and the
    patient's signaling starts again at once."""
    therapist, patient, support, _ = await three(core_clinic)
    computer = FakeComputer()
    care = ComputerCare(
        patient.computer_changed,
        every_s=0.01,
        power_every_s=0.0,
        read=computer.read,
        clock=computer.clock,
    )
    lines: list[str] = []
    support.notice.connect(lines.append)
    running = asyncio.create_task(care.run())
    try:
        computer.reading = PowerReading(percent=15.0, plugged=False)
        await until(
            lambda: any(a.reason == "battery_low" for a in therapist.facts.open_alerts.values())
        )
        await until(lambda: any("plug it in" in line for line in lines))
        # The alert is the therapist's; the support person has the gentle line instead.
        assert all(a.reason != "battery_low" for a in support.facts.open_alerts.values())
        computer.reading = PowerReading(percent=16.0, plugged=True)
        await until(lambda: not therapist.facts.open_alerts)
        states: list[str] = []
        patient.signaling.state_changed.connect(states.append)
        computer.wall += 25 * 60  # the lid closed for 25 minutes
        await until(
            lambda: any("asleep for 25 minutes" in e.text for e in therapist.facts.timeline)
        )
        await until(lambda: "online" in states)  # it went away and came straight back
        assert states[0] != "online"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for core in (therapist, patient, support):
            await core.close()
