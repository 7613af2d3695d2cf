"""The server's outer ladder end to end: a real server, real members, Apprise's real code
sending to a real SMTP server (aiosmtpd) and a real HTTP receiver, and the acknowledge page
pressed over HTTP (and in headless Chromium where it is installed).

Only the wall clock is a fake: the ladder's minutes pass by moving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import html
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from companion import i18n
from companion.protocol.messages import AlertAck, AlertRaised, SessionEvent, WithPatient
from companion.server.app import ServerConfig, SignalingServer
from companion.server.escalation_store import EscalationStore
from companion.server.notify_config import NotifyConfig, NotifyConfigError
from companion.server.tokens import AckClaims, issue_ack
from companion.signaling.client import SignalingClient
from devtools.chromium import chromium

EMAIL = "sam.support@home.test"
PHONE = "+15551234567"
HOOK_SECRET = "hook-s3cret-value"
HELP_ID = "help-1"
LINK = re.compile(r"Acknowledge: (\S+/ack/\S+)")
LINK_ES = re.compile(r"(\S+/ack/\S+)")


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Receivers:
    """A real SMTP server and a real HTTP receiver on 127.0.0.1."""

    mails: list[tuple[list[str], str]] = field(default_factory=list)
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    smtp_port: int = 0
    http_port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        mail = message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        plain = mail.get_body(("plain",))
        assert plain is not None
        self.mails.append((list(envelope.rcpt_tos), str(plain.get_content())))
        self.arrived.set()
        return "250 OK"

    async def hook(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, await request.json()))
        self.arrived.set()
        return web.Response(text="ok")

    def links(self) -> list[str]:
        texts = [body for _, body in self.mails] + [p["message"] for _, p in self.posts]
        return [m.group(1) for text in texts if (m := LINK.search(text))]

    async def wait(self, mails: int, posts: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.mails) < mails or len(self.posts) < posts:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    got = Receivers()
    smtp = await asyncio.get_running_loop().create_server(lambda: SMTP(got), "127.0.0.1", 0)
    got.smtp_port = smtp.sockets[0].getsockname()[1]
    app = web.Application()
    app.router.add_post("/{tail:.*}", got.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    got.http_port = runner.addresses[0][1]
    yield got
    smtp.close()
    await runner.cleanup()


@pytest.fixture
def config(tmp_path: Path, receivers: Receivers) -> ServerConfig:
    secret = tmp_path / "hook.secret"
    secret.write_text(HOOK_SECRET + "\n")
    notify = tmp_path / "notify.toml"
    notify.write_text(f"""
