"""Messages on the call's control data channel (reliable, ordered, peer to peer).

Session events travel here as well as through the signaling server: the direct path is
faster and survives a server outage; receivers drop the second copy by ``event_id``.
Heartbeats feed the never-alone monitor.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from companion.protocol.messages import EventBody, EventId

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
    type: Literal["event"]
    event_id: EventId
    event: EventBody


ControlMessage = Annotated[Heartbeat | HeartbeatEcho | ControlEvent, Field(discriminator="type")]
CONTROL_MESSAGE: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)
