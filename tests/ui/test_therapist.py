"""The therapist's console on real widgets, with a real server, a real patient core and
the real support person's window (synthetic media)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from companion.app import RoleCore
from companion.protocol.errors import ProtocolError
from companion.protocol.messages import SpokenLine
from companion.ui.support import SupportWindow
from companion.ui.therapist import TherapistConsole
from tests.ui.conftest import RunUi, UiClinic, settle, shots
from tests.waiting import until


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """These tests are about a computer without a keyring (like this one): make sure of it,
    whatever an earlier test or the machine set up."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


def _console(clinic: UiClinic) -> TherapistConsole:
    console = TherapistConsole(clinic.server.ws_url, clinic.folder / "therapist", True, audio=False)
    console.resize(1400, 880)
    console.show()
    return console


def test_sign_in_invites_copy_and_revoke(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        console = _console(clinic)
        folder = shots("therapist")
        try:
            console.grab().save(str(folder / "therapist-signin.png"))
            assert not await console.sign_in("dr-test", "wrong")
            assert "not right" in console.status.text()
            assert not console.work.isEnabled()
            assert await console.sign_in("dr-test", clinic.secret)
            # No keyring on this machine: said plainly, not an error.
            assert "not remembered on this computer" in console.status.text()
            session_id, invites = await console.create_session("Tue 10:00 · R.")
            assert set(invites) == {"patient", "support"}
            assert console.sessions.count() == 1
            assert "upcoming" in console.sessions.item(0).text()
            rows = {row.invite.role: row for row in console.invite_rows}
            QTest.mouseClick(rows["patient"].copy_code, Qt.MouseButton.LeftButton)
            assert QApplication.clipboard().text() == invites["patient"].code
            QTest.mouseClick(rows["support"].copy_link, Qt.MouseButton.LeftButton)
            assert QApplication.clipboard().text() == invites["support"].link
            # The support person's board in a phone's browser: shown and copied, to text.
            web = invites["support"].web_link
            assert web is not None and "/board#invite=" in web
            copy_web = rows["support"].copy_web
            assert copy_web is not None and copy_web.isVisible()
            shown = rows["support"].web_link
            assert web in shown.full_text and shown.toolTip() == web  # shown as it fits
            QTest.mouseClick(copy_web, Qt.MouseButton.LeftButton)
            assert QApplication.clipboard().text() == web
            assert rows["patient"].copy_web is None  # the patient uses the app
            # Revoke the patient's invitation: its code is refused from then on.
            QTest.mouseClick(rows["patient"].revoke, Qt.MouseButton.LeftButton)
            await until(lambda: rows["patient"].revoked)
            assert not rows["patient"].copy_code.isEnabled()
            probe = RoleCore("patient", clinic.server.ws_url, clinic.options("probe"))
            await probe.connect()
            with pytest.raises(ProtocolError) as refused:
                await probe.join(invites["patient"].code, retry_in_use_s=0)
            assert "withdrawn" in refused.value.message or "not valid" in refused.value.message
            await probe.close()
            console.grab().save(str(folder / "therapist-invites-revoked.png"))
            # A fresh pair for the same session works.
            console.sessions.setCurrentRow(0)
            fresh = await console.new_invites(session_id)
            assert fresh["patient"].code != invites["patient"].code
            joined = RoleCore("patient", clinic.server.ws_url, clinic.options("joined"))
            await joined.connect()
            await joined.join(fresh["patient"].code)
            await console.refresh()
            await until(lambda: "live" in console.sessions.item(0).text())
            console.grab().save(str(folder / "therapist-sessions.png"))
            await joined.close()
        finally:
            await console.close_all()
            console.close()

    run_ui(test, timeout_s=40)


def test_a_patient_not_come_yet_is_waiting_for_not_a_link_lost(run_ui: RunUi) -> None:
    """The call is "lost" within a second when no patient has joined: the console read
    "Link lost — the support person has been told" though no call had ever been up and
    nobody had been told."""

    async def test(clinic: UiClinic) -> None:
        console = _console(clinic)
        try:
            assert await console.sign_in("dr-test", clinic.secret)
            session_id, _invites = await console.create_session("Tuesday")
            therapist = await console.open_live(session_id)
            live = console.live[session_id]
            await until(lambda: therapist.facts.link == "lost", 20, "the call's own state")
            await settle(0.3)
            assert "Waiting for the patient" in live.link.text(), live.link.text()
            assert "lost" not in live.link.text().lower()
        finally:
            await console.close_all()
            console.close()

    run_ui(test, timeout_s=40)


def test_live_session_round_trips_alerts_plan_notes_and_summary(run_ui: RunUi) -> None:
    async def test(clinic: UiClinic) -> None:
        console = _console(clinic)
        patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient"))
        other = RoleCore("patient", clinic.server.ws_url, clinic.options("patient2"))
        support = SupportWindow(clinic.maker("support"))
        support.resize(1100, 800)
        support.show()
        folder = shots("therapist")
        try:
            assert await console.sign_in("dr-test", clinic.secret)
            session_id, invites = await console.create_session("Tuesday")
            second_id, second_invites = await console.create_session("Wednesday")
            therapist = await console.open_live(session_id)
            live = console.live[session_id]
            await patient.connect()
            await patient.join(invites["patient"].code)
            await patient.start()
            assert await support.join(invites["support"].link)
            await until(
                lambda: live.video.frames_shown > 3 and therapist.facts.link == "connected", 20
            )
            assert "Connected" in live.link.text()
            await until(lambda: live.quality.text().startswith("Quality: Good"), 10)

            # Check-in request round trip, from the console's button.
            asked: list[str] = []
            patient.checkin_requested.connect(asked.append)
            QTest.mouseClick(live.request, Qt.MouseButton.LeftButton)
            await until(lambda: bool(asked))
            await until(lambda: "waiting" in live.clock.text())
            await patient.check_in("key")
            await until(lambda: "Last check-in: just now" in live.checkin.text())
            await until(lambda: "just now" in support.checkin.text())

            # A grounding prompt pushed from the console reaches the patient's core.
            shown: list[str] = []
            patient.prompt_pushed.connect(shown.append)
            live.prompt_choice.setCurrentIndex(live.prompt_choice.findData("feet-on-floor"))
            QTest.mouseClick(live.push, Qt.MouseButton.LeftButton)
            await until(lambda: shown == ["feet-on-floor"])
            # What the patient heard, in plain words on the console's timeline (the patient's
            # own voice is tested in tests/ui/test_patient_keys.py: here it is only reported).
            assert patient.guardian is not None
            spoken = SpokenLine(kind="spoken", line_id="prompt:feet-on-floor", voice="espeak-ng")
            await patient.guardian.publish(spoken)
            heard = "The patient heard: “Feet on the floor. Feel where your body is held up"
            await until(
                lambda: any(
                    heard in live.timeline.item(i).text() for i in range(live.timeline.count())
                ),
                what="the console's timeline shows what the patient heard",
            )

            # A message for the support person.
            live.message.setText("Please bring a glass of water")
            QTest.keyClick(live.message, Qt.Key.Key_Return)
            await until(lambda: "glass of water" in support.from_therapist.text())

            # "I need help": the therapist's banner and the support person's call; their
            # "I'm with the patient" clears it for every role.
            await patient.help_held()
            await until(lambda: bool(live.alert_rows) and support.call_panel.isVisible())
            row = next(iter(live.alert_rows.values()))
            assert "asking for help" in row.text.text() and "At " in row.when.text()
            assert console.tabs.tabText(console.tabs.indexOf(live)).startswith("⚠")
            console.grab().save(str(folder / "therapist-alert.png"))
            support.grab().save(str(shots("support") / "support-call.png"))
            QTest.mouseClick(support.with_patient_button, Qt.MouseButton.LeftButton)
            await until(lambda: not live.alert_rows and not live.alert_banner.isVisible())
            await until(lambda: not support.call_panel.isVisible())
            await until(lambda: not patient.facts.open_alerts and not therapist.facts.open_alerts)
            assert support.core is not None and not support.core.facts.open_alerts
            assert console.tabs.tabText(console.tabs.indexOf(live)) == "Tuesday"

            # The plan: limits and instructions reach the support person.
            live.instructions.setPlainText("Sit with them quietly; call Dr Rivera on 555 0100.")
            live.emergency.setText("112")
            live.hr_max.setValue(110)
            live.vitals_at.setText("nonsense")
            assert not await live.send_plan()
            assert "Vitals times" in live.plan_error.text()
            live.vitals_at.setText("-5, 40")
            assert await live.send_plan()
            await until(
                lambda: (
                    support.core is not None and support.core.facts.plan.emergency_number == "112"
                )
            )
            assert "112" in support.emergency_line.text()
            assert therapist.guardian is not None

            # Vitals beyond the limits alert the therapist at once; acknowledged there.
            support.record_vitals_button.click()
            support.systolic.setValue(172)
            support.diastolic.setValue(80)
            support.heart_rate.setValue(96)
            QTest.mouseClick(support.reminder_done, Qt.MouseButton.LeftButton)
            await until(lambda: bool(live.alert_rows))
            row = next(iter(live.alert_rows.values()))
            assert "Vitals outside the limits" in row.text.text()
            QTest.mouseClick(row.ack, Qt.MouseButton.LeftButton)
            await until(lambda: not live.alert_rows)

            # Private notes, encrypted (no keyring here: a passphrase, asked on the page
            # once, never in a dialog).
            live.note.setPlainText("Calm, some tearfulness at 40 min.")
            assert not await live.save_note()
            assert not live.passphrase.isHidden() and "passphrase" in live.note_status.text()
            assert QApplication.activeModalWidget() is None
            live.passphrase.setText("a long passphrase")
            assert await live.save_note()
            assert live.passphrase.isHidden()
            live.note.setPlainText("Settled again.")
            assert await live.save_note()
            assert live.notes_list.count() == 2 and console.passphrases.value
            assert therapist.records is not None
            raw = (therapist.options.data_dir).rglob("*")
            assert not any(b"tearfulness" in p.read_bytes() for p in raw if p.is_file())

            # A second session in its own tab keeps its own state.
            second = await console.open_live(second_id)
            await other.connect()
            await other.join(second_invites["patient"].code)
            await other.start()
            await until(lambda: second.facts.link == "connected", 20)
            other_live = console.live[second_id]
            assert other_live.core is second and "not yet" in other_live.checkin.text()
            assert live.notes_list.count() == 2 and other_live.notes_list.count() == 0
            await other.help_held()
            await until(lambda: bool(other_live.alert_rows))
            assert not live.alert_rows
            console.tabs.setCurrentWidget(live)
            await settle(0.1)
            assert console.tabs.tabText(console.tabs.indexOf(other_live)).startswith("⚠")
            console.grab().save(str(folder / "therapist-other-session-alert.png"))
            other_live.acknowledge_all()
            await until(lambda: not other_live.alert_rows)

            # The screens, as the therapist sees them.
            console.tabs.setCurrentWidget(live)
            saved = console.save_screenshots(folder)
            assert len(saved) >= 1 + 2 * 5
            support.save_screenshots(shots("support"))

            # The summary: HTML and a PDF that renders.
            html_path, pdf_path = live.export_summary(folder / "summary")
            text = html_path.read_text()
            assert "Check-ins" in text and "The patient is asking for help" in text
            assert "Feet on the floor" in text and "172/80" in text and "Settled again." in text
            assert pdf_path.read_bytes().startswith(b"%PDF")
            assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is needed"
            for old in folder.glob("summary-*.png"):
                old.unlink()
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "70",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    str(pdf_path),
                    str(folder / "summary"),
                ],
                check=True,
            )
            assert list(folder.glob("summary*.png"))

            # Ending the session: everyone sees it; the summary is in front.
            await live.end_session()
            await until(lambda: live.tabs.currentIndex() == live.tabs_summary_index)
            assert not live.request.isEnabled()
            await until(lambda: support.core is not None and support.core.facts.ended)
            await until(lambda: "ended" in support.state.text())
            console.grab().save(str(folder / "therapist-ended-summary.png"))
            support.grab().save(str(shots("support") / "support-ended.png"))
        finally:
            for core in (patient, other):
                await core.close()
            if support.core is not None:
                await support.core.close()
            await console.close_all()
            console.close()
            support.close()

    run_ui(test, timeout_s=90)
