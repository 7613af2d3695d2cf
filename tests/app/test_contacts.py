"""Issue 21: what people type as the support person's contacts, whether a phone can be
reached, and the outer ladder in the therapist's timeline and summary, in plain words
with no number or address."""

from __future__ import annotations

import pytest

from companion.app.contacts import ContactRefused, Contacts, reach, read_contacts
from companion.app.facts import SessionFacts, TimelineEntry
from companion.app.summary import summarize, to_html
from companion.app.words import describe_event
from companion.protocol.messages import ContactsChanged, Escalation


def test_numbers_are_read_as_people_write_them() -> None:
    assert read_contacts("+44 7700 900123", "", True) == Contacts(sms="+447700900123")
    assert read_contacts("0044 (7700) 900-123", "", True).sms == "+447700900123"
    assert read_contacts("+1 415.555.0100", " sam@example.org ", True) == Contacts(
        sms="+14155550100", email="sam@example.org"
    )
    assert read_contacts("", "", False) == Contacts()  # removing needs no agreement


@pytest.mark.parametrize(
    ("phone", "email", "consent", "field"),
    [
        ("07700 900123", "", True, "phone"),  # no country code
        ("+44 12", "", True, "phone"),  # too short
        ("+44 7700 9001234567890", "", True, "phone"),  # too long
        ("call me", "", True, "phone"),
        ("", "sam@", True, "email"),
        ("", "sam example.org", True, "email"),
        ("+447700900123", "", False, "consent"),
    ],
)
def test_what_cannot_be_used_is_refused_for_its_field_without_repeating_it(
    phone: str, email: str, consent: bool, field: str
) -> None:
    with pytest.raises(ContactRefused) as refused:
        read_contacts(phone, email, consent)
    assert refused.value.field == field
    for typed in (phone, email):
        if typed:
            assert typed not in refused.value.words


def test_whether_a_phone_can_be_reached() -> None:
    both = ContactsChanged(kind="contacts", sms=True, email=True, by="support")
    sms = ContactsChanged(kind="contacts", sms=True, by="therapist")
    none = ContactsChanged(kind="contacts", by="therapist")

    apps_only = reach([], both)
    assert not apps_only.armed and not apps_only.possible
    assert "sends no texts or e-mails" in apps_only.words

    nobody = reach(["email", "sms"], None)
    assert not nobody.armed and nobody.possible
    assert "nobody can be reached by phone" in nobody.words
    assert "on-call" in reach(["email", "sms", "oncall"], none).words

    armed = reach(["email", "sms"], both)
    assert armed.armed and "their phone (text message) and their e-mail" in armed.words
    # A phone given to a clinic that only e-mails cannot be texted.
    assert not reach(["email"], sms).armed
    assert reach(["sms"], both).words.endswith("their phone (text message) will be messaged.")


def test_the_outer_ladder_in_the_timeline_and_the_summary_in_plain_words() -> None:
    """Who was told, how, and when they answered; contacts given; never an address."""
    told = [
        ("notified", "support", "sms", 0),
        ("failed", "support", "email", 0),
        ("notified", "oncall", "oncall", 1),
        ("answered", "support", "link", None),
    ]
    events: list[ContactsChanged | Escalation] = [
        ContactsChanged(kind="contacts", sms=True, email=True, by="support"),
        *(
            Escalation.model_validate(
                {
                    "kind": "escalation",
                    "incident_id": "i1",
                    "what": what,
                    "who": who,
                    "channel": channel,
                    "round": round_,
                }
            )
            for what, who, channel, round_ in told
        ),
        ContactsChanged(kind="contacts", by="therapist"),
    ]
    facts = SessionFacts(started_at=1000.0)
    facts.timeline = [
        TimelineEntry(1000.0 + 60 * n, None, e.kind, describe_event(e, None))
        for n, e in enumerate(events)
    ]
    lines = [entry.text for entry in facts.timeline]
    assert lines == [
        "Phone and e-mail for emergency messages given by the support person",
        "Messaged the support person (text message, round 1)",
        "Could not message the support person (e-mail, round 1)",
        "Messaged the clinic's on-call (on-call, round 2)",
        "The support person answered from their phone: on their way",
        "Phone and e-mail for emergencies removed by the therapist",
    ]
    summary = summarize(facts, now=2000.0)
    assert [text for _, text in summary.outside] == lines
    html = to_html(summary)
    assert "Texts and e-mails outside the apps" in html
    for line in lines:
        assert line.replace("'", "&#x27;") in html
