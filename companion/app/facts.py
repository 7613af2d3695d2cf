"""What the screens and the summary read about a session: its facts and its timeline,
updated by the core as events arrive (the windows only read them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from companion.call.quality import CallQuality
from companion.monitor.ladder import Alert
from companion.protocol.messages import (
    EmergencyCard,
    LinkStateName,
    MusicStatus,
    Role,
    SessionPlan,
)


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
class SessionFacts:
    """What the screens and the summary read; updated as events arrive."""

    started_at: float = field(default_factory=time.time)
    link: LinkStateName | None = None
    home_link: LinkStateName | None = None
    last_checkin_at: float | None = None
    plan: SessionPlan = field(default_factory=lambda: SessionPlan(kind="plan"))
    card: EmergencyCard | None = None
    intention: str | None = None
    music: MusicStatus | None = None
    quality: CallQuality | None = None
    open_alerts: dict[str, Alert] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)
    ended: bool = False
