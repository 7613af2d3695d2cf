"""What differs between the three apps, each difference named once.

The patient's, therapist's and support person's cores are the same parts; a role decides
which parts it has and how it reacts. The core asks ``ROLES[role].call`` ("does this app
have the call?") instead of comparing role names in many places.
"""

from __future__ import annotations

from dataclasses import dataclass

from companion.protocol.messages import InvitedRole, Role


@dataclass(frozen=True)
class RoleTraits:
    joins_as: InvitedRole
    """The invitation it joins with (the therapist opens sessions of their own instead)."""
    call: bool
    """The patient–therapist call (camera, microphone, the other side's video)."""
    home_link: bool
    """The direct link between the patient's and the support person's computers."""
    plays_music: bool
    """Music, spoken lines and gentle chimes play here (the patient's machine): it carries
    out the therapist's remote, reports what plays, answers check-in requests, and hears
    calm words instead of any alarm."""
    ends_session: bool
    """Only the therapist ends a session for everyone."""
    resumes: bool
    """A relaunch goes back into the session it was in (the resume file)."""
    follows_patient_link: bool
    """With no call of its own, its board shows the patient's monitor of the call."""
    watches_computer: bool
    """Keeps the computer awake and reports its sleep and battery."""


def _traits(role: Role) -> RoleTraits:
    """Who has each trait, said once per trait."""
    return RoleTraits(
        joins_as="support" if role == "support" else "patient",
        call=role in ("patient", "therapist"),
        home_link=role in ("patient", "support"),
        plays_music=role == "patient",
        ends_session=role == "therapist",
        resumes=role in ("patient", "support"),
        follows_patient_link=role == "support",
        watches_computer=role == "patient",
    )


ROLES: dict[Role, RoleTraits] = {
    role: _traits(role) for role in ("patient", "therapist", "support")
}
