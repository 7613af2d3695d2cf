"""``RoleCore``: one person's whole app without a window.

The patient's, therapist's and support person's apps are the same parts wired for a role:
the signaling client, the call (patient and therapist), the home link (patient and
support), the never-alone ``Guardian``, the local record and the audio engine. The Qt
windows observe a ``RoleCore`` through its Signals and read-only views and call its
methods (it is their one door: they reach none of its parts); the headless demo, the tests
and the benchmarks drive it the same way.

Beside it, by concern: ``facts`` (what the screens read), ``music`` (the patient's music
and the therapist's remote), ``plan`` (the plan's clock), ``resume`` (the resume file),
``joining`` (links, codes, a join in a few seconds) and ``lobby`` (the therapist's
sessions before a live one).

Everything here runs on one asyncio loop (qasync's under Qt). Blocking work — opening the
audio device, writing the record — goes to threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal, cast

from pydantic import TypeAdapter, ValidationError

from companion.app import music
from companion.app.contacts import ContactRefused, Reach, reach, read_contacts
from companion.app.device import device_secret
from companion.app.devices import Devices
from companion.app.facts import SessionFacts, TimelineEntry
from companion.app.joining import invite_from_link
from companion.app.journal import Journal
from companion.app.options import CoreOptions
from companion.app.plan import PlanClock, Reminder
from companion.app.power import ComputerCare, ComputerChange, plug_in_words
from companion.app.resume import SavedPlace, saved_place, write_place
from companion.app.roles import ROLES
from companion.app.spoken import LADDER_LINES, MUSIC_STEP_DB, Narrator
from companion.app.voice import VoiceReceiver, VoiceSender
from companion.app.words import (
    alert_words,
    describe_event,
    link_line,
    link_words,
    support_computer_line,
)
from companion.audio import AudioEngine, ChimeKind, PlayerStatus
from companion.call.engine import CallEngine
from companion.call.homelink import HomeLink
from companion.call.media import LocalMedia
from companion.call.quality import CallQuality
from companion.call.sinks import VideoSink
from companion.events import Signal
from companion.i18n import _, language
from companion.monitor.guardian import Guardian
from companion.monitor.ladder import Alert, SoundKind
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import (
    AlertAck,
    AlertRaised,
    AlertResolved,
    CheckIn,
    ComputerNotice,
    ContactsChanged,
    EmergencyCard,
    EventBody,
    Intention,
    InvitedRole,
    Joined,
    LadderConfig,
    LinkStateName,
    LookIn,
    MemberChange,
    MusicCommand,
    MusicStatus,
    Presence,
    PromptPush,
    Role,
    SessionClock,
    SessionEnd,
    SessionEvent,
    SessionPlan,
    SpokenLine,
    TextMessage,
    Vitals,
    VoiceChunk,
    WithPatient,
)
from companion.records import RecordStore
from companion.signaling.client import SignalingClient
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)
_EVENT_BODY: TypeAdapter[EventBody] = TypeAdapter(EventBody)
_NOT_ON_TIMELINE = ("music.status", "session.clock", "voice.chunk")
"""Kinds that are no news to a person: the timeline shows what they carry instead."""


def _event_body(recorded: dict[str, Any]) -> EventBody | None:
    """An event as the record holds it: its fields, and the recording app's "role"
    (unless the event has a role of its own: a member.joined's)."""
    for payload in (recorded, {k: v for k, v in recorded.items() if k != "role"}):
        with contextlib.suppress(ValidationError):
            return _EVENT_BODY.validate_python(payload)
    return None


_SOUNDS: dict[SoundKind, ChimeKind] = {
    "soft_chime": ChimeKind.NOTICE,
    "alert": ChimeKind.ALERT,
    "call": ChimeKind.CALL,
}
_EARLY_EVENTS = 500
_SAVE_PLAYLIST_EVERY_S = 10.0


class RoleCore:
    """One role's app core. ``connect`` + ``join``/``sign_in`` + ``open_session``, then
    ``start``; ``close`` at the end (safe twice)."""

    def __init__(self, role: Role, server: str | Sequence[str], options: CoreOptions) -> None:
        self.role = role
        self.traits = ROLES[role]
        self.options = options
        self.server_urls = [server] if isinstance(server, str) else list(server)
        self.signaling = SignalingClient(self.server_urls)
        self.facts = SessionFacts()
        self.records: RecordStore | None = None
        self.call: CallEngine | None = None
        self.home: HomeLink | None = None
        self.guardian: Guardian | None = None
        self.computer: ComputerCare | None = None
        """The patient's computer held awake and watched (power.py), from ``start``."""
        self._computer_task: asyncio.Task[Any] | None = None
        self._battery_alert: str | None = None
        # -- for the screens
        self.link_changed: Signal[[str]] = Signal()
        """Plain words for the patient–therapist link (see words.py)."""
        self.timeline_added: Signal[[TimelineEntry]] = Signal()
        self.alert_shown: Signal[[Alert]] = Signal()
        self.alert_cleared: Signal[[str, str]] = Signal()
        self.patient_line: Signal[[str]] = Signal()
        self.checkin_requested: Signal[[str]] = Signal()
        self.checked_in: Signal[[float]] = Signal()
        self.prompt_pushed: Signal[[str]] = Signal()
        self.message_received: Signal[[str]] = Signal()
        self.plan_changed: Signal[[SessionPlan]] = Signal()
        self.card_changed: Signal[[EmergencyCard]] = Signal()
        self.music_changed: Signal[[MusicStatus]] = Signal()
        self.quality_changed: Signal[[CallQuality]] = Signal()
        self.reminder_due: Signal[[Reminder]] = Signal()
        self.with_patient: Signal[[]] = Signal()
        self.session_ended: Signal[[]] = Signal()
        self.help_answered: Signal[[Role]] = Signal()
        """The patient's call for help was answered: by the therapist (acknowledged) or
        the support person ("I'm with the patient")."""
        self.notice: Signal[[str]] = Signal()
        """Plain notes: no camera found, a music file skipped, the audio device changed."""
        self.plan_clock = PlanClock(role)
        """The support person's reminders and the therapist's scheduled check-ins."""
        self.presence_changed = self.signaling.presence_changed
        """Who of the session is online (``presence`` is the latest)."""
        self._tasks = TaskSet()
        self.devices = Devices(role, options, self.notice, self._spawn, self._on_player)
        """The audio engine, camera and microphone, spoken lines (``open_devices``)."""
        self.narrator = Narrator(lambda: self.devices.speaker, self._spoken, self._say_when_ready)
        self._breathing: asyncio.Task[None] | None = None
        self.voice_sender = VoiceSender(lambda event: self._g().publish(event), self._spawn)
        """The therapist's recorded lines, sent whenever the patient arrives (``send_voice``)."""
        self.voice_receiver = VoiceReceiver(lambda: self.devices.speaker, language(), self._spawn)
        """The patient's: the therapist's recordings, used by the speaker as they arrive."""
        self._unsubscribe: list[Callable[[], None]] = []
        self._music_pace = music.StatusPace()
        self._started = False
        self._closed = False
        self._call_up_once = False
        self._invite = ""
        # Events that arrive between joining and ``start`` (the patient's preparation,
        # the support app opening its devices) wait here for the monitor; without this a
        # card or a plan sent then was lost to a late joiner.
        self._early: deque[SessionEvent] = deque(maxlen=_EARLY_EVENTS)
        self._unsubscribe_early = self.signaling.event_received.connect(self._early.append)
        # The state this member publishes (card; plan and ladder timings), sent again
        # when someone joins or rejoins, so a late joiner has the current ones.
        self._own_state: dict[str, EmergencyCard | SessionPlan | LadderConfig | SessionClock] = {}
        self._online_others: set[str] = set()
        self._last_state: dict[str, SessionPlan | LadderConfig] = {}
        self._help_calls: set[str] = set()  # the patient's open "I need help" alert ids

    # -- joining ---------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.signaling.connect()

    async def join(self, invite_or_code: str, retry_in_use_s: float = 6.0) -> Joined:
        """Patient and support person: join with an invite link or a short code.

        After a crash the server may still hold our old place for a few seconds; an
        "invitation in use" is retried until then. Raises ``ProtocolError`` with a plain
        ``message`` (wrong, expired or revoked code)."""
        invite = invite_from_link(invite_or_code)
        deadline = time.monotonic() + retry_in_use_s
        device = await asyncio.to_thread(device_secret, self.options.data_dir)
        while True:
            try:
                # The person's language: the server writes to their phone in it.
                joined = await self.signaling.join(
                    invite=invite,
                    as_role=self.traits.joins_as,
                    device=device,
                    language=language(),
                )
                break
            except ProtocolError as exc:
                if exc.code is not ErrorCode.INVITE_IN_USE or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self._invite = invite
        await asyncio.to_thread(self._save_resume, invite)
        return joined

    async def sign_in(self, name: str, secret: str) -> None:
        await self.signaling.login(name, secret)

    async def open_session(self, session_id: str) -> Joined:
        """The therapist's way in: a session of their own."""
        return await self.signaling.join(session_id=session_id)

    def on_server(self, url: str) -> RoleCore:
        """A fresh core for the same person on another server (a link names its own)."""
        return RoleCore(self.role, url, self.options)

    def saved_invite(self) -> str | None:
        """The invite of the session this app was in when it last ran (crash recovery)."""
        place = saved_place(self.options.data_dir)
        return place.invite if place is not None else None

    def _save_resume(self, invite: str, open_: bool = True) -> None:
        joined = self.signaling.joined
        place = SavedPlace(
            invite=invite,
            server=self.server_urls[0] if self.server_urls else "",
            session_id=joined.session_id if joined is not None and open_ else "",
            began=open_ and self._started,
        )
        write_place(self.options.data_dir, place if open_ else None)

    def note_session_began(self) -> None:
        """The patient is on the session screen: a relaunch goes straight back to it."""
        if self._invite and not self.facts.ended:
            with contextlib.suppress(OSError):
                self._save_resume(self._invite)

    @property
    def session_id(self) -> str:
        joined = self.signaling.joined
        return joined.session_id if joined else "unjoined"

    @property
    def joined(self) -> Joined | None:
        """The session as it was when this app joined (its members then)."""
        return self.signaling.joined

    @property
    def presence(self) -> Presence | None:
        """Who of the session is online now (None until the server first said)."""
        return self.signaling.presence

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the record, the audio device, the call and the home link; start watching."""
        if self._started:
            return
        self._started = True
        await self.open_records()
        await asyncio.to_thread(self._restore_timeline)
        # The call does not wait for the voice: lines are rendered meanwhile (the ladder's
        # first, from a cache after the first session), and a line needed sooner is said
        # once it is ready (``_say_when_ready``).
        await self.open_devices()
        voice = self.audio.add_voice() if self.audio is not None else None
        if self.traits.call:
            assert self.media is not None
            self.call = CallEngine(self.signaling, self.role, self.media, voice)
            self._unsubscribe.append(self.call.quality_changed.connect(self._on_quality))
        if self.traits.home_link:
            self.home = HomeLink(self.signaling, self.role)
        self.guardian = Guardian(
            self.role, self.signaling, self.call, self.home, self.records, self.options.timings
        )
        g = self.guardian
        self._unsubscribe += [
            g.alert_shown.connect(self._on_alert_shown),
            g.alert_cleared.connect(self._on_alert_cleared),
            g.sound.connect(self._on_sound),
            g.patient_line.connect(lambda text: self.patient_line.emit(_(text))),
            g.patient_line.connect(lambda text: self.narrator.say(LADDER_LINES.get(text, ""))),
            g.event_received.connect(self._on_event),
            g.event_sent.connect(
                lambda event_id, event: self._on_event(event_id, event, self.role)
            ),
        ]
        if g.call_watch is not None:
            self._unsubscribe.append(g.call_watch.state_changed.connect(self._on_call_state))
        if g.home_watch is not None:
            self._unsubscribe.append(g.home_watch.state_changed.connect(self._on_home_state))
        self._unsubscribe.append(self.signaling.presence_changed.connect(self._on_presence))
        if self.traits.follows_patient_link:
            self._unsubscribe.append(g.link_reported.connect(self._on_patient_link))
        for link in (self.call, self.home):
            if link is not None:
                await link.start()
        await g.start()
        self._unsubscribe_early()
        while self._early:  # the monitor ignores any it has seen already (by event id)
            self.signaling.event_received.emit(self._early.popleft())
        self._spawn(self._clock_loop())
        self._share_session_clock()
        if self.traits.watches_computer and self.options.watch_computer:
            self.computer = ComputerCare(self.computer_changed, read=self.options.read_power)
            self._computer_task = self._spawn(self.computer.run())
        self.link_changed.emit(link_words(self.role, self.facts.link))

    async def open_records(self) -> RecordStore:
        """The local record (before ``start`` when the app must know whether private words
        need a passphrase); ``start`` then uses it."""
        if self.records is None:
            folder = self.options.data_dir
            folder.mkdir(parents=True, exist_ok=True)
            self.records = await asyncio.to_thread(RecordStore.open, folder)
        return self.records

    async def open_devices(self) -> None:
        """The audio engine and the camera/microphone, before ``start`` (the patient's
        device check: a test sound, their own picture, the microphone's level); ``start``
        then uses them. Safe to call twice, and a no-op once the core is closed (a window
        may ask for its devices just as it closes)."""
        await self.devices.open()

    @property
    def audio(self) -> AudioEngine | None:
        return self.devices.audio

    @property
    def media(self) -> LocalMedia | None:
        return self.devices.media

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.devices.closed = True
        await self._tasks.cancel_all()
        self._unsubscribe_early()
        self._early.clear()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.devices.detach()
        if self.guardian is not None:
            await self.guardian.close()
        for link in (self.call, self.home):
            if link is not None:
                await link.close()
        await self.devices.close_media()
        await self.signaling.close()
        await self.devices.close_sound()
        if self.records is not None:
            self.records.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro)

    def _on_player(self, status: PlayerStatus) -> None:
        wire = music.wire_status(status)
        self.facts.music = wire
        self.music_changed.emit(wire)
        # The therapist sees what plays: on every change, and now and then for the position.
        now = time.monotonic()
        if self.guardian is not None and self._music_pace.due(wire, now):
            self._music_pace.sent(wire, now)
            self._spawn(self.guardian.publish(wire))

    # -- the patient's own music bar and device check (never on the wire) --------------------

    @property
    def remote_video(self) -> VideoSink | None:
        """The other side's video (the patient's and therapist's call), None without a call."""
        return self.call.video if self.call is not None else None

    async def journal(self) -> Journal:
        """The person's private words in the local record (opened if it was not yet)."""
        return Journal(await self.open_records())

    # -- what people do --------------------------------------------------------------------

    def _g(self) -> Guardian:
        if self.guardian is None:
            raise RuntimeError("start() first")
        return self.guardian

    @property
    def link_shown(self) -> LinkStateName | None:
        """The call's state as the screens show it: ``None`` ("waiting for the patient")
        until the call was first up, so a patient who has not come yet is not a link lost."""
        return self.facts.link if self._call_up_once else None

    @property
    def pending_checkin(self) -> str | None:
        """The therapist's open check-in request an "I'm OK" answers now (the ladder's)."""
        return self.guardian.ladder.open_checkin if self.guardian is not None else None

    async def check_in(self, source: Literal["button", "key"] = "button") -> str:
        request = self.pending_checkin
        return await self._g().publish(CheckIn(kind="checkin", source=source, request_id=request))

    async def help_held(self) -> None:
        await self._g().help_held()

    async def acknowledge(self, alert_id: str) -> None:
        await self._g().acknowledge(alert_id)

    async def im_with_patient(self) -> None:
        """The support person: every open go-to-patient/help alert is answered."""
        open_ids = [a.alert_id for a in self.facts.open_alerts.values()]
        for alert_id in open_ids:
            await self._g().acknowledge(alert_id)
        if not open_ids:
            await self._g().publish(WithPatient(kind="with_patient"))

    async def request_checkin(self) -> str:
        return await self._g().request_checkin()

    async def push_prompt(self, prompt_id: str) -> str:
        return await self._g().publish(PromptPush(kind="prompt.push", prompt_id=prompt_id))

    async def music_remote(
        self,
        action: Literal["play", "pause", "next", "previous", "set_volume", "choose_playlist"],
        volume_db: float | None = None,
        playlist: str | None = None,
    ) -> str:
        return await self._g().publish(
            MusicCommand(
                kind="music.command", action=action, volume_db=volume_db, playlist=playlist
            )
        )

    async def send_message(self, to_role: InvitedRole, text: str) -> str:
        return await self._g().publish(TextMessage(kind="message", to_role=to_role, text=text))

    async def set_plan(self, plan: SessionPlan) -> str:
        return await self._publish_state(plan)

    async def set_ladder(self, config: LadderConfig) -> str:
        return await self._publish_state(config)

    async def share_card(self, card: EmergencyCard) -> str:
        return await self._publish_state(card)

    async def _publish_state(
        self, event: EmergencyCard | SessionPlan | LadderConfig | SessionClock
    ) -> str:
        self._own_state[event.kind] = event
        return await self._g().publish(event)

    def _on_presence(self, presence: Presence) -> None:
        online = {
            m.member_id
            for m in presence.members
            if m.status == "online" and m.member_id != self.signaling.member_id
        }
        arrived = online - self._online_others
        self._online_others = online
        patients = {m.member_id for m in presence.members if m.role == "patient"}
        if arrived & patients and not self.facts.ended and self.guardian is not None:
            self.voice_sender.send()
        if arrived and self._own_state and not self.facts.ended and self.guardian is not None:
            _log.info("%d member(s) joined: sending the current card/plan again", len(arrived))
            for event in list(self._own_state.values()):
                self._spawn(self.guardian.publish(event))

    def send_voice(self, recordings: dict[tuple[str, str], bytes]) -> None:
        """The therapist's own recordings ((language, line id) → Ogg Opus) for the
        patient's spoken lines: sent now if the patient is here, and each time they
        (re)join."""
        self.voice_sender.use(recordings)
        patient_here = self.presence is not None and any(
            m.role == "patient" and m.status == "online" for m in self.presence.members
        )
        if patient_here and self.guardian is not None and not self.facts.ended:
            self.voice_sender.send()

    async def tell_language(self, lang: str) -> None:
        """The person chose another language mid-session: the server's messages to their
        phone follow it (the app's own words change at its next opening)."""
        if self.signaling.joined is None:
            return
        try:
            await self.signaling.set_language(lang)
        except (ProtocolError, ConnectionError, TimeoutError) as exc:
            # Not fatal: the next join carries it.
            _log.info("language not told to the server: %s", type(exc).__name__)

    async def set_contacts(self, phone: str, email: str, consent: bool) -> None:
        """The support person's phone and e-mail for the server's outer ladder (theirs,
        or the therapist's for the session); both empty removes them. Raises
        ``ContactRefused`` with plain words for what cannot be used or was not saved."""
        contacts = read_contacts(phone, email, consent)
        try:
            await self.signaling.set_contacts(
                self.session_id, email=contacts.email, sms=contacts.sms
            )
        except ProtocolError as exc:
            _log.info("contacts refused by the server: %s", exc.code)
            raise ContactRefused(
                "server",
                _("This clinic's server does not send texts or e-mails: nothing was saved."),
            ) from None
        except (ConnectionError, TimeoutError, OSError) as exc:
            _log.info("contacts not sent: %s", type(exc).__name__)
            raise ContactRefused(
                "server", _("Not saved: the connection to the clinic is down. Please try again.")
            ) from None

    @property
    def reach(self) -> Reach:
        """Can the server's outer ladder message the support person if no app answers?"""
        welcome = self.signaling.welcome
        return reach(welcome.reaches if welcome is not None else [], self.facts.contacts)

    async def plug_in_advice(self) -> str | None:
        """For the preparation checklist: plain words asking to plug the computer in while
        it runs on battery, or None."""
        return plug_in_words(await asyncio.to_thread(self.options.read_power))

    async def share_intention(self, text: str) -> str:
        return await self._g().publish(Intention(kind="intention", text=text))

    async def record_vitals(self, systolic: int, diastolic: int, heart_rate: int) -> str:
        self.plan_clock.finish("vitals", time.time())
        vitals = Vitals(
            kind="vitals", systolic=systolic, diastolic=diastolic, heart_rate=heart_rate
        )
        return await self._g().publish(vitals)

    async def looked_in(self) -> str:
        self.plan_clock.finish("lookin", time.time())
        return await self._g().publish(LookIn(kind="lookin"))

    async def end_session(self) -> None:
        if self.traits.ends_session:
            await self._g().publish(SessionEnd(kind="session.end"))
        await self.signaling.leave()
        self._mark_ended()

    def _mark_ended(self) -> None:
        if self.facts.ended:
            return
        self.facts.ended = True
        if self._computer_task is not None:
            self._computer_task.cancel()  # the computer may sleep again
        if self.traits.resumes:
            with contextlib.suppress(OSError):
                self._save_resume("", open_=False)
        self.narrator.say("session_end")
        self.session_ended.emit()

    # -- the patient's local controls (never on the wire) ------------------------------------

    def set_mic_muted(self, muted: bool) -> None:
        if self.call is not None:
            self.call.set_mic_muted(muted)

    def set_camera_enabled(self, enabled: bool) -> None:
        if self.call is not None:
            self.call.set_camera_enabled(enabled)

    def music_step(self, up: bool) -> float | None:
        """The up or down arrow: the music one step louder or softer, confirmed by a short
        spoken word (or, at the end of the range, that it goes no further). Returns the
        new volume in dB (None while there is no sound yet)."""
        was = self.devices.music_volume_db
        if was is None:
            return None
        self.devices.set_music_volume(was + (MUSIC_STEP_DB if up else -MUSIC_STEP_DB))
        now = self.devices.music_volume_db
        assert now is not None
        if now == was:
            self.narrator.say("music_loudest" if up else "music_softest")
        else:
            self.narrator.say("music_up" if up else "music_down")
        return now

    def welcome(self) -> None:
        """The spoken welcome at the session's start: the keys that need no eyes."""
        self.narrator.say("welcome")

    def start_breathing(self, pattern: tuple[int, int, int, int], cycles: int = 5) -> None:
        """A breathing guide is shown (it starts its clock now): its steps are spoken."""
        self.stop_breathing()
        if self.devices.speaker is not None:
            self._breathing = self._spawn(self.narrator.breathe(pattern, cycles))

    def stop_breathing(self) -> None:
        if self._breathing is not None:
            self._breathing.cancel()
            self._breathing = None

    def _spoken(self, line_id: str, voice: str) -> None:
        """The therapist's timeline shows what the patient heard (the patient's own too)."""
        event = SpokenLine(kind="spoken", line_id=line_id, voice=voice)
        if self.guardian is not None and not self.facts.ended:
            self._spawn(self.guardian.publish(event))
        else:  # before the session or after its end: this computer's timeline alone
            self._add_entry(self.role, event.kind, describe_event(event, self.role), ref=line_id)

    def _say_when_ready(self, line_id: str) -> bool:
        """A line asked for while the voice is still being rendered is said once it is."""
        rendering = self.devices.speech_ready
        if rendering is None or rendering.done():
            return False

        async def later() -> None:
            await asyncio.wait([rendering])
            self.narrator.say(line_id)

        self._spawn(later())
        return True

    # -- what happens ----------------------------------------------------------------------

    def _add_entry(
        self, who: Role | None, kind: str, text: str, event_id: str = "", ref: str = ""
    ) -> None:
        entry = TimelineEntry(time.time(), who, kind, text, event_id, ref)
        self.facts.timeline.append(entry)
        self.timeline_added.emit(entry)

    def _restore_timeline(self) -> None:
        """An app started again mid-session (a therapist's console relaunched): what
        happened before comes back from the local record, as it was first written. The
        server replays nothing to a therapist who joins again."""
        if self.records is None or self.signaling.joined is None or self.facts.timeline:
            return
        rows = self.records.events.for_session(self.session_id)
        up = False
        for row in rows:
            payload = dict(row.payload)
            if row.kind == "link.call":
                state = str(payload.get("state", ""))
                up = up or state in ("connected", "degraded")
                if up:
                    entry = TimelineEntry(row.wall_time, self.role, "link", link_line(state))
                    self.facts.timeline.append(entry)
                continue
            own = bool(payload.pop("sent", False))
            who = self.role if own else payload.pop("from", None)
            payload.pop("path", None)
            event = _event_body(payload)
            if event is None:
                continue  # the ladder's own notes (ui.*, ladder.*), not the timeline's
            if isinstance(event, SessionClock):  # the session's time counts on, not anew
                self.facts.started_at = min(self.facts.started_at, event.started_at)
            if event.kind in _NOT_ON_TIMELINE:
                continue
            if event.kind == "checkin":
                self.facts.last_checkin_at = row.wall_time
            role = cast("Role | None", who)
            text, ref = describe_event(event, role), getattr(event, "alert_id", "")
            self.facts.timeline.append(
                TimelineEntry(row.wall_time, role, event.kind, text, row.event_id, ref)
            )
        if self.facts.timeline:
            again = _("The app was closed, and started again: the lines above are from before")
            self.facts.timeline.append(TimelineEntry(time.time(), self.role, "restarted", again))

    def _on_event(self, event_id: str, event: EventBody, from_role: Role | None) -> None:
        facts = self.facts
        # The same card, plan or timings sent again for a late joiner is no news.
        again = (
            (isinstance(event, EmergencyCard) and event == facts.card)
            or (isinstance(event, ContactsChanged) and event == facts.contacts)
            or (
                isinstance(event, SessionPlan | LadderConfig)
                and self._last_state.get(event.kind) == event
            )
        )
        if isinstance(event, SessionPlan | LadderConfig):
            self._last_state[event.kind] = event
        if isinstance(event, ContactsChanged):  # before its timeline line: screens read it
            facts.contacts = event
        if event.kind not in _NOT_ON_TIMELINE and not again:
            self._add_entry(
                from_role, event.kind, describe_event(event, from_role), event_id, _entry_ref(event)
            )
        self._adopt_session_clock(event, from_role)
        self.narrator.hear(event, from_role)
        if event.kind == "checkin":
            facts.last_checkin_at = time.time()
            self.checked_in.emit(facts.last_checkin_at)
        elif event.kind == "checkin.request" and self.traits.plays_music:
            self.checkin_requested.emit(getattr(event, "request_id", None) or "")
            if self.audio is not None and not self.narrator.say("checkin_request"):
                self.audio.play_chime(ChimeKind.CHECK_IN)
        elif isinstance(event, PromptPush):
            self.prompt_pushed.emit(event.prompt_id)
        elif isinstance(event, VoiceChunk) and self.traits.plays_music:
            self.voice_receiver.add(event)
        elif isinstance(event, MusicCommand) and self.traits.plays_music:
            if self.audio is not None:
                music.carry_out(self.audio, event)
        elif isinstance(event, MusicStatus) and not self.traits.plays_music:
            facts.music = event
            self.music_changed.emit(event)
        elif isinstance(event, TextMessage) and event.to_role == self.role:
            self.message_received.emit(event.text)
        elif isinstance(event, SessionPlan):
            chosen = event.playlist if event.playlist != facts.plan.playlist else None
            if self.traits.plays_music and chosen:
                self.devices.choose_playlist(chosen)
            facts.plan = event
            self.plan_clock.set_plan(event)
            self.plan_changed.emit(event)
        elif isinstance(event, EmergencyCard):
            facts.card = event
            self.card_changed.emit(event)
            if self.traits.plays_music:
                self.devices.name_support_person(event.support_name)
        elif isinstance(event, Intention):
            facts.intention = event.text
        elif isinstance(event, AlertRaised) and event.reason == "help" and from_role == self.role:
            self._help_calls.add(event.alert_id)
        elif isinstance(event, AlertAck) and event.alert_id in self._help_calls:
            self._help_calls.discard(event.alert_id)
            if from_role in ("therapist", "support"):
                self.help_answered.emit(from_role)
        elif isinstance(event, WithPatient):
            self.with_patient.emit()
            if self.traits.plays_music:  # the patient: their call for help is answered
                self._help_calls.clear()
                self.help_answered.emit("support")
        elif isinstance(event, ComputerNotice) and self.traits.follows_patient_link:
            line = support_computer_line(event.what)
            if line is not None:
                self.notice.emit(line)
        elif isinstance(event, SessionEnd):
            self._mark_ended()

    def _share_session_clock(self) -> None:
        """The therapist's app says when the session began (and again to whoever joins),
        so every "Session time" counts from the same moment."""
        if self.role == "therapist":
            clock = SessionClock(kind="session.clock", started_at=self.facts.started_at)
            self._spawn(self._publish_state(clock))

    def _adopt_session_clock(self, event: EventBody, from_role: Role | None) -> None:
        if isinstance(event, SessionClock) and from_role == "therapist" and self.role != from_role:
            self.facts.started_at = event.started_at

    def computer_changed(self, change: ComputerChange) -> None:
        """The patient's computer changed (power.py): everyone's timeline hears of it, the
        therapist is alerted while the battery is low, and after a sleep the signaling
        connection starts again at once instead of waiting to find itself dead."""
        if self.facts.ended or self.guardian is None:
            return
        notice = ComputerNotice(
            kind="computer", what=change.what, asleep_s=change.asleep_s, percent=change.percent
        )
        self._spawn(self.guardian.publish(notice))
        if change.what == "asleep":
            self._spawn(self.signaling.drop_connection())
        elif change.what == "battery_low" and self._battery_alert is None:
            self._battery_alert = uuid.uuid4().hex
            raised = AlertRaised(
                kind="alert.raised",
                alert_id=self._battery_alert,
                reason="battery_low",
                for_roles=["therapist"],
            )
            self._spawn(self.guardian.publish(raised))
        elif change.what in ("plugged_in", "on_battery") and self._battery_alert is not None:
            resolved = AlertResolved(kind="alert.resolved", alert_id=self._battery_alert)
            self._battery_alert = None
            self._spawn(self.guardian.publish(resolved))

    def _on_alert_shown(self, alert: Alert) -> None:
        self.facts.open_alerts[alert.alert_id] = alert
        words = alert_words("therapist", alert.reason)
        self._add_entry(None, "alert.shown", words, ref=alert.alert_id)
        self.alert_shown.emit(alert)

    def _on_alert_cleared(self, alert_id: str, how: str) -> None:
        if self.facts.open_alerts.pop(alert_id, None) is not None:
            words = _("acknowledged") if how == "acked" else _("resolved by itself")
            self._add_entry(None, "alert.cleared", words, ref=alert_id)
        self.alert_cleared.emit(alert_id, how)

    def _on_sound(self, kind: SoundKind) -> None:
        # The patient's app never sounds an alarm: the ladder gives it calm words instead.
        if self.audio is not None and not self.traits.plays_music:
            self.audio.play_chime(_SOUNDS[kind])

    def _on_call_state(self, state: LinkStateName) -> None:
        was = self.facts.link
        self.facts.link = state
        up_once = self.guardian is not None and self.guardian.ladder.up_once
        up = up_once or state in ("connected", "degraded")  # never up yet: "waiting", not "lost"
        self._call_up_once = self._call_up_once or up
        if self._call_up_once:  # no line says a link was lost before it was first up
            # ref: the state in the code's words, which the summary reads in any language.
            self._add_entry(self.role, "link", link_line(state), ref=state)
        self.link_changed.emit(link_words(self.role, state if up else None))
        if (
            self.traits.plays_music
            and state == "connected"
            and was in ("lost", "recovering")
            and self.audio is not None
        ):
            self.audio.play_chime(ChimeKind.RECONNECTED)

    def _on_patient_link(self, role: Role | None, state: LinkStateName) -> None:
        # The support person's board follows the patient's own monitor of the call, as
        # its reports say now (not the first copy of each: Guardian.reported_link).
        if role == "patient":
            self.facts.link = state
            self.link_changed.emit(link_words(self.role, state))

    def _on_home_state(self, state: LinkStateName) -> None:
        self.facts.home_link = state
        if self.traits.follows_patient_link:
            # The support person's board follows the patient's reports; with no call of
            # its own the home link is what it knows first-hand.
            self.link_changed.emit(link_words(self.role, self.facts.link or state))

    def _on_quality(self, quality: CallQuality) -> None:
        self.facts.quality = quality
        self.quality_changed.emit(quality)

    # -- the plan's clock ------------------------------------------------------------------

    @property
    def reminders(self) -> list[Reminder]:
        return self.plan_clock.reminders

    async def _clock_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            due = self.plan_clock.tick(now)
            for reminder in due.reminders:
                self.reminder_due.emit(reminder)
            if due.checkin:
                await self.request_checkin()
            if self.traits.plays_music and int(now) % int(_SAVE_PLAYLIST_EVERY_S) == 0:
                await asyncio.to_thread(self.devices.save_playlist)


def _entry_ref(event: EventBody) -> str:
    """What a timeline entry is about in the code's words (``TimelineEntry.ref``), so the
    summary and the console read it the same in every language."""
    if isinstance(event, PromptPush):
        return event.prompt_id
    if isinstance(event, TextMessage):
        return event.to_role
    if isinstance(event, MemberChange):
        return event.role
    if isinstance(event, SpokenLine):
        return event.line_id
    return str(getattr(event, "alert_id", ""))
