"""The therapist's timeline says each thing once, in plain words (issue 16, item 12): a
scripted session between three real cores, its lines counted."""

from __future__ import annotations

import asyncio
from collections import Counter

from companion.app import said_once
from tests.app.conftest import CoreClinic
from tests.app.test_core import three
from tests.waiting import until


async def test_a_normal_session_says_each_thing_once(core_clinic: CoreClinic) -> None:
    therapist, patient, support, _ = await three(core_clinic)
    try:
        await until(lambda: therapist.facts.link == "connected", 30)
        await until(lambda: support.facts.home_link == "connected", 30)
        await therapist.request_checkin()
        await until(lambda: patient.pending_checkin is not None)
        await patient.check_in()
        await therapist.push_prompt("box-breathing")
        await therapist.music_remote("next")
        await therapist.send_message("support", "Please bring water")
        await support.record_vitals(120, 80, 70)
        # The patient holds "I need help"; the support person answers it.
        await patient.help_held()
        await until(lambda: bool(therapist.facts.open_alerts))
        alert = next(iter(therapist.facts.open_alerts))
        await support.acknowledge(alert)
        await until(lambda: not therapist.facts.open_alerts)
        # The support person's app loses the server for a moment and comes back: the
        # patient's app says the call's state again for it (one more report each time).
        for _ in range(2):
            await support.signaling.drop_connection()
            await until(lambda: support.signaling.state == "online")
        await asyncio.sleep(2)
        await until(lambda: therapist.facts.link == "connected")
        await until(lambda: said_once(therapist.facts.timeline)[-1].text.endswith("back now"))
        lines = [line.text for line in said_once(therapist.facts.timeline)]
    finally:
        for core in (patient, support, therapist):
            await core.close()
    print("\n".join(lines))
    raw = len(therapist.facts.timeline)
    assert lines[:3] == ["Therapist joined", "Patient joined", "Support person joined"]
    counts = Counter(lines)
    assert counts["Link between patient and therapist: connected"] == 1, lines
    assert counts["Therapist asked for a check-in"] == 1
    assert counts["Patient checked in: I'm OK"] == 1
    assert counts["Grounding prompt shown: Box breathing"] == 1  # its title, not its id
    assert counts["Message sent to the support person"] == 1
    assert counts["⚠ ALERT: The patient is asking for help"] == 1
    cleared = [line for line in lines if line.startswith("✓ The patient is asking for help")]
    assert len(cleared) == 1 and "acknowledged by the support person" in cleared[0], lines
    assert not any(line.startswith(("Alert:", "Alert acknowledged")) for line in lines), lines
    # The support person's two drops from the server: one line, amended.
    assert [line for line in lines if "server connection" in line] == [
        "Support person's server connection dropped 2 times; back now"
    ], lines
    # Each thing once: no line twice, whatever the reconnects said again.
    assert [line for line, n in counts.items() if n > 1] == [], lines
    assert raw > len(lines)


async def test_a_therapist_who_starts_again_mid_session_finds_the_timeline(
    core_clinic: CoreClinic,
) -> None:
    """The console relaunched mid-session: the server replays nothing to a therapist who
    joins again, so what happened comes back from the local record."""
    therapist, patient, support, _ = await three(core_clinic)
    again = core_clinic.core("therapist")
    try:
        await until(lambda: therapist.facts.link == "connected", 30)
        await therapist.request_checkin()
        await until(lambda: patient.pending_checkin is not None)
        await patient.check_in()
        await until(lambda: therapist.facts.last_checkin_at is not None)
        before = [line.text for line in said_once(therapist.facts.timeline)]
        session_id = therapist.session_id
        await therapist.close()

        await again.connect()
        await again.sign_in("dr-test", core_clinic.secret)
        await again.open_session(session_id)
        await again.start()
        await until(lambda: again.facts.link == "connected", 30)
        after = [line.text for line in said_once(again.facts.timeline)]
        assert after[: len(before)] == before, (before, after)
        assert "Therapist asked for a check-in" in after
        assert "Patient checked in: I'm OK" in after
        assert after[len(before)].startswith("The app was closed, and started again")
        await until(lambda: said_once(again.facts.timeline)[-1].text.endswith("connected"))
        # The session's time and its last check-in count on, not anew.
        assert again.facts.started_at == therapist.facts.started_at
        assert again.facts.last_checkin_at is not None
    finally:
        for core in (patient, support, again, therapist):
            await core.close()
