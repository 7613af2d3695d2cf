"""Signaling wire messages: JSON text frames, one object each, discriminated by ``type``.

Every message a client sends is parsed here by one schema (pydantic, strict types; fields
this version does not know are dropped, so they are never stored or relayed); nothing else
in the server looks at raw JSON. docs/protocol.md is the prose twin.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    TypeAdapter,
    model_serializer,
    model_validator,
)

PROTOCOL_VERSION = 1
"""The version this code speaks: the server's ``welcome.protocol``, a client's ``protocol``."""
OLDEST_PROTOCOL_VERSION = 1
"""The oldest version a server still serves; a client stating an older one is refused."""
MAX_MESSAGE_BYTES = 64 * 1024

Role = Literal["therapist", "patient", "support"]
InvitedRole = Literal["patient", "support"]
MemberStatus = Literal["online", "lost", "left"]
LinkStateName = Literal["connected", "degraded", "interrupted", "lost", "recovering"]

# Identifiers are opaque, URL-safe and short; event ids are UUIDs so retries can be deduplicated.
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
EventId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", to_lower=False
    ),
]
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ProtocolVersion = Annotated[int, Field(ge=0, le=1_000_000)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
DeviceSecret = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22,128}$")]
ShortText = Annotated[str, StringConstraints(max_length=120)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
"""A language's ISO 639 code, lower case ("en", "es"): no region, no script."""
PublicKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]
"""A member's Ed25519 session key, 32 raw bytes as base64url without padding."""


class _Msg(BaseModel):
    # No Infinity/NaN (nor 1e999, which parses as infinity): JSON has no way to carry them
    # back out, so a stored one would be relayed as null and dropped by every client.
    # Unknown fields are dropped, not refused: a later version may add optional fields
    # (docs/protocol.md, "Versions"); what is dropped never reaches a handler, the store or
    # another member. Unknown message types and event kinds are still refused.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False)


B64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]*$")]


class WrappedKey(_Msg):
    member_id: Id
    key: Annotated[B64, StringConstraints(min_length=64, max_length=64)]
    """The event's content key, AES-GCM under a key agreed with the member's ``box_key``."""


class Sealed(_Msg):
    """Person-entered words, encrypted by the sender for exactly the members the authority
    table lets read them (companion/protocol/sealing.py): the server relays and stores
    only this."""

    eph: PublicKey
    """The sender's one-off X25519 key for this event."""
    nonce: Annotated[B64, StringConstraints(min_length=16, max_length=16)]
    ct: Annotated[B64, StringConstraints(min_length=22, max_length=16 * 1024)]
    """AES-256-GCM of the words as a JSON object (field -> value), tag appended."""
    keys: Annotated[list[WrappedKey], Field(min_length=1, max_length=64)]


class Sealable(_Msg):
    """An event that carries person-entered words: in clear between two apps (the peer
    links are end to end), sealed through the server."""

    PRIVATE: ClassVar[tuple[str, ...]] = ()
    """The fields with person-entered words (sealed through the server)."""
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    """Of those, the ones that may not be empty when in clear."""
    kind: str
    sealed: Sealed | None = None

    @model_validator(mode="after")
    def _words_in_clear_or_sealed(self) -> Self:
        if self.sealed is not None and any(getattr(self, f) for f in self.PRIVATE):
            raise ValueError("sealed words do not also travel in clear")
        if self.sealed is None and not all(getattr(self, f) for f in self.REQUIRED):
            raise ValueError("the words may not be empty")
        return self


# --------------------------------------------------------------------------- session events
# Events are the session's shared timeline: sequenced by the server, fanned out to every
# member, replayed on resume. ``kind`` picks the body.


class CheckIn(_Msg):
    """The patient says "I'm OK" (button or any key), optionally answering a request."""

    kind: Literal["checkin"]
    source: Literal["button", "key"] = "button"
    request_id: Id | None = None


class HelpRequest(_Msg):
    """The patient held "I need help"."""

    kind: Literal["help"]
    held_ms: Annotated[int, Field(ge=0, le=60_000)] = 0