[secrets]
hook = "{secret}"
[channels]
email = "mailto://127.0.0.1:{receivers.smtp_port}?from=companion@clinic.test&to={{to}}"
sms = "json://127.0.0.1:{receivers.http_port}/sms/{{hook}}/{{to}}"
[oncall]
urls = ["json://127.0.0.1:{receivers.http_port}/oncall"]
[ladder]
after_s = 30
repeat_s = 120
oncall_after_s = 100
""")
    return ServerConfig(
        data_dir=tmp_path / "server", host="127.0.0.1", port=0, notify_config=notify
    )


@contextlib.asynccontextmanager
async def running(config: ServerConfig, clock: FakeClock) -> AsyncIterator[SignalingServer]:
    server = SignalingServer(config)
    assert server.escalation is not None
    server.escalation.clock = clock
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def later(server: SignalingServer, clock: FakeClock, seconds: float) -> None:
    clock.now += seconds
    assert server.escalation is not None
    server.escalation.poke()


@dataclass
class Session_:
    therapist: SignalingClient
    patient: SignalingClient
    session_id: str
    support_invite: str
    events: dict[str, list[SessionEvent]]


async def start_session(
    server: SignalingServer,
    contacts: bool = True,
    language: str | None = None,
    then_language: str | None = None,
) -> Session_:
    therapist_row, secret = server.db.add_therapist(f"dr-{time.monotonic_ns()}")
    therapist = SignalingClient(server.ws_url)
    await therapist.connect()
    await therapist.login(therapist_row.name, secret)
    created = await therapist.create_session("evening")
    session_id = created.session.session_id
    invites = {i.role: i for i in created.invites}
    await therapist.join(session_id=session_id)
    if contacts:
        # The support person gives their phone and e-mail, then closes their app.
        support = SignalingClient(server.ws_url)
        await support.connect()
        await support.join(invites["support"].token, as_role="support", language=language)
        if then_language is not None:  # changed on the picker after joining
            await support.set_language(then_language)
        await support.set_contacts(session_id, email=EMAIL, sms=PHONE)
        await support.leave()
        await support.close()
    patient = SignalingClient(server.ws_url)
    await patient.connect()
    await patient.join(invites["patient"].token, as_role="patient")
    events: dict[str, list[SessionEvent]] = {"therapist": [], "patient": []}
    therapist.event_received.connect(events["therapist"].append)
    patient.event_received.connect(events["patient"].append)
    return Session_(therapist, patient, session_id, invites["support"].token, events)


async def raise_help(session: Session_) -> str:
    alert = AlertRaised(kind="alert.raised", alert_id=HELP_ID, reason="help", urgent=True)
    await session.patient.wait_acked(await session.patient.send_event(alert))
    return alert.alert_id


@contextlib.asynccontextmanager
async def first_round(
    config: ServerConfig, clock: FakeClock, receivers: Receivers, contacts: bool = True
) -> AsyncIterator[tuple[SignalingServer, Session_]]:
    """A server whose session's patient asked for help, nobody answered, and the first
    round of messages has arrived."""
    async with running(config, clock) as server:
        s = await start_session(server, contacts)
        await raise_help(s)
        later(server, clock, 31)
        await receivers.wait(mails=1 if contacts else 0, posts=1)
        try:
            yield server, s
        finally:
            await s.patient.close()
            await s.therapist.close()


async def wait_event(events: list[SessionEvent], kind: str, timeout: float = 10.0, **match: Any):
    async with asyncio.timeout(timeout):
        while True:
            for e in events:
                body = e.event.model_dump()
                if e.event.kind == kind and all(body.get(k) == v for k, v in match.items()):
                    return e
            await asyncio.sleep(0.02)


async def test_unanswered_help_reaches_phones_and_a_link_quiets_every_app(
    config: ServerConfig, receivers: Receivers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    async with running(config, clock) as server:
        s = await start_session(server)
        alert_id = await raise_help(s)
        later(server, clock, 29)
        await asyncio.sleep(0.5)
        assert receivers.mails == [] and receivers.posts == []  # apps still have their time
        later(server, clock, 2)
        await receivers.wait(mails=1, posts=1)
        (rcpts, body), (path, post) = receivers.mails[0], receivers.posts[0]
        assert rcpts == [EMAIL] and path == f"/sms/{HOOK_SECRET}/{PHONE}"
        # Only what is needed: no name, no reason, nothing about health.
        for text in (body, post["message"]):
            assert LINK.sub("", text).strip() == "Companion: please check on the patient now."
        for who in ("email", "sms"):
            await wait_event(s.events["therapist"], "escalation", what="notified", channel=who)

        link = receivers.links()[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(link) as page:  # opening it changes nothing
                assert page.status == 200 and 'id="ack"' in await page.text()
            await asyncio.sleep(0.3)
            assert not [e for e in s.events["patient"] if e.event.kind == "alert.ack"]
            async with http.post(link) as answer:
                assert answer.status == 200 and 'id="done"' in await answer.text()
            for role in ("therapist", "patient"):
                ack = await wait_event(s.events[role], "alert.ack", alert_id=alert_id)
                assert ack.from_role is None and ack.from_member is None  # the server wrote it
            await wait_event(s.events["therapist"], "escalation", what="answered", who="support")
            async with http.post(link) as again:  # single use
                assert again.status == 410 and 'id="used"' in await again.text()
        later(server, clock, 600)
        await asyncio.sleep(0.5)
        assert (len(receivers.mails), len(receivers.posts)) == (1, 1)  # it stopped
        await s.patient.close()
        await s.therapist.close()
    # The server's log (not the test's own SMTP receiver's).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for private in (EMAIL, PHONE, HOOK_SECRET, "mailto:", "json:"):
        assert private not in logged


@pytest.mark.parametrize(("joined_in", "then"), [("es", None), ("en", "es")])
async def test_the_messages_and_the_acknowledge_page_speak_the_support_persons_language(
    config: ServerConfig, receivers: Receivers, joined_in: str, then: str | None
) -> None:
    """The support person joined in Spanish (or changed to it after joining): the e-mail,
    the SMS and the page their link opens are Spanish, even on a phone whose browser asks
    for English; the clinic's on-call is written to in English."""
    clock = FakeClock()
    spanish = i18n.translations("es").gettext
    async with running(config, clock) as server:
        s = await start_session(server, language=joined_in, then_language=then)
        await raise_help(s)
        later(server, clock, 31)
        await receivers.wait(mails=1, posts=1)
        (_rcpts, body), (_path, post) = receivers.mails[0], receivers.posts[0]
        want = spanish("Companion: please check on the patient now. Acknowledge: {link}")
        assert want.startswith("Companion: ") and "paciente" in want
        for text in (body, post["message"]):
            link = LINK_ES.search(text)
            assert link is not None, text
            assert text.strip() == want.format(link=link.group(1))
        link = LINK_ES.search(body)
        assert link is not None and link.group(1).endswith("?lang=es")
        # Nobody answered for long enough: the on-call joins, written to in English.
        later(server, clock, 220)
        await receivers.wait(mails=2, posts=3)
        oncall = [p["message"] for path, p in receivers.posts if path == "/oncall"]
        assert len(oncall) == 1 and oncall[0].startswith("Companion: please check on the patient")
        english_phone = {"Accept-Language": "en-US,en;q=0.9"}
        async with aiohttp.ClientSession() as http:
            async with http.get(link.group(1), headers=english_phone) as page:
                text = await page.text()
                assert page.status == 200 and '<html lang="es">' in text
                assert html.escape(spanish("I am checking on them")) in text
                assert "I am checking on them" not in text
            async with http.post(link.group(1), headers=english_phone) as answer:
                text = await answer.text()
                assert answer.status == 200 and 'id="done"' in text
                assert html.escape(spanish("Thank you")) in text and "Thank you" not in text
        await s.patient.close()
        await s.therapist.close()


