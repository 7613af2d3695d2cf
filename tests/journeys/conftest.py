"""Fixtures for the journeys: the clinic's server as its own process, a therapist core,
and a folder for each test's screenshots (printed, so a person can look)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from companion.app import CoreOptions, RoleCore
from companion.protocol.messages import InviteInfo
from tests.journeys.harness import OUTPUT, ClinicServer, missing_tools

_MISSING = missing_tools() if os.name == "posix" else ["a POSIX desktop"]

pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"needs {', '.join(_MISSING)} (script/bootstrap installs them)"
)


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder: Path = OUTPUT / str(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)  # a fresh computer for each journey
    folder.mkdir(parents=True)
    print(f"\njourney screenshots: {folder}")
    return folder


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[ClinicServer]:
    server = ClinicServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Session:
    therapist: RoleCore
    invites: dict[str, InviteInfo]


@pytest_asyncio.fixture
async def session(clinic: ClinicServer, tmp_path: Path) -> AsyncIterator[Session]:
    """A therapist signed in, in a fresh session with a patient and a support invite."""
    options = CoreOptions(
        data_dir=tmp_path / "therapist", fake_media=True, audio=False, video=(320, 240, 15)
    )
    therapist = RoleCore("therapist", clinic.url, options)
    await therapist.connect()
    await therapist.sign_in("dr-journey", clinic.secret)
    created = await therapist.signaling.create_session("journey")
    await therapist.open_session(created.session.session_id)
    await therapist.start()
    try:
        yield Session(therapist, {i.role: i for i in created.invites})
    finally:
        await therapist.close()


async def patient_core_joined(clinic: ClinicServer, code: str, folder: Path) -> RoleCore:
    """A patient's app core (no window) joined with ``code`` and started: the other end
    of a console's or a board's journey."""
    options = CoreOptions(data_dir=folder, fake_media=True, audio=False, video=(160, 120, 10))
    patient = RoleCore("patient", clinic.url, options)
    await patient.connect()
    await patient.join(code)
    await patient.start()
    return patient
