"""Plain words for what the core knows: the UI shows these, never jargon.

Kept apart from the widgets so the headless demo, the summary and every screen say the
same thing the same way.
"""

from __future__ import annotations

from companion.app.spoken import line_words
from companion.protocol.messages import EventBody, LinkStateName, Role

# What each role reads about the patient–therapist link.
_LINK_WORDS: dict[Role, dict[LinkStateName, str]] = {
    "patient": {
        "connected": "Your therapist is with you",
        "degraded": "Your therapist is with you (the connection is a little weak)",
        "interrupted": "The connection is catching its breath…",
        # Short and not the ladder's calm line, which comes just below it and says why.
        "lost": "Waiting for your therapist to reconnect",
        "recovering": "Reconnecting to your therapist…",
    },
    "therapist": {
        "connected": "Connected",
        "degraded": "Connected — poor quality",
        "interrupted": "Interrupted — waiting for the patient's link",
        "lost": "Link lost — the support person has been told",
        "recovering": "Reconnecting…",
    },
    "support": {
        "connected": "Connected",
        "degraded": "Connected (weak line)",
        "interrupted": "Connection hiccup",
        "lost": "Therapist disconnected",
        "recovering": "Reconnecting…",
    },
}

LINK_NAME = "Link between patient and therapist"
"""The one name every timeline gives the call (it had three: "Call link", "Patient's link"
and the alert's "link to the patient")."""


def link_line(state: str) -> str:
    return f"{LINK_NAME}: {state}"


NOT_STARTED = {
    "patient": "Connecting to your therapist…",
    "therapist": "Waiting for the patient",
    "support": "Waiting for the session",
}


def link_words(role: Role, state: LinkStateName | None) -> str:
    if state is None:
        return NOT_STARTED[role]
    return _LINK_WORDS[role][state]


ALERT_WORDS: dict[str, str] = {
    "link_lost": "The link to the patient was lost",
    "help": "The patient is asking for help",
    "checkin_unanswered": "The patient did not answer a check-in",
    "vitals_out_of_range": "Vitals outside the limits you set",
    "go_to_patient": "Please go to the patient now",
    "battery_low": "The patient's computer battery is low",
    "support_away": "No support person is connected: nobody in the home can be called",
}

SUPPORT_ALERT_WORDS: dict[str, str] = {
    "go_to_patient": ALERT_WORDS["go_to_patient"],
    "help": "The patient is asking for help — please go to them now",
    "link_lost": "The therapist's connection dropped. They are reconnecting.",
    "checkin_unanswered": "The patient has not answered a check-in — please look in on them",
}
"""The support person's board says what to do, not only what happened."""


def alert_words(role: Role, reason: str) -> str:
    """The words for an alert on ``role``'s screen (and in its timeline)."""
    if role == "support":
        return SUPPORT_ALERT_WORDS.get(reason, "Please go to the patient")
    return ALERT_WORDS.get(reason, reason)


ESCALATION_WORDS: dict[str, str] = {
    "notified": "Messaged the {who} ({channel}, round {round})",
    "failed": "Could not message the {who} ({channel}, round {round})",
    "answered": "The {who} answered from their phone: on their way",
    "stopped": "Phone messages stopped",
}
_WHO = {"support": "support person", "oncall": "clinic's on-call"}
_CHANNEL = {"email": "e-mail", "sms": "text message", "oncall": "on-call", "link": "link"}


def escalation_words(event: EventBody) -> str:
    """The server's outer ladder: who was told, how, and who answered (never an address)."""
    what = getattr(event, "what", "")
    return ESCALATION_WORDS.get(what, "Escalation").format(
        who=_WHO.get(getattr(event, "who", None) or "", "someone"),
        channel=_CHANNEL.get(getattr(event, "channel", None) or "", "?"),
        round=(getattr(event, "round", None) or 0) + 1,
    )


