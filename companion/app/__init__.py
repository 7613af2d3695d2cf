"""The apps' Qt-free core: one ``RoleCore`` per person, observed by the windows.

This package is the windows' one door: ``companion.ui`` imports only from here (and
``companion.protocol`` types, and Qt). The types the windows name are exported here.
"""

from companion.app.core import RoleCore
from companion.app.facts import SessionFacts, TimelineEntry
from companion.app.joining import invite_from_link, link_details
from companion.app.lobby import Lobby
from companion.app.music import PLAYLISTS
from companion.app.options import CoreOptions
from companion.app.plan import Reminder
from companion.app.resume import SavedPlace, saved_place, write_place
from companion.app.theme import CALM_DARK, CLEAR_LIGHT
from companion.audio.processing import ProcessingSettings
from companion.call.quality import CallQuality
from companion.call.quirks import quiet_lost_data_channel_sends
from companion.monitor.ladder import Alert
from companion.records.errors import WrongPassphrase
from companion.records.private import NoteKind
from companion.tasks import TaskSet

__all__ = [
    "CALM_DARK",
    "CLEAR_LIGHT",
    "PLAYLISTS",
    "Alert",
    "CallQuality",
    "CoreOptions",
    "Lobby",
    "NoteKind",
    "ProcessingSettings",
    "Reminder",
    "RoleCore",
    "SavedPlace",
    "SessionFacts",
    "TaskSet",
    "TimelineEntry",
    "WrongPassphrase",
    "invite_from_link",
    "link_details",
    "quiet_lost_data_channel_sends",
    "saved_place",
    "write_place",
]
