"""Plain words for what the core knows: the UI shows these, never jargon.

Kept apart from the widgets so the headless demo, the summary and every screen say the
same thing the same way. Tables hold the English (``N_``, the catalogue's ids); the
functions here return them in the app's language (``companion.i18n``).
"""

from __future__ import annotations

from companion.app.contacts import contacts_words
from companion.app.spoken import THERAPIST_VOICE, line_words
from companion.i18n import N_, _, ngettext, number
from companion.protocol.errors import ERROR_MESSAGES, ProtocolError
from companion.protocol.messages import ContactsChanged, EventBody, LinkStateName, Role

# What each role reads about the patient–therapist link.
_LINK_WORDS: dict[Role, dict[LinkStateName, str]] = {
    "patient": {
        "connected": N_("Your therapist is with you"),
        "degraded": N_("Your therapist is with you (the connection is a little weak)"),
        "interrupted": N_("The connection is catching its breath…"),
        # Short and not the ladder's calm line, which comes just below it and says why.
        "lost": N_("Waiting for your therapist to reconnect"),
        "recovering": N_("Reconnecting to your therapist…"),
    },
    "therapist": {
        "connected": N_("Connected"),
        "degraded": N_("Connected — poor quality"),
        "interrupted": N_("Interrupted — waiting for the patient's link"),
        "lost": N_("Link lost — the support person has been told"),
        "recovering": N_("Reconnecting…"),
    },
    "support": {
        "connected": N_("Connected"),
        "degraded": N_("Connected (weak line)"),
        "interrupted": N_("Connection hiccup"),
        "lost": N_("Therapist disconnected"),
        "recovering": N_("Reconnecting…"),
    },
}

LINK_NAME = N_("Link between patient and therapist")
"""The one name every timeline gives the call (it had three: "Call link", "Patient's link"
and the alert's "link to the patient")."""


def link_line(state: str) -> str:
    """The call's state as a timeline line; the summary reads the entry's ``ref``."""
    return _("{link}: {state}").format(link=_(LINK_NAME), state=link_state_word(state))


NOT_STARTED: dict[Role, str] = {
    "patient": N_("Connecting to your therapist…"),
    "therapist": N_("Waiting for the patient"),
    "support": N_("Waiting for the session"),
}


def error_words(error: ProtocolError) -> str:
    """A server's refusal in this app's language: its code's sentence (the wire carries
    English), or the server's own words for a code this app does not know."""
    english = ERROR_MESSAGES.get(error.code)
    return _(english) if english is not None and error.message == english else error.message


def link_words(role: Role, state: LinkStateName | None) -> str:
    if state is None:
        return _(NOT_STARTED[role])
    return _(_LINK_WORDS[role][state])


LINK_STATE_WORDS: dict[LinkStateName, str] = {
    "connected": N_("connected"),
    "degraded": N_("weak"),
    "interrupted": N_("interrupted"),
    "lost": N_("lost"),
    "recovering": N_("reconnecting"),
}
"""A link's state as one word, for timelines."""


def link_state_word(state: str) -> str:
    return _(LINK_STATE_WORDS[state]) if state in LINK_STATE_WORDS else state


ALERT_WORDS: dict[str, str] = {
    "link_lost": N_("The link to the patient was lost"),
    "help": N_("The patient is asking for help"),
    "checkin_unanswered": N_("The patient did not answer a check-in"),
    "vitals_out_of_range": N_("Vitals outside the limits you set"),
    "go_to_patient": N_("Please go to the patient now"),
    "battery_low": N_("The patient's computer battery is low"),
    "support_away": N_("No support person is connected: nobody in the home can be called"),
}

SUPPORT_ALERT_WORDS: dict[str, str] = {
    "go_to_patient": ALERT_WORDS["go_to_patient"],
    "help": N_("The patient is asking for help — please go to them now"),
    "link_lost": N_("The therapist's connection dropped. They are reconnecting."),
    "checkin_unanswered": N_("The patient has not answered a check-in — please look in on them"),
}
"""The support person's board says what to do, not only what happened."""


def alert_words(role: Role, reason: str) -> str:
    """The words for an alert on ``role``'s screen (and in its timeline)."""
    if role == "support":
        return _(SUPPORT_ALERT_WORDS.get(reason, N_("Please go to the patient")))
    return _(ALERT_WORDS[reason]) if reason in ALERT_WORDS else reason


def support_computer_line(what: str) -> str | None:
    """The support person's gentle line for a change of the patient's computer, if any."""
    line = SUPPORT_COMPUTER_LINES.get(what)
    return None if line is None else _(line)


ESCALATION_WORDS: dict[str, str] = {
    "notified": N_("Messaged the {who} ({channel}, round {round})"),
    "failed": N_("Could not message the {who} ({channel}, round {round})"),
    "answered": N_("The {who} answered from their phone: on their way"),
    "stopped": N_("Phone messages stopped"),
}
_WHO = {"support": N_("support person"), "oncall": N_("clinic's on-call")}
_CHANNEL = {
    "email": N_("e-mail"),
    "sms": N_("text message"),
    "oncall": N_("on-call"),
    "link": N_("link"),
}


def escalation_words(event: EventBody) -> str:
    """The server's outer ladder: who was told, how, and who answered (never an address)."""
    what = getattr(event, "what", "")
    who = _WHO.get(getattr(event, "who", None) or "")
    channel = _CHANNEL.get(getattr(event, "channel", None) or "")
    return _(ESCALATION_WORDS.get(what, N_("Escalation"))).format(
        who=_(who) if who else _("someone"),
        channel=_(channel) if channel else "?",
        round=(getattr(event, "round", None) or 0) + 1,
    )