class CheckInRequest(_Msg):
    """The therapist asks the patient to check in."""

    kind: Literal["checkin.request"]
    request_id: Id
    answer_within_s: Annotated[int, Field(ge=10, le=600)] = 60


class PromptPush(_Msg):
    """The therapist shows a grounding prompt on the patient's screen."""

    kind: Literal["prompt.push"]
    prompt_id: Slug


class MusicCommand(_Msg):
    """The therapist's music remote."""

    kind: Literal["music.command"]
    action: Literal["play", "pause", "next", "previous", "set_volume", "choose_playlist"]
    volume_db: Annotated[float, Field(ge=-60.0, le=0.0)] | None = None
    playlist: Slug | None = None


class MusicStatus(_Msg):
    """What the patient's machine is playing (music plays locally; this only reports)."""

    kind: Literal["music.status"]
    playing: bool
    title: ShortText
    position_s: Annotated[float, Field(ge=0)]
    duration_s: Annotated[float, Field(ge=0)]
    volume_db: Annotated[float, Field(ge=-120.0, le=0.0)]


class TextMessage(Sealable):
    """A short note from the therapist to the support person or patient."""

    PRIVATE = REQUIRED = ("text",)
    kind: Literal["message"]
    to_role: InvitedRole
    text: Annotated[str, StringConstraints(max_length=1000)] = ""


class LinkState(_Msg):
    """A member's monitor reports the state of its link to ``peer``."""

    kind: Literal["link.state"]
    state: LinkStateName
    peer: Id | None = None


AlertReason = Literal[
    "link_lost",
    "help",
    "checkin_unanswered",
    "vitals_out_of_range",
    "go_to_patient",
    "battery_low",
    "support_away",
]
"""``support_away``: the therapist's app alone shows it (no support person connected when
it matters, companion/monitor/presence.py); it is never sent."""


class AlertRaised(_Msg):
    """Someone must be told. ``for_roles`` are the people whose apps sound it."""

    kind: Literal["alert.raised"]
    alert_id: Id
    reason: AlertReason
    urgent: bool = False
    for_roles: list[Role] = ["therapist", "support"]


class AlertAck(_Msg):
    """A person acknowledged the alert; every app stops sounding it."""

    kind: Literal["alert.ack"]
    alert_id: Id


class AlertResolved(_Msg):
    """The condition cleared by itself (the link came back); every app stops sounding it."""

    kind: Literal["alert.resolved"]
    alert_id: Id


class LadderConfig(_Msg):
    """The therapist's timings for this session's safety ladder (clamped to safe bounds)."""

    kind: Literal["ladder.config"]
    go_to_patient_after_s: Annotated[float, Field(ge=10, le=120)] = 30
    checkin_answer_s: Annotated[float, Field(ge=20, le=300)] = 60
    checkin_escalate_s: Annotated[float, Field(ge=10, le=120)] = 30


class WithPatient(_Msg):
    """The support person pressed "I'm with the patient"."""

    kind: Literal["with_patient"]


class Vitals(Sealable):
    """Blood pressure and pulse, recorded by the support person. Sealed through the server
    (then the numbers travel as 0)."""

    PRIVATE = REQUIRED = ("systolic", "diastolic", "heart_rate")
    LOWEST: ClassVar[dict[str, int]] = {"systolic": 40, "diastolic": 20, "heart_rate": 20}
    kind: Literal["vitals"]
    systolic: Annotated[int, Field(ge=0, le=300)] = 0
    diastolic: Annotated[int, Field(ge=0, le=200)] = 0
    heart_rate: Annotated[int, Field(ge=0, le=250)] = 0

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        if self.sealed is None and any(getattr(self, f) < v for f, v in self.LOWEST.items()):
            raise ValueError("a reading below what a person can have")
        return self


class SessionEnd(_Msg):
    kind: Literal["session.end"]


class SessionClock(_Msg):
    """When the therapist opened the session (Unix seconds): every app's "Session time"
    counts from it, so the console and the support person's board read the same."""

    kind: Literal["session.clock"]
    started_at: Annotated[float, Field(ge=0)]


Contact = Annotated[str, StringConstraints(max_length=500)]


