"""``RoleCore``: one person's whole app without a window.

The patient's, therapist's and support person's apps are the same parts wired for a role:
the signaling client, the call (patient and therapist), the home link (patient and
support), the never-alone ``Guardian``, the local record and the audio engine. The Qt
windows observe a ``RoleCore`` through its Signals and call its methods; the headless
demo, the tests and the benchmarks drive it the same way.

Everything here runs on one asyncio loop (qasync's under Qt). Blocking work — opening the
audio device, writing the record — goes to threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs
from aiortc.mediastreams import MediaStreamTrack

from companion.app.device import device_secret
from companion.app.power import ComputerCare, ComputerChange
from companion.app.spoken import LADDER_LINES, SPOKEN_LINES
from companion.app.words import (
    ALERT_WORDS,
    SUPPORT_COMPUTER_LINES,
    describe_event,
    link_line,
    link_words,
)
from companion.audio import AudioEngine, ChimeKind, EngineOptions, Playlist, bundled_playlist
from companion.audio.commands import MusicStatus as LocalMusicStatus
from companion.audio.playlist import RepeatMode, Track
from companion.audio.processing import ProcessingSettings, VoiceProcessing
from companion.audio.speech import EspeakVoice, Speaker
from companion.call.devices import MicrophoneTrack
from companion.call.engine import CallEngine
from companion.call.homelink import HomeLink
from companion.call.media import LocalMedia
from companion.call.quality import CallQuality
from companion.call.sinks import VideoSink
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.events import Signal
from companion.monitor.guardian import Guardian
from companion.monitor.ladder import Alert, LadderTimings, SoundKind
from companion.protocol.errors import ErrorCode, ProtocolError
from companion.protocol.messages import (
    AlertAck,
    AlertRaised,
    AlertResolved,
    CheckIn,
    ComputerNotice,
    EmergencyCard,
    EventBody,
    Intention,
    InvitedRole,
    Joined,
    LadderConfig,
    LinkState,
    LinkStateName,
    LookIn,
    MusicCommand,
    MusicStatus,
    Presence,
    PromptPush,
    Role,
    SessionClock,
    SessionEnd,
    SessionEvent,
    SessionPlan,
    TextMessage,
    Vitals,
    WithPatient,
)
from companion.records import RecordStore
from companion.signaling.client import SignalingClient

_log = logging.getLogger(__name__)
_VOICE_FILE = "voice.json"
"""The microphone's settings as the person last chose them."""
_MIC_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between tries to open the default microphone after the one in use was unplugged."""

#: The playlists the therapist's remote can choose (slugs on the wire).
PLAYLISTS: dict[str, str] = {
    "companion-ambient": "Companion ambient (bundled)",
    "endless": "Endless ambient (fresh music, never repeats)",
}
_SOUNDS: dict[SoundKind, ChimeKind] = {
    "soft_chime": ChimeKind.NOTICE,
    "alert": ChimeKind.ALERT,
    "call": ChimeKind.CALL,
}
_MUSIC_STATUS_EVERY_S = 15.0
_EARLY_EVENTS = 500
_SAVE_PLAYLIST_EVERY_S = 10.0


def _voice_cache() -> Path:
    return Path(platformdirs.user_cache_dir("Companion", "Companion")) / "voice"


def invite_from_link(text: str) -> str:
    """The token or short code inside ``companion://join?invite=…``, an https link with
    ``invite=…``, or the code as typed (spaces and dashes read over the phone are fine)."""
    text = text.strip()
    if "invite=" in text:
        query = urllib.parse.urlparse(text).query or text.split("?", 1)[-1]
        values = urllib.parse.parse_qs(query).get("invite")
        if values:
            return values[0]
    if len(text) <= 16:
        return text.replace(" ", "").replace("-", "").upper()
    return text


def link_details(text: str) -> tuple[str | None, str | None]:
    """(server URL, role) named in an invite link; (None, None) for a bare code."""
    if "://" not in text or "?" not in text:
        return None, None
    query = urllib.parse.parse_qs(urllib.parse.urlparse(text.strip()).query)
    server = query.get("server", [None])[0]
    role = query.get("role", [None])[0]
    return server, role if role in ("patient", "support") else None


RESUME_FILE = "resume.json"


@dataclass(frozen=True)
class SavedPlace:
    """Where this app was when it last ran: enough to go back without asking anything."""

    invite: str
    server: str
    """The server it was joined through ("" in files written before it was kept)."""
    session_id: str = ""
    began: bool = False
    """The patient had started the session (a relaunch skips the preparation)."""


def saved_place(data_dir: Path) -> SavedPlace | None:
    """The session this app's data folder was in and has not left; None if none."""
    try:
        data = json.loads((data_dir / RESUME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("open"):
        return None
    invite, server = data.get("invite"), data.get("server", "")
    if not isinstance(invite, str) or not invite or not isinstance(server, str):
        return None
    session_id = data.get("session_id", "")
    return SavedPlace(
        invite, server, session_id if isinstance(session_id, str) else "", data.get("began") is True
    )


def write_place(data_dir: Path, place: SavedPlace | None) -> None:
    """Keep ``place`` (None: the session was left or ended), replacing the file whole so a
    crash mid-write cannot leave half of one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    body = {"open": False} if place is None else {"open": True, **asdict(place)}
    partial = data_dir / (RESUME_FILE + ".partial")
    partial.write_text(json.dumps(body), encoding="utf-8")
    partial.replace(data_dir / RESUME_FILE)


@dataclass(frozen=True)
class CoreOptions:
    data_dir: Path
    """The role's own folder: the record, the saved playlist, the resume file."""
    fake_media: bool = False
    """A moving test pattern and a tone instead of the camera and microphone."""
    audio: bool = True
    """Open the audio engine (the output device); off only for headless load runs."""
    engine: EngineOptions | None = None
    timings: LadderTimings | None = None
    video: tuple[int, int, int] = (640, 480, 30)
    """Synthetic video size and rate."""
    watch_computer: bool = True
    """The patient's app keeps the computer awake and watches its sleep and battery."""
    voice: ProcessingSettings | None = None
    """The microphone's noise suppression and automatic gain (``None``: the role's
    defaults); echo cancellation is always on."""


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    """Unix seconds."""
    who: Role | None
    kind: str
    text: str
    event_id: str = ""
    ref: str = ""
    """The alert an ``alert.shown``/``alert.cleared`` entry is about."""


@dataclass
class Reminder:
    """A paced prompt for the support person (vitals or look-in) from the therapist's plan."""

    reminder_id: str
    kind: Literal["vitals", "lookin"]
    due_at: float
    done: bool = False


@dataclass
class SessionFacts:
    """What the screens and the summary read; updated as events arrive."""

    started_at: float = field(default_factory=time.time)
    link: LinkStateName | None = None
    home_link: LinkStateName | None = None
    last_checkin_at: float | None = None
    pending_request: str | None = None
    plan: SessionPlan = field(default_factory=lambda: SessionPlan(kind="plan"))
    card: EmergencyCard | None = None
    intention: str | None = None
    music: MusicStatus | None = None
    quality: CallQuality | None = None
    open_alerts: dict[str, Alert] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    ended: bool = False


class RoleCore:
    """One role's app core. ``connect`` + ``join``/``sign_in`` + ``open_session``, then
    ``start``; ``close`` at the end (safe twice)."""

    def __init__(self, role: Role, server: str | Sequence[str], options: CoreOptions) -> None:
        self.role = role
        self.options = options
        self.server_urls = [server] if isinstance(server, str) else list(server)
        self.signaling = SignalingClient(self.server_urls)
        self.facts = SessionFacts()
        self.records: RecordStore | None = None
        self.audio: AudioEngine | None = None
        self.media: LocalMedia | None = None
        self.voice_processing: VoiceProcessing | None = None
        """The microphone's echo canceller and noise suppressor (a real microphone only)."""
        self.call: CallEngine | None = None
        self.home: HomeLink | None = None
        self.guardian: Guardian | None = None
        self.computer: ComputerCare | None = None
        """The patient's computer held awake and watched (power.py), from ``start``."""
        self._computer_task: asyncio.Task[Any] | None = None
        self._battery_alert: str | None = None
        self.speaker: Speaker | None = None
        """The patient's spoken lines (from ``open_devices``), ready before ``start``."""
        self._speech_ready: asyncio.Task[list[str]] | None = None
        self._help_alerts: set[str] = set()
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
        self.reminders: list[Reminder] = []
        self._self_view: VideoSink | None = None
        self._self_track: MediaStreamTrack | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._last_status_sent: tuple[str, bool, int] | None = None
        self._last_status_at = 0.0
        self._scheduled_checkins: set[int] = set()
        self._started = False
        self._closed = False
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
        role: InvitedRole = "support" if self.role == "support" else "patient"
        deadline = time.monotonic() + retry_in_use_s
        device = await asyncio.to_thread(device_secret, self.options.data_dir)
        while True:
            try:
                joined = await self.signaling.join(invite=invite, as_role=role, device=device)
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

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the record, the audio device, the call and the home link; start watching."""
        if self._started:
            return
        self._started = True
        await self.open_records()
        await self.open_devices()
        if self._speech_ready is not None:
            await self._speech_ready  # every line the ladder may need, before any is needed
        voice = self.audio.add_voice() if self.audio is not None else None
        if self.role in ("patient", "therapist"):
            assert self.media is not None
            self.call = CallEngine(self.signaling, self.role, self.media, voice)
            self._unsubscribe.append(self.call.quality_changed.connect(self._on_quality))
        if self.role in ("patient", "support"):
            self.home = HomeLink(self.signaling, self.role)
        self.guardian = Guardian(
            self.role, self.signaling, self.call, self.home, self.records, self.options.timings
        )
        g = self.guardian
        self._unsubscribe += [
            g.alert_shown.connect(self._on_alert_shown),
            g.alert_cleared.connect(self._on_alert_cleared),
            g.sound.connect(self._on_sound),
            g.patient_line.connect(self.patient_line.emit),
            g.patient_line.connect(lambda text: self._speak(LADDER_LINES.get(text, ""))),
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
        for link in (self.call, self.home):
            if link is not None:
                await link.start()
        await g.start()
        self._unsubscribe_early()
        while self._early:  # the monitor ignores any it has seen already (by event id)
            self.signaling.event_received.emit(self._early.popleft())
        self._spawn(self._clock_loop())
        self._share_session_clock()
        if self.role == "patient" and self.options.watch_computer:
            self.computer = ComputerCare(self.computer_changed)
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
        if self.options.audio and self.audio is None and not self._closed:
            await self._start_audio()
        if self.media is None and self.role in ("patient", "therapist") and not self._closed:
            self.media = self._open_media()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._unsubscribe_early()
        self._early.clear()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self.guardian is not None:
            await self.guardian.close()
        for link in (self.call, self.home):
            if link is not None:
                await link.close()
        if self._self_track is not None:
            self._self_track.stop()
        if self.media is not None:
            await self.media.aclose()
        if self.voice_processing is not None:
            if self.audio is not None:
                self.audio.remove_output_tap(self.voice_processing)
            await asyncio.to_thread(self.voice_processing.close)
        await self.signaling.close()
        if self.speaker is not None:
            await asyncio.to_thread(self.speaker.close)
        if self.audio is not None:
            await asyncio.to_thread(self._save_playlist)
            await self.audio.aclose()
        if self.records is not None:
            self.records.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _open_media(self) -> LocalMedia:
        if self.options.fake_media:
            width, height, fps = self.options.video
            hue = (90, 170) if self.role == "patient" else (170, 110)
            tone = 440.0 if self.role == "patient" else 660.0
            return LocalMedia(
                ToneTrack(tone), TestPatternTrack(width, height, fps, hue=hue), "test pattern"
            )
        from companion.call.devices import open_camera, open_microphone

        # One processing per call: the engine's final mix is its reverse stream, and every
        # microphone the call uses feeds it.
        processing = VoiceProcessing(self.voice_settings())
        if self.audio is not None:
            self.audio.add_output_tap(processing)
        processing.start()
        self.voice_processing = processing
        camera, microphone = open_camera(), open_microphone(processing=processing)
        if camera is None:
            self.notice.emit("No camera found — the call goes on with sound only.")
        if microphone is None:
            self.notice.emit("No microphone found — you can still hear and be seen.")
        else:
            self._watch_microphone(microphone)
        return LocalMedia(microphone, camera, "camera" if camera is not None else "")

    def _watch_microphone(self, microphone: MicrophoneTrack) -> None:
        self._unsubscribe.append(
            microphone.lost.connect(lambda: self._spawn(self._microphone_lost(microphone)))
        )

    async def _microphone_lost(self, lost: MicrophoneTrack) -> None:
        """The microphone was unplugged: the call sends silence meanwhile; the system's
        default microphone (through the same echo canceller) takes over when there is one."""
        from companion.call.devices import open_microphone

        loop = asyncio.get_running_loop()
        for wait_s in _MIC_RETRY_S:
            await asyncio.sleep(wait_s)
            if self._closed or self.media is None or self.media.audio is not lost:
                return
            microphone = await asyncio.to_thread(
                functools.partial(
                    open_microphone, None, loop=loop, processing=self.voice_processing
                )
            )
            if microphone is not None:
                if self._closed or self.media is None or self.media.audio is not lost:
                    microphone.stop()
                    return
                _log.info("microphone lost; the default microphone took over")
                self.media.replace_audio(microphone)
                self._watch_microphone(microphone)
                return
        self.notice.emit(
            "The microphone stopped working. Plug it in again (or another one) so you "
            "can be heard; everything else goes on."
        )

    # -- audio -----------------------------------------------------------------------------

    async def _start_audio(self) -> None:
        engine = AudioEngine(self.options.engine or _engine_options(self.role))
        self.audio = engine
        unplugged = (
            "The headphones or speakers were unplugged; sound continues on the computer's "
            "own output."
        )
        self._unsubscribe += [
            engine.note.connect(self.notice.emit),
            engine.device_lost.connect(lambda _name: self.notice.emit(unplugged)),
        ]
        if self.role == "patient":
            engine.load_playlist(await asyncio.to_thread(self._restored_playlist))
            self._unsubscribe.append(engine.music_status.connect(self._on_local_music))
        # The engine delivers its signals on this loop (call_soon_threadsafe; under Qt the
        # apps' QtLoop makes that safe from any thread).
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(engine.start, play=self.role == "patient", loop=loop)
        if self.role == "patient":
            self.speaker = Speaker(engine, EspeakVoice(_voice_cache()))
            self._speech_ready = self._spawn(asyncio.to_thread(self.speaker.prepare, SPOKEN_LINES))

    def _restored_playlist(self) -> Playlist:
        path = self.options.data_dir / "playlist.json"
        with contextlib.suppress(OSError, ValueError):
            return Playlist.from_dict(json.loads(path.read_text(encoding="utf-8")))
        return bundled_playlist()

    def _save_playlist(self) -> None:
        if self.audio is None or self.role != "patient":
            return
        path = self.options.data_dir / "playlist.json"
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(self.audio.playlist().to_dict()), encoding="utf-8")

    def choose_playlist(self, slug: str) -> None:
        """Patient's side of "choose a playlist" (the remote's, or the patient's own)."""
        if self.audio is None:
            return
        if slug == "endless":
            seed = uuid.uuid4().int % 10_000
            tracks = [Track.generative(seed + i, f"Endless ambient {i + 1}") for i in range(4)]
            self.audio.load_playlist(Playlist(tracks, repeat=RepeatMode.ALL, name="endless"))
        else:
            self.audio.load_playlist(bundled_playlist())

    def add_music(self, path: Path) -> None:
        """The patient's own music: a folder, or an M3U playlist. Files that cannot play
        are skipped with a plain note (``notice``), never a stop in the music."""
        if self.audio is None:
            return
        if path.suffix.lower() in (".m3u", ".m3u8"):
            self.audio.add_m3u(path)
        else:
            self.audio.add_folder(path)

    def _apply_music_command(self, command: MusicCommand) -> None:
        engine = self.audio
        if engine is None:
            return
        if command.action == "play":
            engine.play()
        elif command.action == "pause":
            engine.pause()
        elif command.action == "next":
            engine.next()
        elif command.action == "previous":
            engine.previous()
        elif command.action == "set_volume" and command.volume_db is not None:
            engine.set_volume(command.volume_db)
        elif command.action == "choose_playlist" and command.playlist:
            self.choose_playlist(command.playlist)

    def _on_local_music(self, status: LocalMusicStatus) -> None:
        wire = MusicStatus(
            kind="music.status",
            playing=status.playing and not status.muted,
            title=status.title[:120],
            position_s=max(0.0, status.position_s),
            duration_s=max(0.0, status.duration_s or 0.0),
            volume_db=max(-120.0, min(0.0, status.volume_db)),
        )
        self.facts.music = wire
        self.music_changed.emit(wire)
        # The therapist sees what plays: on every change, and now and then for the position.
        key = (wire.title, wire.playing, round(wire.volume_db))
        now = time.monotonic()
        # Counted as sent only once it was (before ``start`` there is no guardian yet, and
        # the first title must not wait for the next periodic status).
        due = key != self._last_status_sent or now - self._last_status_at >= _MUSIC_STATUS_EVERY_S
        if due and self.guardian is not None:
            self._last_status_sent, self._last_status_at = key, now
            self._spawn(self.guardian.publish(wire))

    # -- what people do --------------------------------------------------------------------

    def _g(self) -> Guardian:
        if self.guardian is None:
            raise RuntimeError("start() first")
        return self.guardian

    async def check_in(self, source: Literal["button", "key"] = "button") -> str:
        request = self.facts.pending_request
        self.facts.pending_request = None
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
        if arrived and self._own_state and not self.facts.ended and self.guardian is not None:
            _log.info("%d member(s) joined: sending the current card/plan again", len(arrived))
            for event in list(self._own_state.values()):
                self._spawn(self.guardian.publish(event))

    async def share_intention(self, text: str) -> str:
        return await self._g().publish(Intention(kind="intention", text=text))

    async def record_vitals(self, systolic: int, diastolic: int, heart_rate: int) -> str:
        self._finish_reminders("vitals")
        vitals = Vitals(
            kind="vitals", systolic=systolic, diastolic=diastolic, heart_rate=heart_rate
        )
        return await self._g().publish(vitals)

    async def looked_in(self) -> str:
        self._finish_reminders("lookin")
        return await self._g().publish(LookIn(kind="lookin"))

    async def end_session(self) -> None:
        if self.role == "therapist":
            await self._g().publish(SessionEnd(kind="session.end"))
        await self.signaling.leave()
        self._mark_ended()

    def _mark_ended(self) -> None:
        if self.facts.ended:
            return
        self.facts.ended = True
        if self._computer_task is not None:
            self._computer_task.cancel()  # the computer may sleep again
        if self.role in ("patient", "support"):
            with contextlib.suppress(OSError):
                self._save_resume("", open_=False)
        self._speak("session_end")
        self.session_ended.emit()

    # -- the patient's local controls (never on the wire) ------------------------------------

    def set_music_volume(self, db: float) -> None:
        if self.audio is not None:
            self.audio.set_volume(db)

    def set_music_muted(self, muted: bool) -> None:
        if self.audio is not None:
            (self.audio.mute if muted else self.audio.unmute)()

    def voice_settings(self) -> ProcessingSettings:
        """The microphone's settings: the command line's, else the person's last choice
        (kept in their folder), else the role's defaults."""
        if self.options.voice is not None:
            return self.options.voice
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads((self.options.data_dir / _VOICE_FILE).read_text(encoding="utf-8"))
            return ProcessingSettings(
                noise_suppression=bool(data["noise_suppression"]), auto_gain=bool(data["auto_gain"])
            )
        return ProcessingSettings.for_role(self.role)

    def set_voice_settings(self, settings: ProcessingSettings) -> None:
        """Noise suppression and automatic gain, from the device check: applied at once and
        kept for the next session."""
        if self.voice_processing is not None:
            self.voice_processing.update(settings)
        data = {"noise_suppression": settings.noise_suppression, "auto_gain": settings.auto_gain}
        with contextlib.suppress(OSError):
            self.options.data_dir.mkdir(parents=True, exist_ok=True)
            (self.options.data_dir / _VOICE_FILE).write_text(json.dumps(data), encoding="utf-8")

    def set_mic_muted(self, muted: bool) -> None:
        if self.call is not None:
            self.call.set_mic_muted(muted)

    def set_camera_enabled(self, enabled: bool) -> None:
        if self.call is not None:
            self.call.set_camera_enabled(enabled)

    def self_view(self) -> VideoSink | None:
        """Our own camera as the other side sees it (None without a camera)."""
        if self._closed:
            return None
        if self._self_view is None and self.media is not None and self.media.video is not None:
            self._self_view = VideoSink()
            self._self_track = self.media.relay.subscribe(self.media.video)
            self._spawn(self._self_view.consume(self._self_track))
        return self._self_view

    # -- what happens ----------------------------------------------------------------------

    def _add_entry(
        self, who: Role | None, kind: str, text: str, event_id: str = "", ref: str = ""
    ) -> None:
        entry = TimelineEntry(time.time(), who, kind, text, event_id, ref)
        self.facts.timeline.append(entry)
        self.timeline_added.emit(entry)

    def _on_event(self, event_id: str, event: EventBody, from_role: Role | None) -> None:
        facts = self.facts
        # The same card, plan or timings sent again for a late joiner is no news.
        again = (isinstance(event, EmergencyCard) and event == facts.card) or (
            isinstance(event, SessionPlan | LadderConfig)
            and self._last_state.get(event.kind) == event
        )
        if isinstance(event, SessionPlan | LadderConfig):
            self._last_state[event.kind] = event
        if event.kind not in ("music.status", "session.clock") and not again:
            self._add_entry(from_role, event.kind, describe_event(event, from_role), event_id)
        self._adopt_session_clock(event, from_role)
        self._speak_for(event, from_role)
        if event.kind == "checkin":
            facts.last_checkin_at = time.time()
            facts.pending_request = None
            self.checked_in.emit(facts.last_checkin_at)
        elif event.kind == "checkin.request" and self.role == "patient":
            facts.pending_request = getattr(event, "request_id", None)
            self.checkin_requested.emit(facts.pending_request or "")
            if self.audio is not None and not self._speak("checkin_request"):
                self.audio.play_chime(ChimeKind.CHECK_IN)
        elif isinstance(event, PromptPush):
            self.prompt_pushed.emit(event.prompt_id)
        elif isinstance(event, MusicCommand) and self.role == "patient":
            self._apply_music_command(event)
        elif isinstance(event, MusicStatus) and self.role != "patient":
            facts.music = event
            self.music_changed.emit(event)
        elif isinstance(event, TextMessage) and event.to_role == self.role:
            self.message_received.emit(event.text)
        elif isinstance(event, SessionPlan):
            if self.role == "patient" and event.playlist and event.playlist != facts.plan.playlist:
                self.choose_playlist(event.playlist)
            facts.plan = event
            self._scheduled_checkins.clear()
            self._plan_reminders(event)
            self.plan_changed.emit(event)
        elif isinstance(event, EmergencyCard):
            facts.card = event
            self.card_changed.emit(event)
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
            if self.role == "patient":
                self._help_calls.clear()
                self.help_answered.emit("support")
        elif isinstance(event, LinkState) and self.role == "support" and from_role == "patient":
            # The support person's board follows the patient's own monitor of the call.
            facts.link = event.state
            self.link_changed.emit(link_words(self.role, event.state))
        elif isinstance(event, ComputerNotice) and self.role == "support":
            line = SUPPORT_COMPUTER_LINES.get(event.what)
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

    def _speak_for(self, event: EventBody, from_role: Role | None) -> None:
        """The patient hears what their screen shows (the check-in request is spoken
        instead of its chime, below)."""
        if isinstance(event, AlertRaised) and event.reason == "help":
            self._help_alerts.add(event.alert_id)
        elif isinstance(event, AlertAck) and event.alert_id in self._help_alerts:
            self._help_alerts.discard(event.alert_id)
            self._speak("support_coming" if from_role == "support" else "help_acknowledged")
        elif event.kind == "checkin" and from_role == "patient":
            self._speak("checkin_received")
        elif isinstance(event, PromptPush):
            self._speak(f"prompt:{event.prompt_id}")

    def _speak(self, line_id: str) -> bool:
        """Play a prepared line to the patient; the timeline says which, and in what voice."""
        speaker = self.speaker
        if speaker is None or not speaker.say(line_id):
            return False
        self._add_entry(
            None, "spoken", f"Spoken to the patient ({speaker.voice.name})", ref=line_id
        )
        return True

    def computer_changed(self, change: ComputerChange) -> None:
        """The patient's computer changed (power.py): everyone's timeline hears of it, the
        therapist is alerted while the battery is low, and after a sleep the signaling
        connection starts again at once instead of waiting to find itself dead."""
        if self.facts.ended or self.guardian is None:
            return
        notice = ComputerNotice(kind="computer", what=change.what, asleep_s=change.asleep_s,
                                percent=change.percent)  # fmt: skip
        self._spawn(self.guardian.publish(notice))
        if change.what == "asleep":
            self._spawn(self.signaling.drop_connection())
        elif change.what == "battery_low" and self._battery_alert is None:
            self._battery_alert = uuid.uuid4().hex
            raised = AlertRaised(kind="alert.raised", alert_id=self._battery_alert,
                                 reason="battery_low", for_roles=["therapist"])  # fmt: skip
            self._spawn(self.guardian.publish(raised))
        elif change.what in ("plugged_in", "on_battery") and self._battery_alert is not None:
            resolved = AlertResolved(kind="alert.resolved", alert_id=self._battery_alert)
            self._battery_alert = None
            self._spawn(self.guardian.publish(resolved))

    def _on_alert_shown(self, alert: Alert) -> None:
        self.facts.open_alerts[alert.alert_id] = alert
        words = ALERT_WORDS.get(alert.reason, alert.reason)
        self._add_entry(None, "alert.shown", words, ref=alert.alert_id)
        self.alert_shown.emit(alert)

    def _on_alert_cleared(self, alert_id: str, how: str) -> None:
        if self.facts.open_alerts.pop(alert_id, None) is not None:
            words = "acknowledged" if how == "acked" else "resolved by itself"
            self._add_entry(None, "alert.cleared", words, ref=alert_id)
        self.alert_cleared.emit(alert_id, how)

    def _on_sound(self, kind: SoundKind) -> None:
        # The patient's app never sounds an alarm: the ladder gives it calm words instead.
        if self.audio is not None and self.role != "patient":
            self.audio.play_chime(_SOUNDS[kind])

    def _on_call_state(self, state: LinkStateName) -> None:
        was = self.facts.link
        self.facts.link = state
        self._add_entry(self.role, "link", link_line(state))
        up_once = self.guardian is not None and self.guardian.ladder.up_once
        up = up_once or state in ("connected", "degraded")  # never up yet: "waiting", not "lost"
        self.link_changed.emit(link_words(self.role, state if up else None))
        if (
            self.role == "patient"
            and state == "connected"
            and was in ("lost", "recovering")
            and self.audio is not None
        ):
            self.audio.play_chime(ChimeKind.RECONNECTED)

    def _on_home_state(self, state: LinkStateName) -> None:
        self.facts.home_link = state
        if self.role == "support":
            # The support person's board follows the patient's reports; with no call of
            # its own the home link is what it knows first-hand.
            self.link_changed.emit(link_words(self.role, self.facts.link or state))

    def _on_quality(self, quality: CallQuality) -> None:
        self.facts.quality = quality
        self.quality_changed.emit(quality)

    # -- the plan's clock ------------------------------------------------------------------

    def _plan_reminders(self, plan: SessionPlan) -> None:
        if self.role != "support" or plan.dose_at is None:
            return
        done = {(r.kind, round(r.due_at)) for r in self.reminders if r.done}
        reminders = [
            Reminder(uuid.uuid4().hex[:8], "vitals", plan.dose_at + minutes * 60)
            for minutes in plan.vitals_at_min
        ]
        if plan.lookin_every_min:
            step = plan.lookin_every_min * 60
            reminders += [
                Reminder(uuid.uuid4().hex[:8], "lookin", plan.dose_at + k * step)
                for k in range(1, int(4 * 3600 / step) + 1)
            ]
        for r in reminders:
            r.done = (r.kind, round(r.due_at)) in done
        self.reminders = sorted(reminders, key=lambda r: r.due_at)

    def _finish_reminders(self, kind: str) -> None:
        now = time.time()
        for r in self.reminders:
            if r.kind == kind and r.due_at <= now + 120 and not r.done:
                r.done = True

    async def _clock_loop(self) -> None:
        announced: set[str] = set()
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            plan = self.facts.plan
            if self.role == "support":
                for r in self.reminders:
                    if not r.done and r.due_at <= now and r.reminder_id not in announced:
                        announced.add(r.reminder_id)
                        self.reminder_due.emit(r)
            if self.role == "therapist" and plan.dose_at and plan.checkin_every_min:
                slot = int((now - plan.dose_at) // (plan.checkin_every_min * 60))
                if slot >= 1 and slot not in self._scheduled_checkins:
                    self._scheduled_checkins.add(slot)
                    await self.request_checkin()
            if self.role == "patient" and int(now) % int(_SAVE_PLAYLIST_EVERY_S) == 0:
                await asyncio.to_thread(self._save_playlist)


def _engine_options(role: Role) -> EngineOptions:
    if role == "patient":
        return EngineOptions()
    # No music on these machines: the sounds are heard at a set level below full scale.
    return EngineOptions(chime_level_db=-6.0, fade_in_s=0.3)
