"""The apps' Qt-free core: one ``RoleCore`` per person, observed by the windows."""

from companion.app.core import (
    PLAYLISTS,
    CoreOptions,
    Reminder,
    RoleCore,
    SessionFacts,
    TimelineEntry,
    invite_from_link,
    link_details,
)

__all__ = [
    "PLAYLISTS",
    "CoreOptions",
    "Reminder",
    "RoleCore",
    "SessionFacts",
    "TimelineEntry",
    "invite_from_link",
    "link_details",
]
