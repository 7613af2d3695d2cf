"""Who may send what, and who may read it: the one authority table of the protocol.

Every path consults this module and nothing else: the signaling server (which requests a
connection may make, which events a role may send, which members an event is delivered
to, which signals may pass between whom), the call's data channels and the home link
(which peer may be on the other end, which events it may send us), and so the apps'
records, which only ever hold what passed. A new message or event kind without a line
here fails ``tests/security/test_authority_table.py``. docs/protocol.md shows the table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from companion.protocol.messages import EventBody, Role

ALL: frozenset[Role] = frozenset({"therapist", "patient", "support"})
SERVER: frozenset[Role] = frozenset()
"""No member may send it: the server writes these kinds itself."""


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


@dataclass(frozen=True)
class EventRule:
    senders: frozenset[Role]
    """Roles that may send the kind (empty: the server alone)."""
    readers: frozenset[Role]
    """Roles that may receive and keep it, over any path."""
    addressed: bool = False
    """The event names its reader in ``to_role``: it goes to the senders' roles and that
    role alone (the therapist's message to the support person is not the patient's)."""
    from_server: bool = False
    """The server may write it too (besides ``senders``): an ``alert.ack`` for a person
    who pressed an acknowledge link on their phone."""
    raiser_only: bool = False
    """The event names an alert (``alert_id``) and counts only from the role that raised
    it: the one whose condition it was says it cleared (receivers check their ladder)."""


EVENT_RULES: dict[str, EventRule] = {
    # The patient's words and signs of life
    "checkin": EventRule(_roles("patient"), ALL),
    "help": EventRule(_roles("patient"), ALL),
    "intention": EventRule(_roles("patient"), _roles("patient", "therapist")),
    "card": EventRule(_roles("patient"), ALL),
    "music.status": EventRule(_roles("patient"), ALL),
    "computer": EventRule(_roles("patient"), ALL),
    "spoken": EventRule(_roles("patient"), _roles("patient", "therapist")),
    # The therapist's direction of the session: only the therapist, proven, changes it
    "checkin.request": EventRule(_roles("therapist"), ALL),
    "prompt.push": EventRule(_roles("therapist"), _roles("therapist", "patient")),
    "music.command": EventRule(_roles("therapist"), _roles("therapist", "patient")),
    "message": EventRule(_roles("therapist"), _roles("therapist"), addressed=True),
    "ladder.config": EventRule(_roles("therapist"), ALL),
    "plan": EventRule(_roles("therapist"), ALL),
    "session.end": EventRule(_roles("therapist"), ALL),
    "session.clock": EventRule(_roles("therapist"), ALL),
    # The therapist's own voice for the patient's spoken lines: to the patient alone
    "voice.chunk": EventRule(_roles("therapist"), _roles("therapist", "patient")),
    # The support person's part
    "with_patient": EventRule(_roles("support"), ALL),
    "vitals": EventRule(_roles("support"), _roles("therapist", "support")),
    "lookin": EventRule(_roles("support"), _roles("therapist", "support")),
    # The never-alone ladder: every app raises, acknowledges and reports
    "link.state": EventRule(ALL, ALL),
    "alert.raised": EventRule(ALL, ALL),
    "alert.ack": EventRule(_roles("therapist", "support"), ALL, from_server=True),
    "alert.resolved": EventRule(ALL, ALL, raiser_only=True),
    # Written by the server alone
    "member.joined": EventRule(SERVER, ALL),
    "member.left": EventRule(SERVER, ALL),
    "member.lost": EventRule(SERVER, ALL),
    "member.back": EventRule(SERVER, ALL),
    # Another device tried the patient's (or support person's) invitation and was kept out:
    # the therapist decides what to do (withdraw it, send a new one)
    "member.refused": EventRule(SERVER, _roles("therapist")),
    # The outer ladder: who was messaged outside the apps, how, and who answered
    "escalation": EventRule(SERVER, _roles("therapist", "support")),
    # Which contacts the outer ladder holds (never the addresses): is a phone armed?
    "contacts": EventRule(SERVER, _roles("therapist", "support")),
}


def rule(kind: str) -> EventRule:
    """The kind's line; a kind with none may be neither sent nor read (KeyError)."""
    return EVENT_RULES[kind]


def may_send(role: Role | None, kind: str) -> bool:
    """``role`` None is the server itself."""
    line = EVENT_RULES.get(kind)
    if line is None:
        return False
    if role is None:
        return not line.senders or line.from_server
    return role in line.senders


def readers_of(kind: str, to_role: str | None = None) -> frozenset[Role]:
    """Who may receive an event of ``kind`` (``to_role``: an addressed event's reader)."""
    line = EVENT_RULES.get(kind)
    if line is None:
        return frozenset()
    if line.addressed:
        return line.readers | frozenset(r for r in ALL if r == to_role)
    return line.readers


