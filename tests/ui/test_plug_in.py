"""Issue 21: the preparation checklist asks to plug the computer in while it runs on
battery, and stops asking once it is plugged in (a battery this machine does not have is
a stand-in reading; the real psutil reading is used by the second test)."""

from __future__ import annotations

import dataclasses
import os

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from companion.app.power import PowerReading, read_power
from companion.ui import patient as patient_ui
from tests.ui.conftest import RunUi, UiClinic, patient_joined, settle, shots
from tests.waiting import until


class Battery:
    """A laptop's battery: what psutil would read, set by the test."""

    def __init__(self) -> None:
        self.reading = PowerReading(percent=46.0, plugged=False)
        self.reads = 0

    def __call__(self) -> PowerReading:
        self.reads += 1
        return self.reading


def test_on_battery_the_checklist_asks_to_plug_in_until_it_is(
    run_ui: RunUi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patient_ui.window, "POWER_CHECK_S", 0.2)
    battery = Battery()

    async def test(clinic: UiClinic) -> None:
        options = dataclasses.replace(clinic.options("patient"), read_power=battery)
        async with patient_joined(clinic, options) as (window, _therapist):
            note = window.prepare_screen.power_note
            await until(lambda: note.isVisible(), 10, "the checklist asks")
            assert "running on battery (46 %)" in note.text()
            assert "plug it in" in note.text()
            window.resize(1280, 800)
            await settle(0.2)
            window.grab().save(str(shots("patient") / "patient-prepare-on-battery.png"))

            battery.reading = PowerReading(percent=47.0, plugged=True)
            await until(lambda: not note.isVisible(), 5, "plugged in: the ask goes")
            assert note.text() == ""

    run_ui(test)


def test_this_machine_read_by_psutil_is_not_asked_to_plug_in(run_ui: RunUi) -> None:
    """The real path: psutil reads this machine (a server: no battery, so no ask)."""

    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic) as (window, _therapist):
            assert window.core is not None
            advice = await window.core.plug_in_advice()
            real = read_power()
            assert (advice is None) == (real.plugged is not False)
            await settle(0.5)
            assert window.prepare_screen.power_note.isVisible() == (advice is not None)

    run_ui(test)