COMPUTER_WORDS: dict[str, str] = {
    "asleep": N_("The patient's computer was asleep for {minutes}"),
    "on_battery": N_("The patient's computer is running on battery"),
    "battery_low": N_("The patient's computer battery is low ({percent} %)"),
    "plugged_in": N_("The patient's computer is plugged in"),
    "cannot_stay_awake": N_(
        "The patient's computer could not be kept awake; a sleep will be noticed"
    ),
}

SUPPORT_COMPUTER_LINES: dict[str, str] = {
    "on_battery": N_("The patient's computer is running on battery. If you can, plug it in."),
    "battery_low": N_("The patient's computer battery is low. Please plug it in quietly."),
}
"""The support person's gentle line for each change of power (nothing for the others)."""


def computer_words(what: str, asleep_s: float | None, percent: int | None) -> str:
    minutes = round((asleep_s or 0) / 60)
    span = (
        _("less than a minute")
        if minutes < 1
        else ngettext("{n} minute", "{n} minutes", minutes).format(n=number(minutes))
    )
    return _(COMPUTER_WORDS.get(what, N_("The patient's computer changed"))).format(
        minutes=span, percent="?" if percent is None else number(percent)
    )


def role_name(role: str, fallback: str = N_("A member")) -> str:
    """A role as a person says it ("Support person"), in the app's language."""
    name = ROLE_NAMES.get(role, fallback)
    return _(name) if name else ""  # gettext's "" is the catalogue's header


ROLE_NAMES: dict[str, str] = {
    "patient": N_("Patient"),
    "therapist": N_("Therapist"),
    "support": N_("Support person"),
}


def describe_event(event: EventBody, from_role: Role | None) -> str:
    """One line for the timeline; never personal details (notes, names, card contents)."""
    kind = event.kind
    if kind == "checkin":
        return _("Patient checked in: I'm OK")
    if kind == "checkin.request":
        return _("Therapist asked for a check-in")
    if kind == "help":
        return _("Patient held “I need help”")
    if kind == "prompt.push":
        return _("Grounding prompt shown: {prompt}").format(prompt=getattr(event, "prompt_id", ""))
    if kind == "music.command":
        action = getattr(event, "action", "")
        return _("Music remote: {action}").format(action=_(MUSIC_ACTIONS.get(action, action)))
    if kind == "music.status":
        return _("Music: {title}").format(title=getattr(event, "title", ""))
    if kind == "message":
        return _("Message to the {role}").format(
            role=role_name(getattr(event, "to_role", ""), "").lower()
        )
    if kind == "link.state":
        return link_line(getattr(event, "state", ""))
    if kind == "spoken":
        line = line_words(getattr(event, "line_id", ""))
        voice = getattr(event, "voice", "")
        return _("The patient heard: “{line}” ({voice})").format(
            line=line, voice=_(voice) if voice == THERAPIST_VOICE else voice
        )
    if kind == "computer":
        return computer_words(
            getattr(event, "what", ""),
            getattr(event, "asleep_s", None),
            getattr(event, "percent", None),
        )
    if kind == "alert.raised":
        reason = getattr(event, "reason", "")
        what = _(ALERT_WORDS[reason]) if reason in ALERT_WORDS else _("alert")
        return _("Alert: {what}").format(what=what)
    if kind == "alert.ack" and from_role is None:
        return _("Alert acknowledged from a phone")
    if kind == "escalation":
        return escalation_words(event)
    if isinstance(event, ContactsChanged):
        return contacts_words(event)
    if kind == "alert.ack":
        return _("Alert acknowledged by the {role}").format(
            role=role_name(from_role or "", N_("someone")).lower()
        )
    if kind in EVENT_WORDS:
        return _(EVENT_WORDS[kind])
    if kind == "vitals":
        return _("Vitals recorded: {systolic}/{diastolic} mmHg, {rate} bpm").format(
            systolic=getattr(event, "systolic", "?"),
            diastolic=getattr(event, "diastolic", "?"),
            rate=getattr(event, "heart_rate", "?"),
        )
    if kind == "member.refused":
        return _(
            "Another device tried to join as the {role} with their invitation and was kept"
            " out. If the {role} changed devices, withdraw that invitation and send a new one"
        ).format(role=role_name(getattr(event, "role", ""), N_("a member")).lower())
    if kind in MEMBER_WORDS:
        return _(MEMBER_WORDS[kind]).format(who=role_name(getattr(event, "role", "")))
    return kind


EVENT_WORDS: dict[str, str] = {
    "alert.resolved": N_("Alert resolved by itself"),
    "ladder.config": N_("Safety timings changed"),
    "with_patient": N_("Support person is with the patient"),
    "lookin": N_("Support person looked in"),
    "plan": N_("Session plan updated"),
    "card": N_("Emergency card updated"),
    "intention": N_("Patient shared their intention"),
    "session.end": N_("Session ended"),
}
"""Events whose timeline line is the same every time."""

MEMBER_WORDS: dict[str, str] = {
    "member.joined": N_("{who} joined"),
    "member.left": N_("{who} left"),
    "member.lost": N_("{who} lost the server connection"),
    "member.back": N_("{who} is back on the server"),
}

MUSIC_ACTIONS: dict[str, str] = {
    "play": N_("play"),
    "pause": N_("pause"),
    "next": N_("next"),
    "previous": N_("previous"),
    "set_volume": N_("volume"),
    "choose_playlist": N_("playlist chosen"),
}
"""The music remote's actions as the timeline says them (others are shown as they are)."""
