"""One example of every session event kind, for the table-driven security tests."""

from __future__ import annotations

import typing
from typing import Any

from companion.protocol.messages import (
    AlertAck,
    AlertRaised,
    AlertResolved,
    CheckIn,
    CheckInRequest,
    ComputerNotice,
    ContactsChanged,
    EmergencyCard,
    Escalation,
    EventBody,
    HelpRequest,
    Intention,
    LadderConfig,
    LinkState,
    LookIn,
    MemberChange,
    MusicCommand,
    MusicStatus,
    PromptPush,
    SessionClock,
    SessionEnd,
    SessionPlan,
    SpokenLine,
    TextMessage,
    Vitals,
    VoiceChunk,
    WithPatient,
)

SECRET_WORDS = "000-EVIL zebra-quartz"
"""Typed into every hostile event that has words: must appear in no record and no log."""


def literal_values(union: Any, field: str) -> set[str]:
    """Every value of the discriminating ``field`` across a discriminated union's models."""
    members = typing.get_args(typing.get_args(union)[0])
    return {v for model in members for v in typing.get_args(model.model_fields[field].annotation)}


SAMPLES: dict[str, EventBody] = {
    "checkin": CheckIn(kind="checkin"),
    "help": HelpRequest(kind="help", held_ms=1500),
    "checkin.request": CheckInRequest(kind="checkin.request", request_id="hostile1"),
    "prompt.push": PromptPush(kind="prompt.push", prompt_id="hostile-prompt"),
    "music.command": MusicCommand(kind="music.command", action="set_volume", volume_db=-60.0),
    "music.status": MusicStatus(
        kind="music.status",
        playing=False,
        title=SECRET_WORDS,
        position_s=0,
        duration_s=0,
        volume_db=-60.0,
    ),
    "message": TextMessage(kind="message", to_role="support", text=SECRET_WORDS),
    "link.state": LinkState(kind="link.state", state="lost"),
    "alert.raised": AlertRaised(kind="alert.raised", alert_id="hostile-alert", reason="help"),
    "alert.ack": AlertAck(kind="alert.ack", alert_id="hostile-alert"),
    "alert.resolved": AlertResolved(kind="alert.resolved", alert_id="hostile-alert"),
    "ladder.config": LadderConfig(kind="ladder.config", go_to_patient_after_s=120),
    "with_patient": WithPatient(kind="with_patient"),
    "vitals": Vitals(kind="vitals", systolic=250, diastolic=150, heart_rate=200),
    "session.end": SessionEnd(kind="session.end"),
    "session.clock": SessionClock(kind="session.clock", started_at=1.0),
    "plan": SessionPlan(kind="plan", emergency_number="000-EVIL", instructions=SECRET_WORDS),
    "card": EmergencyCard(kind="card", patient_name=SECRET_WORDS, emergency_number="000-EVIL"),
    "intention": Intention(kind="intention", text=SECRET_WORDS),
    "lookin": LookIn(kind="lookin"),
    "member.joined": MemberChange(kind="member.joined", member_id="ghost", role="therapist"),
    "member.left": MemberChange(kind="member.left", member_id="ghost", role="therapist"),
    "member.lost": MemberChange(kind="member.lost", member_id="ghost", role="therapist"),
    "member.back": MemberChange(kind="member.back", member_id="ghost", role="therapist"),
    "computer": ComputerNotice(kind="computer", what="battery_low", percent=12),
    "spoken": SpokenLine(kind="spoken", line_id="help_coming", voice="a hostile voice"),
    "member.refused": MemberChange(kind="member.refused", member_id="ghost", role="patient"),
    "escalation": Escalation(
        kind="escalation", incident_id="ghost", what="answered", who="support", channel="link"
    ),
    "contacts": ContactsChanged(kind="contacts", sms=True, by="support"),
    "voice.chunk": VoiceChunk(
        kind="voice.chunk",
        recording_id="hostile-voice",
        line_id="link_lost",
        language="en",
        index=0,
        count=1,
        data="MDAwLUVWSUwgemVicmEtcXVhcnR6",
        digest="0" * 64,
    ),
}