COMPUTER_WORDS: dict[str, str] = {
    "asleep": "The patient's computer was asleep for {minutes}",
    "on_battery": "The patient's computer is running on battery",
    "battery_low": "The patient's computer battery is low ({percent} %)",
    "plugged_in": "The patient's computer is plugged in",
    "cannot_stay_awake": "The patient's computer could not be kept awake; a sleep will be noticed",
}

SUPPORT_COMPUTER_LINES: dict[str, str] = {
    "on_battery": "The patient's computer is running on battery. If you can, plug it in.",
    "battery_low": "The patient's computer battery is low. Please plug it in quietly.",
}
"""The support person's gentle line for each change of power (nothing for the others)."""


def computer_words(what: str, asleep_s: float | None, percent: int | None) -> str:
    minutes = round((asleep_s or 0) / 60)
    span = (
        "less than a minute" if minutes < 1 else f"{minutes} minute" + ("s" if minutes != 1 else "")
    )
    return COMPUTER_WORDS.get(what, "The patient's computer changed").format(
        minutes=span, percent="?" if percent is None else percent
    )


ROLE_NAMES: dict[str, str] = {
    "patient": "Patient",
    "therapist": "Therapist",
    "support": "Support person",
}


def describe_event(event: EventBody, from_role: Role | None) -> str:
    """One line for the timeline; never personal details (notes, names, card contents)."""
    kind = event.kind
    if kind == "checkin":
        return "Patient checked in: I'm OK"
    if kind == "checkin.request":
        return "Therapist asked for a check-in"
    if kind == "help":
        return "Patient held “I need help”"
    if kind == "prompt.push":
        return f"Grounding prompt shown: {getattr(event, 'prompt_id', '')}"
    if kind == "music.command":
        return f"Music remote: {getattr(event, 'action', '').replace('_', ' ')}"
    if kind == "music.status":
        return f"Music: {getattr(event, 'title', '')}"
    if kind == "message":
        return f"Message to the {getattr(event, 'to_role', '')}"
    if kind == "link.state":
        return link_line(getattr(event, "state", ""))
    if kind == "spoken":
        line = line_words(getattr(event, "line_id", ""))
        return f"The patient heard: “{line}” ({getattr(event, 'voice', '')})"
    if kind == "computer":
        return computer_words(getattr(event, "what", ""), getattr(event, "asleep_s", None),
                              getattr(event, "percent", None))  # fmt: skip
    if kind == "alert.raised":
        return f"Alert: {ALERT_WORDS.get(getattr(event, 'reason', ''), 'alert')}"
    if kind == "alert.ack":
        if from_role is None:
            return "Alert acknowledged from a phone"
        return f"Alert acknowledged by the {ROLE_NAMES.get(from_role, 'someone').lower()}"
    if kind == "escalation":
        return escalation_words(event)
    if kind == "alert.resolved":
        return "Alert resolved by itself"
    if kind == "ladder.config":
        return "Safety timings changed"
    if kind == "with_patient":
        return "Support person is with the patient"
    if kind == "vitals":
        return "Vitals recorded: {}/{} mmHg, {} bpm".format(
            getattr(event, "systolic", "?"),
            getattr(event, "diastolic", "?"),
            getattr(event, "heart_rate", "?"),
        )
    if kind == "lookin":
        return "Support person looked in"
    if kind == "plan":
        return "Session plan updated"
    if kind == "card":
        return "Emergency card updated"
    if kind == "intention":
        return "Patient shared their intention"
    if kind == "session.end":
        return "Session ended"
    if kind == "member.refused":
        who = ROLE_NAMES.get(getattr(event, "role", ""), "a member").lower()
        return (
            f"Another device tried to join as the {who} with their invitation and was kept"
            f" out. If the {who} changed devices, withdraw that invitation and send a new one"
        )
    if kind in ("member.joined", "member.left", "member.lost", "member.back"):
        who = ROLE_NAMES.get(getattr(event, "role", ""), "A member")
        verb = {
            "member.joined": "joined",
            "member.left": "left",
            "member.lost": "lost the server connection",
            "member.back": "is back on the server",
        }[kind]
        return f"{who} {verb}"
    return kind
