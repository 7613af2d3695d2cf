"""``Guardian``: one app's part of the never-alone promise, wired to the real world.

It runs the role's ``Ladder`` and carries out what it says: alerts and sounds for the UI
(as Signals), the calm line for the patient, events for the others. Every event goes out
on every path at once — the signaling server, the call's control channel and the home
link — with one event id, and incoming copies are merged by that id, so each lands once.
Everything that happens is written, in order, to the local record.

It is the one gate for what arrives, whichever path brought it: an event counts (is
recorded, shown, fed to the ladder) only if the authority table lets its sender's role
send it and this app's role read it. The sender's role is the server's word on the
signaling path and a verified signature's on a peer path, never a link's assumption.
An event goes out on a peer link only if the member at the other end may read it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from companion.call.peer import PeerLink
from companion.events import Signal
from companion.monitor.ladder import (
    Action,
    Alert,
    ClearAlert,
    Ladder,
    LadderTimings,
    PatientLine,
    Publish,
    ShowAlert,
    Sound,
    SoundKind,
)
from companion.monitor.presence import SupportPresence
from companion.monitor.watch import LinkWatch
from companion.protocol import authority, sealing
from companion.protocol.messages import (
    CheckInRequest,
    EventBody,
    LinkState,
    LinkStateName,
    Presence,
    Role,
    SessionEvent,
)
from companion.records import RecordStore
from companion.signaling.client import SignalingClient
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)

_SEEN_LIMIT = 4096
_UNSENT_LIMIT = 256


class Guardian:
    def __init__(
        self,
        role: Role,
        signaling: SignalingClient,
        call: PeerLink | None = None,
        home: PeerLink | None = None,
        records: RecordStore | None = None,
        timings: LadderTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.role = role
        self.signaling = signaling
        self.records = records
        self.ladder = Ladder(role, timings or LadderTimings())
        # Who is there is a safety state: the therapist is told when nobody in the home
        # can be called (companion/monitor/presence.py).
        self.support_presence = SupportPresence(self.ladder) if role == "therapist" else None
        self._clock = clock
        self.call_watch = LinkWatch(call, signaling, clock=clock) if call is not None else None
        self.home_watch = LinkWatch(home, signaling, clock=clock) if home is not None else None
        self._links = [link for link in (call, home) if link is not None]
        # What the UI shows and plays
        self.alert_shown: Signal[[Alert]] = Signal()
        self.alert_cleared: Signal[[str, str]] = Signal()
        self.sound: Signal[[SoundKind]] = Signal()
        self.patient_line: Signal[[str]] = Signal()
        self.event_received: Signal[[str, EventBody, Role | None]] = Signal()
        """Every timeline event once, whichever path brought it first."""
        self.event_sent: Signal[[str, EventBody]] = Signal()
        """Every event this app published (its own part of the timeline)."""
        self.link_reported: Signal[[Role | None, LinkStateName]] = Signal()
        """A member's call state as its reports say now (``reported_link``), on change."""
        self._link_by: dict[Role | None, dict[str, LinkStateName]] = {}
        self._link_now: dict[Role | None, LinkStateName] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._unsent: dict[int, OrderedDict[str, EventBody]] = {}
        self._record_queue: asyncio.Queue[tuple[str, dict[str, Any], str | None] | None] = (
            asyncio.Queue()
        )
        self._tasks = TaskSet()
        self._ticker: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._refusals = authority.Refusals(_log)
        self._online_others: set[str] = set()

    @property
    def running(self) -> bool:
        """Whether the monitor's clock is ticking (started and not stopped)."""
        return self._ticker is not None and not self._ticker.done()

    @property
    def session_id(self) -> str:
        return self.signaling.joined.session_id if self.signaling.joined else "unjoined"

    # -- lifecycle

    async def start(self) -> None:
        self._unsubscribe.append(self.signaling.event_received.connect(self._on_session_event))
        self._unsubscribe.append(self.signaling.presence_changed.connect(self._on_presence))
        self._unsubscribe.append(
            self.signaling.state_changed.connect(lambda _state: self._link_reports_changed())
        )
        for link in self._links:
            self._unsubscribe.append(
                link.control_opened.connect(functools.partial(self._flush, link))
            )
            self._unsubscribe.append(
                link.event_received.connect(functools.partial(self._incoming, path=link.link_name))
            )
        if self.call_watch is not None:
            self._unsubscribe.append(self.call_watch.state_changed.connect(self._on_call_link))
            await self.call_watch.start()
        if self.home_watch is not None:
            self._unsubscribe.append(self.home_watch.state_changed.connect(self._on_home_link))
            await self.home_watch.start()
        self._ticker = asyncio.create_task(self._tick_loop())
        self._writer = asyncio.create_task(self._record_loop())

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for watch in (self.call_watch, self.home_watch):
            if watch is not None:
                await watch.close()
        if self._ticker is not None:
            self._ticker.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # The writer drains what is queued, then stops: nothing that happened is dropped.
        self._record_queue.put_nowait(None)
        if self._writer is not None:
            await self._writer

    # -- what this app's person does

    async def help_held(self) -> None:
        self._record("ui.help", {})
        await self._carry_out(self.ladder.help_held(self._clock()))

    async def acknowledge(self, alert_id: str) -> None:
        self._record("ui.ack", {"alert_id": alert_id})
        await self._carry_out(self.ladder.acknowledge(self._clock(), alert_id))

    async def request_checkin(self) -> str:
        request_id = uuid.uuid4().hex[:12]
        await self.publish(CheckInRequest(kind="checkin.request", request_id=request_id))
        return request_id

    async def publish(self, event: EventBody) -> str:
        """Send to everyone on every path that may read it; returns the event id."""
        if not authority.may_send(self.role, event.kind):
            raise PermissionError(f"the {self.role} may not send {event.kind}")
        event_id = str(uuid.uuid4())
        self._remember(event_id)
        self._record(event.kind, event.model_dump(mode="json"), event_id, sent=True)
        for link in self._links:
            if not authority.may_read(link.peer_role, event):
                continue  # the patient's intention does not go down the home link
            if not link.send_event(event_id, event):
                # Not open right now: it goes when the channel opens (receivers dedupe).
                unsent = self._unsent.setdefault(id(link), OrderedDict())
                unsent[event_id] = event
                while len(unsent) > _UNSENT_LIMIT:
                    unsent.popitem(last=False)
        await self.signaling.send_event(self._sealed(event, event_id), event_id=event_id)
        self.event_sent.emit(event_id, event)
        # Our own events feed our own ladder too (a check-in answers our own request...).
        await self._carry_out(self.ladder.received(self._clock(), event, self.role))
        return event_id

    def _sealed(self, event: EventBody, event_id: str) -> EventBody:
        """The server's copy: person-entered words sealed for the members whose role may
        read the event (and for ourselves, for our own replays); the server sees none."""
        joined, key = self.signaling.joined, self.signaling.identity
        if joined is None or key is None:
            return event
        recipients = {
            m.member_id: m.box_key
            for m in self.signaling.members
            if m.box_key and m.status != "left" and authority.may_read(m.role, event)
        }
        recipients[joined.member_id] = key.box_key
        if not sealing.has_words(event):
            return event
        return cast(EventBody, sealing.seal_event(event, recipients, joined.session_id, event_id))

    def _opened(self, event: EventBody, event_id: str) -> EventBody | None:
        """The event with its sealed words opened (as is when it has none); None when they
        were not sealed for us."""
        joined, key = self.signaling.joined, self.signaling.identity
        if getattr(event, "sealed", None) is None:
            return event
        if joined is None or key is None:
            return None
        return sealing.open_event(event, joined.member_id, key, joined.session_id, event_id)

    def _flush(self, link: PeerLink) -> None:
        unsent = self._unsent.pop(id(link), OrderedDict())
        for event_id, event in unsent.items():
            if not link.send_event(event_id, event):
                self._unsent.setdefault(id(link), OrderedDict())[event_id] = event

    # -- incoming

    def _remember(self, event_id: str) -> bool:
        """True the first time an id is seen."""
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def _on_session_event(self, message: SessionEvent) -> None:
        self._incoming(message.event_id, message.event, message.from_role, "server")

    def _raised_elsewhere(self, event: EventBody, from_role: Role | None) -> bool:
        """An alert "resolved" by a role that did not raise it (a support seat cannot say
        the patient's lost call came back)."""
        if not authority.rule(event.kind).raiser_only:
            return False
        alert = self.ladder.alerts.get(getattr(event, "alert_id", ""))
        return alert is not None and alert.raised_by != from_role

    def _incoming(self, event_id: str, event: EventBody, from_role: Role | None, path: str) -> None:
        if not authority.permitted(event, from_role, self.role) or self._raised_elsewhere(
            event, from_role
        ):
            # Refused before it is remembered: a forged copy cannot shadow the real one.
            self._refusals.note(
                "refused %s event %s from the %s over %s",
                event.kind,
                event_id,
                from_role or "server",
                path,
            )
            return
        opened = self._opened(event, event_id)
        if opened is None:  # not sealed for us (we joined a moment after), or tampered with
            self._refusals.note(
                "could not open the words of %s event %s over %s", event.kind, event_id, path
            )
            return
        event = opened
        if isinstance(event, LinkState):
            # Before the id check: a copy another path brought first still counts for
            # its own path's order (see reported_link).
            paths = self._link_by.setdefault(from_role, {})
            paths.pop(path, None)  # the latest-heard path last
            paths[path] = event.state
            self._link_reports_changed()
        if not self._remember(event_id):
            return
        payload = {**event.model_dump(mode="json"), "from": from_role, "path": path}
        self._record(event.kind, payload, event_id)
        self.event_received.emit(event_id, event, from_role)
        actions = self.ladder.received(self._clock(), event, from_role)
        self._spawn_carry_out(actions)

    def reported_link(self, role: Role | None) -> LinkStateName | None:
        """What ``role``'s reports of its call say now. Each path brings one sender's
        events in the order it made them, so the last on a path is its current state; an
        event id seen first is not: a "connected" queued on the home link before we joined
        can arrive after the server's newer "lost". The server's ordered timeline counts
        while it is up, a peer link's own order without it."""
        paths = self._link_by.get(role, {})
        server = paths.get("server")
        peer = next((s for p, s in reversed(paths.items()) if p != "server"), None)
        if self.signaling.state == "online":
            return server or peer
        return peer or server

    def _link_reports_changed(self) -> None:
        for role in self._link_by:
            state = self.reported_link(role)
            if state is not None and self._link_now.get(role) != state:
                self._link_now[role] = state
                self.link_reported.emit(role, state)

    def _on_presence(self, presence: Presence) -> None:
        if self.support_presence is not None:
            self._spawn_carry_out(self.support_presence.members(self._clock(), presence.members))
        # Someone arrived (a support person's board opened late, an app rejoined): the call's
        # current state goes out again, as it is not replayed to new members; without it a
        # late board would say "waiting" over a call that is up.
        me = self.signaling.member_id
        online = {
            m.member_id for m in presence.members if m.status == "online" and m.member_id != me
        }
        arrived = online - self._online_others
        self._online_others = online
        watch = self.call_watch
        if arrived and watch is not None and self.ladder.up_once and not self.ladder.ended:
            self._spawn_carry_out([Publish(LinkState(kind="link.state", state=watch.state))])

    def _on_call_link(self, state: LinkStateName) -> None:
        self._record("link.call", {"state": state})
        actions = self.ladder.own_link(self._clock(), state)
        # Every change goes on the wire too, for the others' boards. Before the call was
        # ever up (nobody at the other end yet), and once the session has ended, the call's
        # state is not news to anyone.
        if self.ladder.up_once and not self.ladder.ended:
            actions.append(Publish(LinkState(kind="link.state", state=state)))
        self._spawn_carry_out(actions)

    def _on_home_link(self, state: LinkStateName) -> None:
        self._record("link.home", {"state": state})
        if self.role == "support" and state in ("lost", "connected"):
            # Nothing heard from the patient's computer over the home network counts like a
            # lost call: the support person is the one who can walk into the room.
            self._spawn_carry_out(self.ladder.home_link(self._clock(), state))

    # -- carrying out

    def _spawn_carry_out(self, actions: list[Action]) -> None:
        if not actions:
            return
        self._tasks.spawn(self._carry_out(actions))

    async def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, ShowAlert):
                self._record(
                    "ladder.alert",
                    {"alert_id": action.alert.alert_id, "reason": action.alert.reason},
                )
                self.alert_shown.emit(action.alert)
            elif isinstance(action, ClearAlert):
                self._record("ladder.clear", {"alert_id": action.alert_id, "how": action.how})
                self.alert_cleared.emit(action.alert_id, action.how)
            elif isinstance(action, Sound):
                self._record("ladder.sound", {"sound": action.kind, "alert_id": action.alert_id})
                self.sound.emit(action.kind)
            elif isinstance(action, PatientLine):
                self._record("ladder.line", {})
                self.patient_line.emit(action.text)
            elif isinstance(action, Publish):
                await self.publish(action.event)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            await self._carry_out(self.ladder.tick(self._clock()))
            if self.support_presence is not None:
                await self._carry_out(self.support_presence.tick(self._clock()))

    # -- the record

    def _record(
        self, kind: str, payload: dict[str, Any], event_id: str | None = None, sent: bool = False
    ) -> None:
        if self.records is not None:
            # An event's own "role" (a member.joined's) is kept: this app's role is the
            # same in every row of its record.
            payload = (
                {"role": self.role, **payload, "sent": sent}
                if sent
                else {"role": self.role, **payload}
            )
            self._record_queue.put_nowait((kind, payload, event_id))

    async def _record_loop(self) -> None:
        # One writer, in order; the disk wait happens off the event loop.
        while (item := await self._record_queue.get()) is not None:
            if self.records is None:
                continue
            kind, payload, event_id = item
            try:
                await asyncio.to_thread(
                    self.records.events.append, self.session_id, kind, payload, event_id=event_id
                )
            except Exception as exc:  # a full disk must not stop the ladder itself
                _log.warning("could not record %s: %s", kind, type(exc).__name__)
