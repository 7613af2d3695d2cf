"""The outer ladder's asyncio driver: watches the sessions' timelines, asks the Sans-I/O
``OuterLadder`` what is due, hands messages to Apprise, and writes on the timeline who was
told, how, and who answered.

What it watches (every event the server stores, after it is stored):

    member.lost of the patient            opens ``patient_away`` (the server saw its place go)
    member.back/joined/left of the patient clears it
    link.state lost from the therapist    opens ``call_lost``; connected/degraded clears it
    alert.raised help, go_to_patient, link_lost, or checkin_unanswered for the support
                                          person: opens ``alert:<id>``; alert.resolved clears it
    alert.ack from any app                acknowledged: the incident closes
    session.end                           the link no longer counts (a help alert still does)

Every message says only "Companion: please check on the patient now. Acknowledge: <link>":
no name, no reason, nothing about health. It is written in the support person's language
(the language their app or board last gave, by ``join`` or ``set_language``), and so is the
acknowledge page it links to; the clinic's on-call gets the source language. Log lines name incidents, rounds and channel
kinds, never an address or a URL (Apprise's own logger is kept quiet for that reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from companion.i18n import N_, SOURCE_LANGUAGE, languages, translations
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import (
    AlertAck,
    ContactsChanged,
    Escalation,
    EventBody,
    LinkState,
    MemberChange,
    Ok,
    Role,
    SetContacts,
)
from companion.server.connection import ClientConnection
from companion.server.escalation_store import EscalationStore, Send
from companion.server.notify_config import NotifyConfig
from companion.server.outer_ladder import Incident, OuterLadder, Round
from companion.server.store import MemberRecord
from companion.server.tokens import AckClaims, TokenSigner, issue_ack, new_id
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)
# Apprise, and urllib3 under it, log the URLs they send to (addresses, sometimes secrets):
# not in the server's log, even with --debug.
logging.getLogger("apprise").setLevel(logging.CRITICAL)
logging.getLogger("urllib3").setLevel(logging.WARNING)

TITLE = "Companion"  # i18n: not words (the name)
BODY = N_("Companion: please check on the patient now. Acknowledge: {link}")
LINK_TTL_S = 3600.0
"""An acknowledge link works this long (and once)."""
SEND_TIMEOUT_S = 20.0
NEEDS_SUPPORT = frozenset({"help", "go_to_patient", "link_lost"})

Emit = Callable[[str, EventBody], Awaitable[None]]
"""Append a server-written event to a session's timeline (and fan it out)."""
Notify = Callable[[str, str, str], Awaitable[bool]]
"""Hand (url, title, body) to a channel; True if it took it."""


async def apprise_notify(url: str, title: str, body: str) -> bool:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(await sender.async_notify(body=body, title=title))


def _warm_apprise() -> None:
    import apprise

    apprise.Apprise().add("json://localhost")


@dataclass(frozen=True)
class Target:
    key: str
    """``support:email``, ``support:sms``, ``oncall:0``…: what the store and log name."""
    who: str
    channel: str
    url: str
    language: str = SOURCE_LANGUAGE
    """The words of the message and of the acknowledge page it links to."""


