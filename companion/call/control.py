"""Messages on the peer links' data channels (the call's and the home link's).

Session events travel here as well as through the signaling server: the direct path is
faster and survives a server outage; receivers drop the second copy by ``event_id``. No
server stands between the two ends, so each event is signed with the sender's session key
(companion/protocol/identity.py) over its body's exact text: the receiver knows which
member sent it from the key the server vouched for, never from where it came in.
Heartbeats are not signed: they only feed the never-alone monitor and change nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from companion.protocol.identity import MemberKey, peer_event_input
from companion.protocol.messages import EventBody, EventId, Id

CONTROL_CHANNEL_LABEL = "control"
HEARTBEAT_CHANNEL_LABEL = "heartbeat"
"""Unordered and never retransmitted: a late heartbeat is worthless, and a retransmission
would hold back the fresh ones behind it (head-of-line blocking on a lossy link)."""


class _Msg(BaseModel):
    # Fields a receiver does not know are ignored (types stay strict): the two ends of a
    # call may run different versions of the app, and a newer one's heartbeats must keep
    # an older one's monitor fed. A refused heartbeat would look like a dropped link.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Heartbeat(_Msg):
    type: Literal["hb"]
    seq: Annotated[int, Field(ge=0)]
    sent_ms: float
    """The sender's monotonic clock in ms; echoed back for a round-trip time."""
    acked: Annotated[int, Field(ge=0)] = 0
    """The highest heartbeat ``seq`` the sender has received from us: proof our way out works."""
    heard_ms: Annotated[float, Field(ge=0)] | None = None
    """How long ago the sender last decoded audio from us (None: never on this link). Our
    audio goes 50 times a second, so this proves the way out between lost heartbeats."""


class HeartbeatEcho(_Msg):
    type: Literal["hb_echo"]
    seq: Annotated[int, Field(ge=0)]
    sent_ms: float


class ControlEvent(_Msg):
    """One session event, signed by the member that sent it."""

    type: Literal["event"]
    event_id: EventId
    from_member: Id
    body: Annotated[str, StringConstraints(min_length=2, max_length=48 * 1024)]
    """The event (an ``EventBody``) as JSON text, exactly as signed: parsed only after the
    signature checks out."""
    sig: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{86}$")]
    """Ed25519 over ``peer_event_input(session_id, event_id, from_member, body)``."""

    @classmethod
    def seal(
        cls, key: MemberKey, session_id: str, from_member: str, event_id: str, event: EventBody
    ) -> ControlEvent:
        body = event.model_dump_json()
        sig = key.sign(peer_event_input(session_id, event_id, from_member, body))
        return cls(type="event", event_id=event_id, from_member=from_member, body=body, sig=sig)


ControlMessage = Annotated[Heartbeat | HeartbeatEcho | ControlEvent, Field(discriminator="type")]
CONTROL_MESSAGE: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)
EVENT_BODY: TypeAdapter[EventBody] = TypeAdapter(EventBody)