class SessionPlan(Sealable):
    """The therapist's plan, set before or during the session. Minutes count from the dose.

    Each app acts on its part: the therapist's asks for check-ins, the support person's
    reminds them to record vitals and to look in; vitals beyond the limits alert the
    therapist at once."""

    PRIVATE = ("instructions",)
    kind: Literal["plan"]
    dose_at: Annotated[float, Field(ge=0)] | None = None
    """When the medication was (or will be) taken, Unix seconds; None until known."""
    checkin_every_min: Annotated[int, Field(ge=0, le=120)] = 0
    """A check-in request this often after the dose; 0 = only when the therapist asks."""
    vitals_at_min: Annotated[list[Annotated[int, Field(ge=-120, le=480)]], Field(max_length=12)] = [
        -5,
        40,
    ]
    lookin_every_min: Annotated[int, Field(ge=0, le=120)] = 15
    """The support person looks in on the patient this often; 0 = never asked."""
    systolic_max: Annotated[int, Field(ge=90, le=250)] = 160
    diastolic_max: Annotated[int, Field(ge=50, le=150)] = 90
    heart_rate_max: Annotated[int, Field(ge=50, le=200)] = 100
    instructions: Annotated[str, StringConstraints(max_length=2000)] = ""
    """What the support person should do and whom to call, in the therapist's words."""
    emergency_number: Annotated[str, StringConstraints(max_length=40)] = ""
    playlist: Slug | None = None


class EmergencyCard(Sealable):
    """For paramedics, filled in by the patient during preparation; shown on the support
    person's and the therapist's screens. Personal: apps never log it."""

    PRIVATE = (
        "patient_name",
        "address",
        "taken",
        "medications",
        "therapist_contact",
        "prescriber_contact",
        "support_name",
        "support_phone",
        "emergency_number",
    )
    kind: Literal["card"]
    patient_name: Contact = ""
    address: Contact = ""
    taken: Contact = ""
    """What was taken and how much (e.g. "ketamine 100 mg sublingual")."""
    medications: Contact = ""
    therapist_contact: Contact = ""
    prescriber_contact: Contact = ""
    support_name: Contact = ""
    support_phone: Contact = ""
    emergency_number: Annotated[str, StringConstraints(max_length=40)] = ""


class Intention(Sealable):
    """The patient chose to share the session's intention with the therapist."""

    PRIVATE = REQUIRED = ("text",)
    kind: Literal["intention"]
    text: Annotated[str, StringConstraints(max_length=2000)] = ""


class LookIn(_Msg):
    """The support person looked in on the patient (answering a paced reminder)."""

    kind: Literal["lookin"]


LineId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}(:[a-z0-9-]{1,64})?$")]
"""A spoken line's id (companion/app/spoken.py): ``link_lost``, ``prompt:box-breathing``."""


class SpokenLine(_Msg):
    """A line the patient's app spoke to the patient (issue 22): which one, in what voice,
    so the therapist sees what the patient heard. Line ids name fixed words
    (companion/app/spoken.py); a name the patient entered never travels here."""

    kind: Literal["spoken"]
    line_id: LineId
    voice: Annotated[str, StringConstraints(max_length=80)]
    """The voice used (e.g. "espeak-ng en-us")."""


VOICE_CHUNK_BYTES = 8 * 1024
"""Audio bytes per ``voice.chunk``: sealed, as base64 inside JSON inside base64, a chunk
stays within ``Sealed.ct`` and the whole wire message well under 64 KiB."""
MAX_VOICE_CHUNKS = 32
"""At most 256 KiB of Ogg Opus per line: several minutes of speech at 24 kbit/s."""


