"""The patient's computer: kept awake over a real D-Bus session bus, sleep and battery noticed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from companion.app.power import KeepAwake, PowerReading, PowerWatch, SleepWatch, read_power

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
        capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
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


async def test_keep_awake_without_an_inhibitor_says_so_and_goes_on(
    session_bus: SessionBus,
) -> None:
    """A bus where nobody answers for the screen saver (a bare window manager)."""
    awake = KeepAwake()
    assert await awake.acquire() is None
    assert not awake.active
    await awake.release()


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