def may_read(role: Role, event: EventBody) -> bool:
    return role in readers_of(event.kind, getattr(event, "to_role", None))


def permitted(event: EventBody, from_role: Role | None, reader: Role) -> bool:
    """May ``reader``'s app accept ``event`` from ``from_role`` (None: the server)?"""
    return may_send(from_role, event.kind) and may_read(reader, event)


# --------------------------------------------------------------------------- client messages
Standing = Literal["anyone", "therapist", "member"]
"""``anyone``: no sign-in needed; ``therapist``: a signed-in therapist account; ``member``:
a connection seated in a session (any role; events and signals are then checked by kind)."""

CLIENT_MESSAGES: dict[str, Standing] = {
    "login": "anyone",
    "join": "anyone",  # an invite, or (for a session id) a signed-in therapist
    "resume": "anyone",  # the resume token is the proof
    "create_session": "therapist",
    "list_sessions": "therapist",
    "create_invite": "therapist",
    "revoke_invite": "therapist",
    "signal": "member",  # and SIGNAL_RULES below
    "event": "member",  # and EVENT_RULES above
    "leave": "member",
    "ping": "anyone",  # a keepalive, answered ``ok``; costs a frame like any other
    "set_contacts": "member",  # the support person its own, or the therapist; not the patient
    "set_language": "member",  # one's own language, for what the server writes to one
}


SERVER_MESSAGES: dict[str, str] = {
    "welcome": "every connection, first",
    "login_ok": "the therapist who signed in",
    "session_created": "the therapist who asked",
    "sessions": "the therapist who asked",
    "invite": "the therapist who asked",
    "ok": "the connection that asked",
    "joined": "the member who joined or resumed",
    "presence": "every member of the session (member id, role, status, vouched key)",
    "signal": "the one member it is addressed to, along PEER_PATHS only",
    "event": "the members whose role EVENT_RULES lets read it, live and on replay",
    "event_ack": "the member who sent the event",
    "error": "the connection whose request was refused",
}
"""Who receives each server message (companion/server/service.py)."""


# --------------------------------------------------------------------------- peer paths
@dataclass(frozen=True)
class PeerPath:
    name: str
    """The prefix of every ``pc_id`` on this path (``call-…``, ``home-…``)."""
    offerer: Role
    answerer: Role

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset({self.offerer, self.answerer})

    def peer_of(self, role: Role) -> Role | None:
        if role == self.offerer:
            return self.answerer
        return self.offerer if role == self.answerer else None


PEER_PATHS: dict[str, PeerPath] = {
    "call": PeerPath("call", offerer="patient", answerer="therapist"),
    "home": PeerPath("home", offerer="patient", answerer="support"),
}
"""The only peer connections a session has. Nobody else may open one, answer one, or
send anything over one."""

Side = Literal["offerer", "answerer"]
SIGNAL_RULES: dict[str, frozenset[Side]] = {
    "offer": frozenset({"offerer"}),
    "answer": frozenset({"answerer"}),
    "candidate": frozenset({"offerer", "answerer"}),
    "hangup": frozenset({"offerer", "answerer"}),
    "restart": frozenset({"answerer"}),  # the answerer asks the offerer for a fresh connection
}


def path_of(pc_id: str) -> PeerPath | None:
    return PEER_PATHS.get(pc_id.split("-", 1)[0])


def may_signal(pc_id: str, kind: str, from_role: Role, to_role: Role) -> bool:
    """May ``from_role`` send a ``kind`` signal for connection ``pc_id`` to ``to_role``?"""
    path = path_of(pc_id)
    if path is None or path.peer_of(from_role) != to_role:
        return False
    side: Side = "offerer" if from_role == path.offerer else "answerer"
    return side in SIGNAL_RULES.get(kind, frozenset())


CONTROL_MESSAGES: dict[str, str] = {
    "hb": "unsigned: proof of life only, it changes nothing",
    "hb_echo": "unsigned: proof of life only, it changes nothing",
    "event": "signed by the sender's session key; then EVENT_RULES",
}
"""The data channels' message types (companion/call/control.py) and what makes them safe."""


@dataclass
class Refusals:
    """The log line for what a path refused: kinds, ids and reasons, never the words; at
    most one line a second, so a hostile peer's flood cannot flood the disk too."""

    logger: logging.Logger
    every_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=float("-inf"))
    _dropped: int = 0

    def note(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._last < self.every_s:
            self._dropped += 1
            return
        self._last, dropped, self._dropped = now, self._dropped, 0
        more = f" (and {dropped} more refused since the last line)" if dropped else ""
        self.logger.warning(message + more, *args)
