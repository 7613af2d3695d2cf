"""Keys that need no eyes (issue 22), on the patient's real window with its real engine
and voice: the arrows raise and lower the music, each step spoken; the space bar held
for 3 s asks for help, a tap says "I'm OK"; the keys are listed before the session and
spoken at its start; the therapist's timeline shows each line the patient heard."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from companion.app import RoleCore
from companion.app.spoken import KEYS_WORDS, MUSIC_STEP_DB
from tests.ui.conftest import RunUi, UiClinic, moved_on, patient_joined, settle
from tests.waiting import until


def _heard(therapist: RoleCore) -> list[str]:
    return [e.ref for e in therapist.facts.timeline if e.kind == "spoken"]


def test_arrows_and_the_space_bar_work_with_eyes_closed(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        async with patient_joined(clinic, audio=True) as (window, therapist):
            # The preparation screen lists the keys.
            listed = window.prepare_screen.keys.text()
            assert all(words in listed for words in KEYS_WORDS)
            await window.begin_session()
            core = window.core
            assert core is not None and core.devices.speaker is not None
            s = window.session_screen
            # The spoken welcome, and the therapist sees the patient heard it, in what voice.
            await until(lambda: "welcome" in _heard(therapist), 30)
            welcome = next(e for e in therapist.facts.timeline if e.ref == "welcome")
            assert "hold the space bar" in welcome.text and "espeak-ng" in welcome.text

            # Down and Up, whatever has focus (here the volume slider itself): one step each,
            # never a check-in, each confirmed aloud.
            start = core.devices.music_volume_db
            assert start is not None
            s.volume.setFocus()
            QTest.keyClick(s.volume, Qt.Key.Key_Down)
            assert core.devices.music_volume_db == start - MUSIC_STEP_DB
            assert s.volume.value() == round(start - MUSIC_STEP_DB)
            s.ok.setFocus()
            QTest.keyClick(s.ok, Qt.Key.Key_Up)
            assert core.devices.music_volume_db == start
            # The same with no control focused (the key reaches the window itself).
            QTest.keyClick(window, Qt.Key.Key_Down)
            assert core.devices.music_volume_db == start - MUSIC_STEP_DB
            QTest.keyClick(window, Qt.Key.Key_Up)
            assert core.devices.music_volume_db == start
            assert s.volume.value() == round(start)
            assert window.check_ins_sent == 0
            await until(lambda: {"music_down", "music_up"} <= set(_heard(therapist)), 30)

            # A tap on the space bar says "I'm OK" (when let go) ...
            QTest.keyClick(s.ok, Qt.Key.Key_Space)
            assert window.check_ins_sent == 1
            await until(lambda: therapist.facts.last_checkin_at is not None)
            # ... held for 3 s it asks for help, and its release is no check-in.
            moved_on(window, 10.0)
            held = time.monotonic()  # before: the press's own handling is part of the hold
            QTest.keyPress(s.ok, Qt.Key.Key_Space)
            await settle(2.0)
            assert not any(a.reason == "help" for a in therapist.facts.open_alerts.values())
            await until(  # a bound for a loaded machine (10 s ran out once in a full run)
                lambda: any(a.reason == "help" for a in therapist.facts.open_alerts.values()), 30
            )
            assert time.monotonic() - held >= 2.9
            QTest.keyRelease(s.ok, Qt.Key.Key_Space)
            await settle(0.3)
            assert window.check_ins_sent == 1 and not s.ok.isDown()
            # The ladder's "help is coming" is heard (and the therapist sees it was).
            await until(lambda: "help_coming" in _heard(therapist), 30)

    run_ui(test, timeout_s=120.0)