class VoiceChunk(Sealable):
    """One piece of a line the therapist recorded in their own voice (issue 22), sent to
    the patient's app at the start of the session. The audio (Ogg Opus) and the digest of
    the whole recording are sealed for the patient; in clear only which line, in which
    language, which piece of how many. The patient's app plays the recording instead of
    the computer's voice once every piece has arrived and the digest matches."""

    PRIVATE = REQUIRED = ("data", "digest")
    kind: Literal["voice.chunk"]
    recording_id: Id
    line_id: LineId
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
    index: Annotated[int, Field(ge=0, lt=MAX_VOICE_CHUNKS)]
    count: Annotated[int, Field(ge=1, le=MAX_VOICE_CHUNKS)]
    data: Annotated[B64, StringConstraints(max_length=(VOICE_CHUNK_BYTES * 4 + 2) // 3)] = ""
    """This piece of the Ogg Opus file, base64url without padding."""
    digest: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = ""
    """SHA-256 of the whole file (hex): pieces of different recordings never mix."""

    @model_validator(mode="after")
    def _index_within_count(self) -> Self:
        if self.index >= self.count:
            raise ValueError("a piece's index is below the count")
        return self


ComputerWhat = Literal["asleep", "on_battery", "battery_low", "plugged_in", "cannot_stay_awake"]


class ComputerNotice(_Msg):
    """The patient's computer itself: it slept, runs on battery, or could not be kept awake
    (companion/app/power.py). The therapist is told; the support person gets a gentle line."""

    kind: Literal["computer"]
    what: ComputerWhat
    asleep_s: Annotated[float, Field(ge=0, le=7 * 86400, allow_inf_nan=False)] | None = None
    """How long it slept (``asleep``)."""
    percent: Annotated[int, Field(ge=0, le=100)] | None = None
    """The battery's charge, where there is one."""


class MemberChange(_Msg):
    """Written by the server only: someone joined, left, was lost or came back, or (refused)
    another device tried to take this member's place with its invite and was kept out."""

    kind: Literal["member.joined", "member.left", "member.lost", "member.back", "member.refused"]
    member_id: Id
    role: Role


class Escalation(_Msg):
    """Written by the server only: the outer ladder reached (or tried to reach) someone
    outside the apps, or someone answered its link. Who and how, never an address."""

    kind: Literal["escalation"]
    incident_id: Id
    what: Literal["notified", "failed", "answered", "stopped"]
    """``stopped``: the trouble cleared by itself (or an app acknowledged) after messages went out."""
    who: Literal["support", "oncall"] | None = None
    channel: Literal["email", "sms", "oncall", "link"] | None = None
    round: Annotated[int, Field(ge=0, le=1000)] | None = None


class ContactsChanged(_Msg):
    """Written by the server only, after a ``set_contacts``: which kinds of contact the
    outer ladder now holds for the support person, and who gave them. Never an address."""

    kind: Literal["contacts"]
    email: bool = False
    sms: bool = False
    by: Literal["therapist", "support"]


EventBody = Annotated[
    CheckIn
    | HelpRequest
    | CheckInRequest
    | PromptPush
    | MusicCommand
    | MusicStatus
    | TextMessage
    | LinkState
    | AlertRaised
    | AlertAck
    | AlertResolved
    | LadderConfig
    | WithPatient
    | Vitals
    | SessionEnd
    | SessionClock
    | SessionPlan
    | EmergencyCard
    | Intention
    | LookIn
    | ComputerNotice
    | SpokenLine
    | VoiceChunk
    | MemberChange
    | Escalation
    | ContactsChanged,
    Field(discriminator="kind"),
]

# Who may send and who may read each kind: companion/protocol/authority.py.


# --------------------------------------------------------------------------- client -> server


class Login(_Msg):
    """Therapist sign-in with the one-time secret, or with an access token from an earlier login."""

    type: Literal["login"]
    rid: RequestId | None = None
    protocol: ProtocolVersion = PROTOCOL_VERSION
    """The protocol version the client speaks (docs/protocol.md, "Versions")."""
    therapist: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    secret: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    access_token: Token | None = None


class CreateSession(_Msg):
    type: Literal["create_session"]
    rid: RequestId | None = None
    label: ShortText = ""
    invite_ttl_s: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 12 * 3600
    relay_only: bool = False
    """Members connect through the TURN relay only, so their IP addresses stay hidden from
    each other (needs a TURN server on the clinic server)."""


class ListSessions(_Msg):
    type: Literal["list_sessions"]
    rid: RequestId | None = None


class CreateInvite(_Msg):
    type: Literal["create_invite"]
    rid: RequestId | None = None
    session_id: Id
    role: InvitedRole
    ttl_s: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 12 * 3600


class RevokeInvite(_Msg):
    type: Literal["revoke_invite"]
    rid: RequestId | None = None
    invite_id: Id


class Join(_Msg):
    """Join a session: patients and support people with an invite (token or short code),
    a signed-in therapist with the id of one of their sessions."""

    type: Literal["join"]
    rid: RequestId | None = None
    protocol: ProtocolVersion = PROTOCOL_VERSION
    """The protocol version the client speaks (docs/protocol.md, "Versions")."""
    invite: Token | None = None
    session_id: Id | None = None
    as_role: InvitedRole | None = None
    """The role the app was started for; a mismatch with the invite gives ``wrong_role``."""
    device: DeviceSecret | None = None
    """A random secret this install keeps (at least 128 bits): an invite's place binds to
    the first device that joined with it, and only that device may take it again by
    joining while the place can still be resumed (else ``device_bound``)."""
    last_seq: Annotated[int, Field(ge=0)] | None = None
    """The last event this device applied: when the join takes its own place back (its
    resume token was lost), the events after it follow as on ``resume``."""
    public_key: PublicKey | None = None
    """This member's session key (companion/protocol/identity.py), vouched for to the others
    in the member list. Without one, nothing this member sends over a peer path is accepted."""
    box_key: PublicKey | None = None
    """This member's X25519 key: the others seal person-entered words for it. Without one,
    it cannot read them."""
    language: Language | None = None
    """The language this person reads (``es``): the server writes to them in it (the outer
    ladder's messages to the support person's phone), until a ``set_language``. One the
    server does not have is kept, and its messages fall back to English."""


class Resume(_Msg):
    """Take back one's place after a dropped connection; missed events follow in order."""

    type: Literal["resume"]
    rid: RequestId | None = None
    protocol: ProtocolVersion = PROTOCOL_VERSION
    """The protocol version the client speaks (docs/protocol.md, "Versions")."""
    resume_token: Token
    last_seq: Annotated[int, Field(ge=0)]


class SessionDescription(_Msg):
    kind: Literal["offer", "answer"]
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=48 * 1024)]


