"""The call does not wait for the patient's voice to be rendered (issue 22): ``start``
returns while the lines are still being made, and a line the ladder asks for meanwhile is
said as soon as it is ready, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import CoreClinic
from tests.waiting import until


async def test_start_does_not_wait_for_the_voice_and_no_line_is_lost(
    core_clinic: CoreClinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty voice cache: every line is rendered by espeak-ng now (seconds of work).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    therapist, patient = core_clinic.core("therapist"), core_clinic.core("patient", audio=True)
    try:
        await therapist.connect()
        await therapist.sign_in("dr-test", core_clinic.secret)
        created = await therapist.signaling.create_session("t")
        await therapist.open_session(created.session.session_id)
        code = next(i.code for i in created.invites if i.role == "patient")
        await patient.connect()
        await patient.join(code)
        await therapist.start()
        await patient.start()
        rendering = patient.devices.speech_ready
        assert rendering is not None and not rendering.done()  # start did not wait
        assert patient.guardian is not None
        # A line asked for now is promised, and said (and shown to the therapist) once ready.
        assert patient.narrator.say("session_end")
        assert not any(e.kind == "spoken" for e in patient.facts.timeline)
        await until(lambda: rendering.done(), 60)
        assert rendering.result() == []  # nothing missing
        await until(lambda: any(e.ref == "session_end" for e in therapist.facts.timeline), 20)
    finally:
        await patient.close()
        await therapist.close()