async def test_a_restart_mid_escalation_loses_nothing_and_sends_nothing_twice(
    config: ServerConfig, receivers: Receivers
) -> None:
    clock = FakeClock()
    async with running(config, clock) as server:
        s = await start_session(server)
        await s.patient.drop_connection()  # the patient's place goes: the server sees it
        await s.patient.close()
        await asyncio.sleep(3.5)  # noticed within 2.5 s
        later(server, clock, 31)
        await receivers.wait(mails=1, posts=1)
        await s.therapist.close()
    # Down, then up again on the same data: round 0 is not sent again...
    async with running(config, clock) as server:
        later(server, clock, 60)
        await asyncio.sleep(1.0)
        assert (len(receivers.mails), len(receivers.posts)) == (1, 1)
        # ...and round 1 is, once, now with the on-call (100 s after round 0).
        later(server, clock, 80)
        await receivers.wait(mails=2, posts=3)
        later(server, clock, 1)
        await asyncio.sleep(1.0)
    assert [p for p, _ in receivers.posts].count("/oncall") == 1
    assert (len(receivers.mails), len(receivers.posts)) == (2, 3)
    assert len(set(receivers.links())) == 5  # one link per message


async def test_a_message_cut_off_mid_send_goes_out_again_after_a_restart(
    config: ServerConfig, receivers: Receivers
) -> None:
    clock = FakeClock()
    async with first_round(config, clock, receivers):
        pass
    # As if the server died after handing the e-mail over but before writing that down.
    store = EscalationStore(
        config.data_dir / "escalation.sqlite3", (config.data_dir / "signing.key").read_bytes()
    )
    # fault injection: the crash between two writes
    store._conn.execute("UPDATE sends SET status = 'pending' WHERE target = 'support:email'")
    store.close()
    async with running(config, clock):
        await receivers.wait(mails=2, posts=1)
        await asyncio.sleep(0.5)
    assert (len(receivers.mails), len(receivers.posts)) == (2, 1)


async def test_nobody_at_home_to_reach_goes_to_the_oncall_at_once(
    config: ServerConfig, receivers: Receivers
) -> None:
    clock = FakeClock()
    async with first_round(config, clock, receivers, contacts=False) as (_, s):
        assert receivers.posts[0][0] == "/oncall"
        await wait_event(s.events["therapist"], "escalation", what="notified", who="oncall")