class EscalationDriver:
    def __init__(
        self,
        config: NotifyConfig,
        store: EscalationStore,
        signer: TokenSigner,
        emit: Emit,
        link_base: Callable[[], str],
        members: Callable[[str], Awaitable[list[MemberRecord]]],
        notify: Notify = apprise_notify,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.signer = signer
        self.emit = emit
        self.link_base = link_base
        self.members = members
        self.notify = notify
        self.clock = clock
        self.ladder = OuterLadder(config.timings)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background = TaskSet()
        self._delivering = TaskSet()

    # -- lifecycle

    async def start(self) -> None:
        # Apprise loads its plugins on first use (about a second here): not on the first
        # message's time.
        await asyncio.to_thread(_warm_apprise)
        self.ladder.restore(await asyncio.to_thread(self.store.open_incidents))
        if self.ladder.incidents:
            _log.info("escalation: %d open incident(s) carried over", len(self.ladder.incidents))
        self._task = asyncio.create_task(self._run(), name="escalation")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._delivering:
            await asyncio.wait(list(self._delivering), timeout=SEND_TIMEOUT_S)
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def poke(self) -> None:
        """Look at the clock again now (a test's clock moved)."""
        self._wake.set()

    # -- what happened

    def observe(
        self, session_id: str, event: EventBody, from_role: Role | None, from_member: str | None
    ) -> None:
        """Every event the server stored (not duplicates), in order."""
        now, ladder = self.clock(), self.ladder
        changed: Incident | None = None
        joined = ("member.joined", "member.back")
        if isinstance(event, MemberChange) and event.kind in joined and event.role != "patient":
            # Which contacts are held, again for whoever joins or comes back (a board opened
            # again, a console restarted): no history is replayed to a fresh join.
            self._spawn(self._contacts_again(session_id))
        if isinstance(event, MemberChange) and event.role == "patient":
            # Member news can reach here out of order (a join's announcement written after
            # the same member was already lost again): the store says where it is now.
            self._spawn(self._patient_moved(session_id))
        elif from_role is None:
            return  # our own escalation and acknowledgements
        elif isinstance(event, LinkState) and from_role in ("therapist", "patient"):
            if event.state == "lost" and from_role == "therapist":
                changed = ladder.condition_opened(now, session_id, "call_lost", new_id())
            elif event.state in ("connected", "degraded"):
                changed = ladder.condition_cleared(now, session_id, "call_lost")
        elif event.kind == "alert.raised":
            needs_support = event.reason in NEEDS_SUPPORT or (
                event.reason == "checkin_unanswered" and "support" in event.for_roles
            )
            if needs_support:
                condition = f"alert:{event.alert_id}"
                changed = ladder.condition_opened(now, session_id, condition, new_id())
        elif event.kind == "alert.resolved":
            changed = ladder.condition_cleared(now, session_id, f"alert:{event.alert_id}")
        elif event.kind == "alert.ack" or event.kind == "with_patient":
            # Someone in the home answered (the support person's acknowledgement or "I'm
            # with the patient"), or anyone acknowledged an alert of this incident. The
            # therapist acknowledging their own screen (a lost call, a battery) is not
            # someone going to the patient: the phones are still called.
            current = ladder.incidents.get(session_id)
            ours = (
                current is not None
                and f"alert:{getattr(event, 'alert_id', '')}" in current.conditions
            )
            if from_role == "support" or ours:
                changed = ladder.acknowledged(now, session_id)
        elif event.kind == "session.end":
            changed = ladder.clear_all(now, session_id, "patient_away")
            changed = ladder.clear_all(now, session_id, "call_lost") or changed
            self._spawn(asyncio.to_thread(self.store.forget_session, session_id))
        if changed is not None:
            self._changed(changed)

    async def _patient_moved(self, session_id: str) -> None:
        try:
            members = await self.members(session_id)
        except Exception:
            _log.warning("escalation: members of %s unreadable now", session_id)
            return
        patients = [m.status for m in members if m.role == "patient"]
        now = self.clock()
        changed: Incident | None
        if "lost" in patients and "online" not in patients:
            changed = self.ladder.condition_opened(now, session_id, "patient_away", new_id())
        else:
            changed = self.ladder.condition_cleared(now, session_id, "patient_away")
        if changed is not None:
            self._changed(changed)

    def _changed(self, incident: Incident) -> None:
        # Written at once (a few ms): a restart right after must find it.
        self.store.save_incident(incident)
        if incident.closed is None:
            _log.info(
                "escalation: incident %s holds %s",
                incident.incident_id,
                ",".join(sorted(c.split(":")[0] for c in incident.conditions)),
            )
        else:
            _log.info("escalation: incident %s %s", incident.incident_id, incident.closed)
            if incident.rounds_sent:
                stopped = Escalation(
                    kind="escalation", incident_id=incident.incident_id, what="stopped"
                )
                self._spawn(self._emit(incident.session_id, stopped))
        self._wake.set()

    async def link_pressed(self, claims: AckClaims) -> bool:
        """A person pressed an acknowledge link (checked and marked used by the caller).
        Returns whether it stopped an escalation still running."""
        incident = self.ladder.incidents.get(claims.session_id)
        running = incident is not None and incident.incident_id == claims.incident_id
        alert_ids: list[str] = []
        if running:
            assert incident is not None
            alert_ids = incident.alert_ids
            closed = self.ladder.acknowledged(self.clock(), claims.session_id)
            assert closed is not None
            await asyncio.to_thread(self.store.save_incident, closed)
            self._wake.set()
        _log.info("escalation: incident %s answered by link (%s)", claims.incident_id, claims.who)
        answered = Escalation(
            kind="escalation",
            incident_id=claims.incident_id,
            what="answered",
            who=claims.who,  # type: ignore[arg-type]
            channel="link",
        )
        await self._emit(claims.session_id, answered)
        for alert_id in alert_ids:
            await self._emit(claims.session_id, AlertAck(kind="alert.ack", alert_id=alert_id))
        return running

    async def set_contacts(self, conn: ClientConnection, msg: SetContacts) -> None:
        member = conn.member
        if member is None:
            raise ProtocolError(ErrorCode.NOT_JOINED)
        if msg.session_id != member.session_id:
            raise ProtocolError(ErrorCode.WRONG_SESSION)
        if member.role == "patient":
            raise ProtocolError(ErrorCode.FORBIDDEN)
        contacts = {k: v for k, v in (("email", msg.email), ("sms", msg.sms)) if v is not None}
        await asyncio.to_thread(self.store.set_contacts, member.session_id, contacts, member.role)
        _log.info(
            "escalation: %s set %d contact(s) for session %s",
            member.role,
            len(contacts),
            member.session_id,
        )
        conn.send(Ok(rid=msg.rid).model_dump_json())
        # The therapist's console shows whether a phone can be reached: which kinds are
        # held, and by whom (never the addresses).
        changed = ContactsChanged(
            kind="contacts",
            email="email" in contacts,
            sms="sms" in contacts,
            by="therapist" if member.role == "therapist" else "support",
        )
        await self._emit(member.session_id, changed)

    async def _contacts_again(self, session_id: str) -> None:
        held = await asyncio.to_thread(self.store.contacts, session_id)
        if held:
            kinds = {c.kind for c in held}
            by: Literal["therapist", "support"] = (
                "therapist" if held[0].set_by == "therapist" else "support"
            )
            await self._emit(
                session_id,
                ContactsChanged(kind="contacts", email="email" in kinds, sms="sms" in kinds, by=by),
            )

    @property
    def reaches(self) -> list[Literal["email", "sms", "oncall"]]:
        """How this server reaches people outside the apps (told in every ``welcome``)."""
        kinds: list[Literal["email", "sms", "oncall"]] = [
            k for k in ("email", "sms") if k in self.config.channels
        ]
        return kinds + (["oncall"] if self.config.oncall else [])

    # -- sending

    async def _run(self) -> None:
        for send in await asyncio.to_thread(self.store.pending_sends):
            # Claimed, never confirmed: the server stopped while handing it over. Sent
            # again (the same link): a message twice beats a message lost.
            await self._resend(send)
        while True:
            for due in self.ladder.due(self.clock()):
                await self._send_round(due)
            next_due = self.ladder.next_due()
            wait = None if next_due is None else max(0.05, next_due - self.clock())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def language_said(self, member: MemberRecord, lang: str) -> None:
        """A member said which language they read (``join``, ``set_language``): the latest
        is kept, with the session's contacts' lifetime."""
        await asyncio.to_thread(self.store.set_language, member.session_id, member.member_id, lang)
        _log.info("escalation: %s of session %s gave a language", member.role, member.session_id)

    async def _support_language(self, session_id: str) -> str:
        """The language the support person last said they read (their latest join or
        ``set_language``); the source language if none, or one this server does not have."""
        try:
            members = await self.members(session_id)
        except Exception:
            _log.warning("escalation: members of %s unreadable now", session_id)
            return SOURCE_LANGUAGE
        said: list[str] = []
        for m in members:
            if m.role == "support":
                lang = await asyncio.to_thread(self.store.language_of, m.member_id)
                if lang or m.language:
                    said.append(lang or m.language or "")
        return said[-1] if said and said[-1] in languages() else SOURCE_LANGUAGE

    def _targets(self, session_id: str, oncall: bool, language: str) -> list[Target]:
        targets = []
        for contact in self.store.contacts(session_id):
            url = self.config.url_for(contact.kind, contact.address)
            if url is not None:
                targets.append(
                    Target(f"support:{contact.kind}", "support", contact.kind, url, language)
                )
        if oncall or not targets:  # nobody to reach at home: the on-call at once
            targets += [
                Target(f"oncall:{n}", "oncall", "oncall", url)
                for n, url in enumerate(self.config.oncall)
            ]
        return targets

    async def _send_round(self, due: Round) -> None:
        incident = self.ladder.incidents.get(due.session_id)
        if incident is None:
            return
        language = await self._support_language(due.session_id)
        targets = await asyncio.to_thread(self._targets, due.session_id, due.oncall, language)
        if not targets:
            _log.warning(
                "escalation: incident %s round %d has nobody to reach", due.incident_id, due.number
            )
        _log.info(
            "escalation: incident %s round %d to %s",
            due.incident_id,
            due.number,
            ",".join(t.key for t in targets),
        )
        sends = []
        for target in targets:
            claimed = await asyncio.to_thread(
                self.store.claim_send, due.incident_id, due.number, target.key
            )
            if claimed is not None:
                sends.append((claimed, target))
        # Claimed first, then the round counted: a stop in between finds the claims (sent
        # again at start) and the round due again (its claims refuse a second copy).
        await asyncio.to_thread(self.store.save_incident, incident)
        deliveries = [
            self._delivering.spawn(self._deliver(due.session_id, claimed, target))
            for claimed, target in sends
        ]
        # Shielded: a stopping server lets a message being handed over finish (and be
        # written down as sent) rather than leave it to be sent again after the restart.
        await asyncio.gather(*(asyncio.shield(t) for t in deliveries))

    async def _resend(self, send: Send) -> None:
        incident = await asyncio.to_thread(self.store.incident, send.incident_id)
        if incident is None or incident.closed is not None:
            await asyncio.to_thread(self.store.finish_send, send, "failed")
            return
        oncall = send.target.startswith("oncall:")
        language = await self._support_language(incident.session_id)
        target = next(
            (
                t
                for t in self._targets(incident.session_id, oncall, language)
                if t.key == send.target
            ),
            None,
        )
        if target is None:
            await asyncio.to_thread(self.store.finish_send, send, "failed")
            return
        await self._deliver(incident.session_id, send, target)

    def link_for(
        self, session_id: str, send: Send, who: str, language: str = SOURCE_LANGUAGE
    ) -> str:
        """The acknowledge link; ``?lang=`` asks the page for the message's language (not
        signed: it changes only the page's words)."""
        claims = AckClaims(
            send.link_id, session_id, send.incident_id, who, self.clock() + LINK_TTL_S
        )
        link = f"{self.link_base().rstrip('/')}/ack/{issue_ack(self.signer, claims)}"
        return link if language == SOURCE_LANGUAGE else f"{link}?lang={language}"

    async def _deliver(self, session_id: str, send: Send, target: Target) -> None:
        link = self.link_for(session_id, send, target.who, target.language)
        body = translations(target.language).gettext(BODY).format(link=link)
        try:
            ok = await asyncio.wait_for(self.notify(target.url, TITLE, body), SEND_TIMEOUT_S)
        except Exception as exc:  # a channel's failure must not stop the others
            _log.warning("escalation: %s failed (%s)", target.key, type(exc).__name__)
            ok = False
        await asyncio.to_thread(self.store.finish_send, send, "sent" if ok else "failed")
        _log.info(
            "escalation: incident %s round %d %s: %s",
            send.incident_id,
            send.round,
            target.key,
            "sent" if ok else "failed",
        )
        told = Escalation(
            kind="escalation",
            incident_id=send.incident_id,
            what="notified" if ok else "failed",
            who=target.who,  # type: ignore[arg-type]
            channel=target.channel,  # type: ignore[arg-type]
            round=send.round,
        )
        await self._emit(session_id, told)

    async def _emit(self, session_id: str, event: EventBody) -> None:
        try:
            await self.emit(session_id, event)
        except Exception:
            _log.warning("escalation: could not write %s to session %s", event.kind, session_id)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        self._background.spawn(run())


def new_event_id() -> str:
    return str(uuid.uuid4())