class IceCandidate(_Msg):
    kind: Literal["candidate"]
    candidate: Annotated[str, StringConstraints(max_length=1024)]
    sdp_mid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdp_mline_index: Annotated[int, Field(ge=0, le=64)] | None = None


class Hangup(_Msg):
    kind: Literal["hangup"]


class Restart(_Msg):
    """Ask the offering side for a fresh peer connection (the answerer's way to reconnect)."""

    kind: Literal["restart"]


SignalData = Annotated[
    SessionDescription | IceCandidate | Hangup | Restart, Field(discriminator="kind")
]


class PeerSignal(_Msg):
    """A member's WebRTC negotiation (an offer, an answer, ICE candidates) for one other
    member, which the server relays as a ``RelayedSignal``; on the wire its ``type`` is
    ``signal``. Not sequenced, not stored."""

    type: Literal["signal"]
    to: Id
    pc_id: Id
    session_id: Id | None = None
    data: SignalData


class SendEvent(_Msg):
    type: Literal["event"]
    event_id: EventId
    session_id: Id | None = None
    event: EventBody


class Leave(_Msg):
    type: Literal["leave"]
    rid: RequestId | None = None


class Ping(_Msg):
    """A keepalive any connection may send (browsers cannot send WebSocket pings): the
    server answers ``ok`` with the same ``rid``, so a client that hears nothing back
    knows the server is gone without waiting for the socket to close."""

    type: Literal["ping"]
    rid: RequestId | None = None


Email = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")
]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
"""E.164: a plus, the country code, the number; no spaces."""


class SetContacts(_Msg):
    """The support person's phone and e-mail for the server's outer ladder, given with
    their consent (by the support person, or the therapist for the session). Replaces
    the session's contacts; both empty removes them."""

    type: Literal["set_contacts"]
    rid: RequestId | None = None
    session_id: Id
    email: Email | None = None
    sms: Phone | None = None
    consent: Literal[True]
    """The person agreed to be messaged in an emergency of this session."""


class SetLanguage(_Msg):
    """The person changed their language after joining (their app's or board's picker):
    what the server writes to them from now on is in it (docs/protocol.md)."""

    type: Literal["set_language"]
    rid: RequestId | None = None
    language: Language


