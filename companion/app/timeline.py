"""What a person's timeline says: each thing once, in plain words.

The core keeps every entry (the summary and the record count on them); several entries
often tell the same thing. The therapist's own watch of the call and its published
``link.state`` (and the patient's report of the same call); an alert raised (the event)
and shown (the ladder), acknowledged (the event) and cleared (the ladder); a member's
presence said again after a reconnect. ``TimelineLines`` picks the one line a person reads
for each thing (issue 16, item 12: ~50 lines in 7 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from companion.app.facts import TimelineEntry
from companion.app.prompts import prompt
from companion.app.summary import ShownAlerts, duration_words
from companion.app.words import ROLE_NAMES, role_name
from companion.i18n import _

Tone = Literal["", "alert", "cleared", "warning"]

_SAID_ELSEWHERE = {
    "alert.raised",  # its "alert.shown" line says it, for the alerts shown here
    "alert.resolved",  # its "alert.cleared" line
    "link.state",  # this app's own "link" line is the call's state, first-hand
    "music.status",
    "session.clock",
}
_HERE = {"member.joined": True, "member.back": True, "member.left": False, "member.lost": False}


@dataclass(frozen=True)
class TimelineLine:
    at: float
    text: str
    tone: Tone = ""
    amends: int = -1
    """The number (from 0) of an earlier line this one rewrites; -1: a new line."""


@dataclass
class _Flap:
    index: int
    since: float
    last_at: float
    drops: int = 1


FLAP_WINDOW_S = 120.0
"""A drop within this long of a member's last one is the same flapping connection."""


def _role_words(entry: TimelineEntry) -> str:
    """The member's role as a person says it ("Support person"): from the entry's ``ref``
    (the role, in the code's words), else from the line's first words."""
    if entry.ref in ROLE_NAMES:
        return role_name(entry.ref)
    for role in ROLE_NAMES:
        if entry.text.startswith(name := role_name(role)):
            return name
    return entry.text.split(" ", 1)[0]


class TimelineLines:
    """Feed it every entry in order; it returns the line to show, or None."""

    def __init__(self) -> None:
        self._shown = ShownAlerts()
        self._acked_by: dict[str, str] = {}  # alert id -> who acknowledged it
        self._cleared: set[str] = set()
        self._link = ""
        self._here: dict[str, bool] = {}  # role -> present, as last said
        self._flaps: dict[str, _Flap] = {}  # role -> its open line of server drops
        self._count = 0  # lines said so far (an amendment names one by its number)

    def line(self, entry: TimelineEntry) -> TimelineLine | None:
        kind, text = entry.kind, entry.text
        if kind in _SAID_ELSEWHERE:
            return None
        if kind == "alert.shown":
            if not self._shown.shown(entry):
                return None
            return self._said(
                TimelineLine(entry.at, _("⚠ ALERT: {text}").format(text=text), "alert")
            )
        if kind == "alert.ack":
            if self._shown.is_open(entry.ref):  # said once, on the alert's "cleared" line
                self._acked_by[entry.ref] = role_name(entry.who, "").lower() if entry.who else ""
                return None
            if entry.ref in self._cleared:
                return None
            return self._said(TimelineLine(entry.at, text))
        if kind == "alert.cleared":
            self._cleared.add(entry.ref)
            shown = self._shown.cleared(entry)
            what, at = (shown.what, shown.first_at) if shown else (_("Alert"), entry.at)
            how = text
            who = self._acked_by.pop(entry.ref, "")
            if text == _("acknowledged") and who:
                how = _("acknowledged by the {who}").format(who=who)
            words = _("✓ {what} — {text} after {duration}").format(
                what=what, text=how, duration=duration_words(entry.at - at)
            )
            return self._said(TimelineLine(entry.at, words, "cleared"))
        if kind == "restarted":  # the call is made afresh: its next state is news
            self._link = ""
        if kind == "link":
            if text == self._link:
                return None
            self._link = text
            warn = (entry.ref or text.rsplit(" ", 1)[-1]) in ("lost", "interrupted")
            return self._said(TimelineLine(entry.at, text, "warning" if warn else ""))
        if kind in ("member.lost", "member.back"):
            return self._flap(entry)
        if kind in _HERE:
            role = _role_words(entry)
            if self._here.get(role) == _HERE[kind]:
                return None  # a presence said again
            self._here[role] = _HERE[kind]
            self._flaps.pop(role, None)
            return self._said(TimelineLine(entry.at, text))
        if kind == "prompt.push":
            found = prompt(entry.ref or text.rsplit(": ", 1)[-1])
            text = _("Grounding prompt shown: {title}").format(title=found.title) if found else text
        elif kind == "message":
            to_patient = entry.ref == "patient" if entry.ref else text.endswith("patient")
            text = (
                _("Message sent to the patient")
                if to_patient
                else _("Message sent to the support person")
            )
        return self._said(TimelineLine(entry.at, text))

    def _said(self, line: TimelineLine) -> TimelineLine:
        if line.amends < 0:
            self._count += 1
        return line

    def _flap(self, entry: TimelineEntry) -> TimelineLine | None:
        """A member's server connection dropping and coming back is one line, amended
        as it goes ("… for 3 s, and is back"; "… dropped 4 times; back now"), not two
        lines a drop: a flapping connection filled the timeline."""
        role = _role_words(entry)
        lost = entry.kind == "member.lost"
        if self._here.get(role) is None and not lost:
            return None
        self._here[role] = not lost
        flap = self._flaps.get(role)
        if flap is None or (lost and entry.at - flap.last_at > FLAP_WINDOW_S):
            if not lost:
                return None
            flap = self._flaps[role] = _Flap(self._count, entry.at, entry.at)
            line = _("{who} lost the server connection").format(who=role)
            return self._said(TimelineLine(entry.at, line))
        flap.last_at = entry.at
        flap.drops += lost
        if flap.drops == 1:
            seconds = max(1, round(entry.at - flap.since))
            text = _("{who} lost the server connection for {seconds} s, and is back").format(
                who=role, seconds=seconds
            )
        else:
            text = (
                _("{who}'s server connection dropped {n} times; back now")
                if not lost
                else _("{who}'s server connection dropped {n} times; not back yet")
            ).format(who=role, n=flap.drops)
        return TimelineLine(flap.since, text, amends=flap.index)


def said_once(entries: list[TimelineEntry]) -> list[TimelineLine]:
    """The lines a person reads for ``entries``, in order, amendments applied."""
    view = TimelineLines()
    lines: list[TimelineLine] = []
    for entry in entries:
        line = view.line(entry)
        if line is not None and line.amends >= 0:
            lines[line.amends] = line
        elif line is not None:
            lines.append(line)
    return lines
