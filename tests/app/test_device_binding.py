"""Issue 17: a patient's code on a second device is kept out, in plain words on both ends."""

from __future__ import annotations

import pytest

from companion.app import CoreOptions, RoleCore
from companion.protocol.errors import ErrorCode, ProtocolError
from tests.app.conftest import CoreClinic
from tests.waiting import until


async def test_a_second_device_with_the_patients_code_is_kept_out_in_plain_words(
    core_clinic: CoreClinic,
) -> None:
    therapist, patient = core_clinic.core("therapist"), core_clinic.core("patient")
    # Same role, its own folder: another computer, with the code the patient was given.
    options = CoreOptions(data_dir=core_clinic.folder / "elsewhere", fake_media=True, audio=False)
    stranger = RoleCore("patient", core_clinic.server.ws_url, options)
    try:
        await therapist.connect()
        await therapist.sign_in("dr-test", core_clinic.secret)
        created = await therapist.signaling.create_session("t")
        await therapist.open_session(created.session.session_id)
        await therapist.start()
        code = next(i.code for i in created.invites if i.role == "patient")
        await patient.connect()
        joined = await patient.join(code)
        await stranger.connect()
        with pytest.raises(ProtocolError) as caught:
            await stranger.join(code)
        assert caught.value.code is ErrorCode.DEVICE_BOUND
        assert "another device" in caught.value.message
        await until(lambda: any(e.kind == "member.refused" for e in therapist.facts.timeline))
        entry = next(e for e in therapist.facts.timeline if e.kind == "member.refused")
        assert entry.text.startswith("Another device tried to join as the patient")
        # The patient's own app, restarted (a new core on the same folder), gets back in.
        await patient.close()
        again = core_clinic.core("patient")
        await again.connect()
        try:
            assert (await again.join(code)).member_id == joined.member_id
        finally:
            await again.close()
    finally:
        for core in (stranger, patient, therapist):
            await core.close()
