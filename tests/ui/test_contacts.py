"""Issue 21: the support person's phone and e-mail, entered by people on real widgets, reach
a real server's store (encrypted) through ``set_contacts``; the therapist's console says
whether a phone can be reached; nothing typed reaches a log or the timeline."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from companion.app import RoleCore
from companion.server.app import SignalingServer
from companion.ui.contacts import ContactsForm
from companion.ui.support import SupportWindow
from companion.ui.therapist.live import LiveSession
from tests.ui.conftest import (
    RunUi,
    UiClinic,
    board_joined,
    close_all,
    live_console,
    settle,
    shots,
)
from tests.waiting import until

PHONE_TYPED = "+44 7700 900123"
PHONE = "+447700900123"
EMAIL = "sam.support@example.org"
THERAPIST_PHONE = "+1 (415) 555-0100"


@pytest.fixture
def notify_config(tmp_path: Path) -> Path:
    """A clinic that texts and e-mails (to ports nobody listens on: no incident opens in
    these tests, so nothing is sent), with an on-call."""
    path = tmp_path / "notify.toml"
    path.write_text("""
[channels]
email = "mailto://127.0.0.1:9?from=companion@clinic.test&to={to}"
sms = "json://127.0.0.1:9/sms/{to}"
[oncall]
urls = ["json://127.0.0.1:9/oncall"]
""")
    return path


@pytest.fixture
def quick_notify_config(notify_config: Path) -> Path:
    """The same clinic, its outer ladder at its quickest (10 s without an answer)."""
    path = notify_config.with_name("quick.toml")
    path.write_text(notify_config.read_text() + "[ladder]\nafter_s = 10\n")
    return path


def stored(server: SignalingServer, session_id: str) -> dict[str, tuple[str, str]]:
    assert server.escalation is not None
    return {c.kind: (c.address, c.set_by) for c in server.escalation.store.contacts(session_id)}


def type_into(field: QLineEdit, text: str) -> None:
    field.clear()
    QTest.keyClicks(field, text)


def click(form: ContactsForm) -> None:
    QTest.mouseClick(form.save_button, Qt.MouseButton.LeftButton)


def timeline_text(live: LiveSession) -> list[str]:
    return [live.timeline.item(i).text() for i in range(live.timeline.count())]


def nothing_personal(texts: list[str]) -> None:
    for text in texts:
        for secret in ("7700", "900123", "example.org", "555-0100", "5550100"):
            assert secret not in text, text


def test_the_support_person_gives_their_phone_as_they_join_and_the_console_shows_it_armed(
    run_ui: RunUi, notify_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(clinic: UiClinic) -> None:
        async with live_console(clinic) as (therapist, invites, live):
            session_id = therapist.session_id
            board = SupportWindow(clinic.maker("support"))
            boards = [board]
            board.resize(1100, 900)
            board.show()
            try:
                # Before anyone gave a number: the console says nobody can be reached by phone,
                # and shows that no support person is there, from the start.
                assert live.reach.property("armed") is False
                assert "no number or e-mail for the support person" in live.reach.text()
                assert "on-call" in live.reach.text()
                await until(lambda: not live.no_support.isHidden(), 10, "no support person shown")
                assert "no phone can be reached" in live.no_support.text()

                assert await board.join(invites["support"].code)
                form = board.contacts_form
                await until(lambda: board.contacts_panel.isVisible(), 5, "the board asks")
                assert "your app is closed, the clinic can text or e-mail you" in form.intro.text()
                assert form.skip_button is not None and form.skip_button.isVisible()
                # It fits a laptop's screen with the board's large type (issue 16, item 7).
                board.resize(1366, 730)
                await settle(0.1)
                hint = board.minimumSizeHint()
                assert hint.height() <= 730 and hint.width() <= 1366, hint
                board.grab().save(str(shots("support") / "support-contacts-1366.png"))

                # Enter in the empty form is "Not now": it removes nothing (the therapist
                # may have given their number already) and it can be asked again.
                QTest.keyClick(form.phone, Qt.Key.Key_Return)
                await until(lambda: not board.contacts_panel.isVisible(), 5, "not now")
                assert "will not text or e-mail you" in board.contacts_note.text()
                await settle(0.3)
                assert not any("removed" in t for t in timeline_text(live))
                QTest.mouseClick(board.contacts_again, Qt.MouseButton.LeftButton)
                assert board.contacts_panel.isVisible() and form.phone.hasFocus()

                # A number without its country code is refused inline, nothing is stored.
                type_into(form.phone, "07700 900123")
                form.consent.setChecked(True)
                click(form)
                await until(lambda: form.error.isVisible(), 5, "the refusal is shown")
                assert "country code" in form.error.text()
                assert form.phone.hasFocus()
                assert QApplication.activeModalWidget() is None
                assert stored(clinic.server, session_id) == {}
                board.grab().save(str(shots("support") / "support-contacts-refused.png"))

                # Without ticking the box: asked to agree first.
                type_into(form.phone, PHONE_TYPED)
                type_into(form.email, EMAIL)
                form.consent.setChecked(False)
                click(form)
                await until(lambda: "tick the box" in form.error.text(), 5, "consent asked")
                assert stored(clinic.server, session_id) == {}

                form.consent.setChecked(True)
                click(form)
                await until(lambda: not board.contacts_panel.isVisible(), 10, "saved and folded")
                assert "can text or e-mail you" in board.contacts_note.text()
                assert stored(clinic.server, session_id) == {
                    "sms": (PHONE, "support"),
                    "email": (EMAIL, "support"),
                }
                # Kept encrypted on the server's disk.
                raw = (clinic.folder / "server" / "escalation.sqlite3").read_bytes()
                assert PHONE.encode() not in raw and EMAIL.encode() not in raw
                board.grab().save(str(shots("support") / "support-contacts-saved.png"))

                # The console: armed, and the support person present.
                await until(lambda: live.reach.property("armed") is True, 10, "the console knows")
                assert "their phone (text message) and their e-mail" in live.reach.text()
                await until(lambda: live.no_support.isHidden(), 10, "the support person is here")
                await until(
                    lambda: any("given by the support person" in t for t in timeline_text(live)),
                    5,
                    "the timeline says who gave them",
                )
                live.grab().save(str(shots("therapist") / "therapist-phone-armed.png"))

                # The support person leaves: the banner says their phone can still be messaged.
                assert board.core is not None
                await board.core.close()
                await until(lambda: not live.no_support.isHidden(), 15, "the console sees them go")
                assert "phone can still be messaged" in live.no_support.text()
                live.grab().save(str(shots("therapist") / "therapist-no-support-phone-armed.png"))

                # Their board opened again: what they gave is remembered, not asked again.
                again = await board_joined(clinic, invites["support"].code, boards)
                await until(lambda: not again.contacts_panel.isVisible(), 5, "not asked again")
                assert "can text or e-mail you" in again.contacts_note.text()
                assert again.contacts_again.isVisible()
                # Said again for the board, not a second line on the console.
                given = [t for t in timeline_text(live) if "given by the support person" in t]
                assert len(given) == 1, given

                nothing_personal(timeline_text(live))
                nothing_personal([e.text for e in therapist.facts.timeline])
            finally:
                await close_all(*boards)
            nothing_personal([r.getMessage() for r in caplog.records])

    run_ui(test, notify_config=notify_config)


def test_the_therapist_enters_and_changes_the_support_persons_contacts_in_the_plan(
    run_ui: RunUi, notify_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(clinic: UiClinic) -> None:
        async with live_console(clinic, 900) as (therapist, _invites, live):
            session_id = therapist.session_id
            live.tabs.setCurrentIndex(1)  # the plan
            form = live.contacts_form
            assert form.isVisible() and form.skip_button is None

            type_into(form.phone, "12345")
            form.consent.setChecked(True)
            click(form)
            await until(lambda: form.error.isVisible(), 5, "a short number is refused")
            assert "country code" in form.error.text()
            type_into(form.phone, "")
            type_into(form.email, "sam@")
            click(form)
            await until(lambda: "e-mail address" in form.error.text(), 5, "a broken e-mail")
            assert form.email.hasFocus()
            assert QApplication.activeModalWidget() is None
            live.grab().save(str(shots("therapist") / "therapist-plan-contacts-refused.png"))
            assert stored(clinic.server, session_id) == {}

            type_into(form.email, "")
            type_into(form.phone, THERAPIST_PHONE)
            click(form)
            await until(lambda: stored(clinic.server, session_id) != {}, 10, "stored")
            assert stored(clinic.server, session_id) == {"sms": ("+14155550100", "therapist")}
            await until(lambda: live.reach.property("armed") is True, 10, "armed")
            assert not form.error.isVisible()
            assert "Saved" in form.status.text()
            assert "their phone (text message) will be messaged" in live.reach.text()
            live.grab().save(str(shots("therapist") / "therapist-plan-contacts-saved.png"))

            # Changed to an e-mail alone, then both removed: the console follows.
            type_into(form.phone, "")
            type_into(form.email, EMAIL)
            click(form)
            await until(
                lambda: stored(clinic.server, session_id) == {"email": (EMAIL, "therapist")}, 10
            )
            await until(lambda: "their e-mail will be messaged" in live.reach.text(), 10)
            type_into(form.email, "")
            form.consent.setChecked(False)  # removing needs no agreement
            click(form)
            await until(lambda: stored(clinic.server, session_id) == {}, 10, "removed")
            await until(lambda: live.reach.property("armed") is False, 10, "not armed any more")
            await settle(0.2)
            assert any("removed by the therapist" in t for t in timeline_text(live))
            nothing_personal(timeline_text(live))
            nothing_personal([live.summary_html()])

            # The session ends: the server forgets the contacts, the console says nothing more.
            await live.end_session()
            await until(lambda: live.reach.text() == "", 10, "no phone line after the end")
            assert not form.save_button.isEnabled()

    run_ui(test, notify_config=notify_config)
    nothing_personal([r.getMessage() for r in caplog.records])


def test_the_console_and_the_summary_pdf_say_who_was_messaged_in_plain_words(
    run_ui: RunUi, quick_notify_config: Path
) -> None:
    """The patient holds "I need help", no app answers: the server tries the support
    person's phone and e-mail (nobody listens on those ports: both fail) and the console's
    timeline and the summary's PDF say who was tried, how, and that it stopped."""

    async def test(clinic: UiClinic) -> None:
        async with live_console(clinic) as (_therapist, invites, live):
            patient = RoleCore("patient", clinic.server.ws_url, clinic.options("patient"))
            try:
                form = live.contacts_form
                type_into(form.phone, PHONE_TYPED)
                type_into(form.email, EMAIL)
                form.consent.setChecked(True)
                assert await form.send()
                await until(lambda: live.reach.property("armed") is True, 10, "armed")
                await patient.connect()
                await patient.join(invites["patient"].code)
                await patient.start()
                await patient.help_held()
                await until(lambda: bool(live.alert_rows), 10, "the therapist sees the call")

                def lines() -> list[str]:
                    return timeline_text(live)

                await until(
                    lambda: sum("Could not message the support person" in t for t in lines()) == 2,
                    25,
                    "the server tried their phone and e-mail",
                )
                assert any("(text message, round 1)" in t for t in lines())
                assert any("(e-mail, round 1)" in t for t in lines())
                live.acknowledge_all()
                await until(lambda: any("Phone messages stopped" in t for t in lines()), 10)
                live.tabs.setCurrentIndex(3)
                live.grab().save(str(shots("therapist") / "therapist-timeline-escalation.png"))

                html_path, pdf_path = live.export_summary(clinic.folder / "summary")
                text = subprocess.run(
                    ["pdftotext", "-layout", str(pdf_path), "-"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                text = " ".join(text.split())  # lines wrapped in the table's cells
                assert "Texts and e-mails outside the apps" in text
                assert "Could not message the support person (text message, round 1)" in text
                assert "Phone messages stopped" in text
                assert "given by the therapist" in text
                nothing_personal([text, html_path.read_text(), *lines()])
            finally:
                await patient.close()

    run_ui(test, timeout_s=90, notify_config=quick_notify_config)
