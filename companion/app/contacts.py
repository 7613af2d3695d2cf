"""The support person's phone and e-mail for the server's outer ladder (issue 21), and
whether a phone can be reached at all.

Qt-free. ``read_contacts`` turns what a person typed into what ``set_contacts`` carries
(or says in plain words what is wrong, for the field it is about); ``reach`` tells the
therapist's console whether the ladder can message the support person when no app answers.
The addresses themselves are never logged and never put on the timeline: the server
writes only which kinds it holds (``contacts``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import TypeAdapter, ValidationError

from companion.i18n import N_, _
from companion.protocol.messages import ContactsChanged, Email, Phone

ContactField = Literal["phone", "email", "consent", "server"]

_PHONE: TypeAdapter[str] = TypeAdapter(Phone)
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_SEPARATORS = re.compile(r"[\s().\-/]")


class ContactRefused(ValueError):
    """What was typed cannot be used; ``words`` say why, for the ``field`` it is about."""

    def __init__(self, field: ContactField, words: str) -> None:
        super().__init__(words)
        self.field: ContactField = field
        self.words = words


@dataclass(frozen=True)
class Contacts:
    sms: str | None = None
    """E.164, e.g. ``+447700900123``."""
    email: str | None = None


def read_contacts(phone: str, email: str, consent: bool) -> Contacts:
    """What a person typed, ready for ``set_contacts``; both empty removes the contacts
    (no consent needed for that). Spaces, dashes, dots and brackets in a number are
    dropped and a leading 00 is read as +."""
    number = _SEPARATORS.sub("", phone)
    if number.startswith("00"):
        number = "+" + number[2:]
    address = email.strip()
    if number:
        try:
            number = _PHONE.validate_python(number)
        except ValidationError:
            raise ContactRefused(
                "phone",
                _(
                    "This number cannot be texted. Write it with its country code, starting "
                    "with +, for example +44 7700 900123."
                ),
            ) from None
    if address:
        try:
            address = _EMAIL.validate_python(address)
        except ValidationError:
            raise ContactRefused(
                "email", _("This e-mail address does not look complete, e.g. name@example.org.")
            ) from None
    if (number or address) and not consent:
        raise ContactRefused(
            "consent", _("Please tick the box to agree first (or leave both empty).")
        )
    return Contacts(sms=number or None, email=address or None)


@dataclass(frozen=True)
class Reach:
    """Can the outer ladder message the support person when no app answers?"""

    armed: bool
    """A contact is held that this server can send to."""
    words: str
    """One line for the therapist's console."""
    oncall: bool = False
    """The clinic's on-call would be messaged anyway (last step, or first with no contact)."""
    possible: bool = True
    """The server can text or e-mail a support person at all (worth asking for contacts)."""


def reach(server_reaches: Sequence[str], contacts: ContactsChanged | None) -> Reach:
    """From the server's ``welcome.reaches`` and the latest ``contacts`` event."""
    oncall = "oncall" in server_reaches
    if not any(kind in server_reaches for kind in ("sms", "email")):
        words = (
            _(
                "Phone: not set up — this clinic's server sends no texts or e-mails to the "
                "support person — only the clinic's on-call would be messaged."
            )
            if oncall
            else _(
                "Phone: not set up — this clinic's server sends no texts or e-mails to the "
                "support person."
            )
        )
        return Reach(False, words, oncall, possible=False)
    held = {
        kind
        for kind in ("sms", "email")
        if contacts is not None and getattr(contacts, kind) and kind in server_reaches
    }
    if not held:
        words = (
            _(
                "Phone: no number or e-mail for the support person — only the clinic's "
                "on-call would be messaged."
            )
            if oncall
            else _(
                "Phone: no number or e-mail for the support person — nobody can be reached "
                "by phone if no app answers."
            )
        )
        return Reach(False, words, oncall)
    if held == {"sms", "email"}:
        words = _(
            "Phone: ready — if no app answers, their phone (text message) and their e-mail "
            "will be messaged."
        )
    elif held == {"sms"}:
        words = _("Phone: ready — if no app answers, their phone (text message) will be messaged.")
    else:
        words = _("Phone: ready — if no app answers, their e-mail will be messaged.")
    return Reach(True, words, oncall)


_GIVEN = {
    (True, True): N_("Phone and e-mail for emergency messages given by {who}"),
    (True, False): N_("Phone for emergency messages given by {who}"),
    (False, True): N_("E-mail for emergency messages given by {who}"),
    (False, False): N_("Phone and e-mail for emergencies removed by {who}"),
}


def contacts_words(event: ContactsChanged) -> str:
    """The timeline's line: which kinds, and who gave them (never an address)."""
    who = _("the support person") if event.by == "support" else _("the therapist")
    return _(_GIVEN[(event.sms, event.email)]).format(who=who)