ClientMessage = Annotated[
    Login
    | CreateSession
    | ListSessions
    | CreateInvite
    | RevokeInvite
    | Join
    | Resume
    | PeerSignal
    | SendEvent
    | Leave
    | Ping
    | SetContacts
    | SetLanguage,
    Field(discriminator="type"),
]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


# --------------------------------------------------------------------------- server -> client


class IceServer(_Msg):
    urls: list[str]
    username: str | None = None
    credential: str | None = None

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A STUN entry has no credentials: leave the keys out rather than send null,
        # which a browser's RTCPeerConnection would keep as the string "null".
        return {k: v for k, v in handler(self).items() if v is not None}


class InviteInfo(_Msg):
    invite_id: Id
    session_id: Id
    role: InvitedRole
    token: str
    code: str
    link: str
    expires_at: float
    web_link: str | None = None
    """Support invites: the board in a browser, ``https://…/board#invite=<token>``."""


class SessionInfo(_Msg):
    session_id: Id
    label: str
    created_at: float
    ended: bool = False
    members: list[MemberInfo] = []
    relay_only: bool = False


class MemberInfo(_Msg):
    member_id: Id
    role: Role
    status: MemberStatus
    public_key: PublicKey | None = None
    """The key the member gave when it joined: its peer events must be signed by it."""
    box_key: PublicKey | None = None
    """The key words are sealed for, for this member."""


class Welcome(_Msg):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    server: str
    heartbeat_s: float
    reaches: list[Literal["email", "sms", "oncall"]] = []
    """How this server's outer ladder reaches people outside the apps (the clinic's
    ``--notify-config``); empty: it messages nobody, the apps are all there is."""


class LoginOk(_Msg):
    type: Literal["login_ok"] = "login_ok"
    rid: str | None
    therapist_id: Id
    access_token: str
    expires_at: float


class SessionCreated(_Msg):
    type: Literal["session_created"] = "session_created"
    rid: str | None
    session: SessionInfo
    invites: list[InviteInfo]


class Sessions(_Msg):
    type: Literal["sessions"] = "sessions"
    rid: str | None
    sessions: list[SessionInfo]


class InviteCreated(_Msg):
    type: Literal["invite"] = "invite"
    rid: str | None
    invite: InviteInfo


class Ok(_Msg):
    type: Literal["ok"] = "ok"
    rid: str | None


class Joined(_Msg):
    type: Literal["joined"] = "joined"
    rid: str | None
    session_id: Id
    member_id: Id
    role: Role
    resume_token: str
    last_seq: int
    resumed: bool
    members: list[MemberInfo]
    ice_servers: list[IceServer]
    ice_transport_policy: Literal["all", "relay"] = "all"
    """``relay``: the session is relay only; use the TURN relay candidates alone."""


class Presence(_Msg):
    type: Literal["presence"] = "presence"
    session_id: Id
    members: list[MemberInfo]


class RelayedSignal(_Msg):
    """A ``PeerSignal`` as the server hands it on, saying whom it is from."""

    type: Literal["signal"] = "signal"
    session_id: Id
    from_member: Id
    pc_id: Id
    data: SignalData


class SessionEvent(_Msg):
    """One entry of the session's timeline, as fanned out and replayed."""

    type: Literal["event"] = "event"
    session_id: Id
    seq: int
    event_id: EventId
    from_member: Id | None
    from_role: Role | None
    at: float
    event: EventBody


class EventAck(_Msg):
    """The server has stored the event; ``duplicate`` means it had it already (a retry)."""

    type: Literal["event_ack"] = "event_ack"
    event_id: EventId
    seq: int
    duplicate: bool


class Error(_Msg):
    type: Literal["error"] = "error"
    rid: str | None = None
    code: str
    message: str
    fatal: bool = False


ServerMessage = Annotated[
    Welcome
    | LoginOk
    | SessionCreated
    | Sessions
    | InviteCreated
    | Ok
    | Joined
    | Presence
    | RelayedSignal
    | SessionEvent
    | EventAck
    | Error,
    Field(discriminator="type"),
]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