async def test_hostile_links_and_contacts_are_refused(
    config: ServerConfig, receivers: Receivers
) -> None:
    clock = FakeClock()
    async with first_round(config, clock, receivers) as (server, s):
        link = receivers.links()[0]
        base, token = link.rsplit("/", 1)
        prefix, payload, mac = token.split(".")
        forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
        assert server.escalation is not None
        other_session = issue_ack(
            server.signer, AckClaims("x", "other", "inc", "support", clock.now + 60)
        )
        # Signed by this server but for a role no link may answer as.
        wrong_role = issue_ack(
            server.signer, AckClaims("y", s.session_id, "inc", "patient", clock.now + 60)
        )
        forged = [
            f"{base}/{wrong_role}",
            f"{base}/{prefix}.{forged_payload}.{mac}",  # payload changed
            f"{base}/{token[:-3]}abc",  # signature changed
            f"{base}/{s.support_invite}",  # an invite is not an acknowledge link
            f"{base}/ca1.{payload}.{mac}",  # another token kind's prefix
            f"{base}/{other_session.replace('ck1', 'ci1', 1)}",
        ]
        async with aiohttp.ClientSession() as http:
            for bad in forged:
                async with http.post(bad) as answer:
                    assert answer.status == 403, bad
            later(server, clock, 3601)  # expired
            async with http.post(link) as answer:
                assert answer.status == 410 and 'id="expired"' in await answer.text()
        await asyncio.sleep(0.3)
        assert not [e for e in s.events["therapist"] if e.event.kind == "alert.ack"]
        # The patient cannot name whom to message, nor could anyone without consent.
        with pytest.raises(Exception, match="forbidden"):
            await s.patient.set_contacts(s.session_id, email=EMAIL)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
async def test_the_acknowledge_page_in_headless_chromium(
    config: ServerConfig, receivers: Receivers, tmp_path: Path
) -> None:
    clock = FakeClock()
    async with first_round(config, clock, receivers) as (_, s):
        link = receivers.links()[0]
        async with chromium(tmp_path / "chromium") as page:
            await page.phone()
            await page.goto(link)
            await page.wait_for("document.getElementById('ask') !== null")
            assert await page.text("ask") == "Companion"
            await page.tap("ack")
            await page.wait_for("document.getElementById('done') !== null", timeout=10)
            assert await page.text("done") == "Thank you"
        await wait_event(s.events["patient"], "alert.ack", alert_id=HELP_ID)


async def test_the_therapist_acknowledging_their_own_screen_does_not_stand_the_phones_down(
    config: ServerConfig, receivers: Receivers
) -> None:
    clock = FakeClock()
    async with running(config, clock) as server:
        s = await start_session(server)
        await s.patient.drop_connection()
        await s.patient.close()
        await asyncio.sleep(3.5)  # the server saw the patient's place go
        # The therapist acknowledges their own "link lost" (an alert only their app knows).
        await s.therapist.wait_acked(
            await s.therapist.send_event(AlertAck(kind="alert.ack", alert_id="own-screen"))
        )
        later(server, clock, 31)
        await receivers.wait(mails=1, posts=1)  # nobody went to the patient: still called
        # The support person, back in their app, says they are with the patient: it stops.
        support = SignalingClient(server.ws_url)
        await support.connect()
        await support.join(s.support_invite, as_role="support")
        await support.wait_acked(await support.send_event(WithPatient(kind="with_patient")))
        await wait_event(s.events["therapist"], "escalation", what="stopped")
        later(server, clock, 600)
        await asyncio.sleep(0.5)
        assert (len(receivers.mails), len(receivers.posts)) == (1, 1)
        await support.close()
        await s.therapist.close()


def test_a_wrong_notify_config_names_the_key_and_never_a_secret(tmp_path: Path) -> None:
    secret = tmp_path / "smtp.secret"
    secret.write_text("hunter2-very-secret")
    notify = tmp_path / "notify.toml"
    notify.write_text(
        f'[secrets]\nsmtp = "{secret}"\n[channels]\nemail = "mailtos://u:{{smtp}}@h?to={{to}}"\n'
        'sms = "json://h/{twilio}/{to}"\n'
    )
    with pytest.raises(NotifyConfigError) as refused:
        NotifyConfig.load(notify)
    assert "channels.sms" in str(refused.value) and "twilio" in str(refused.value)
    assert "hunter2" not in str(refused.value)
    notify.write_text(
        f'[secrets]\nsmtp = "{secret}"\n[channels]\nemail = "mailtos://u:{{smtp}}@h?to={{to}}"\n'
    )
    loaded = NotifyConfig.load(notify)
    assert (
        loaded.url_for("email", "a+b@c.test") == "mailtos://u:hunter2-very-secret@h?to=a%2Bb@c.test"
    )
    assert loaded.url_for("sms", "+15551234567") is None  # no channel for it: not messaged
