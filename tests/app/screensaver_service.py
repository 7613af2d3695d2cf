"""A stand-in for the desktop's org.freedesktop.ScreenSaver on a real D-Bus session bus.

This machine has no desktop, so nothing owns the name; this process does, answers
``Inhibit``/``UnInhibit`` as the spec says, and prints each call as a line on stdout
(``ready``, ``inhibit <app> <cookie>``, ``uninhibit <cookie>``) for the test to read.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from jeepney import Message, new_method_return
from jeepney.io.blocking import DBusConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.app.dbus_standin import serve

_cookies = itertools.count(7)


def handle(connection: DBusConnection, message: Message, member: str) -> bool:
    if member == "Inhibit":
        application, _reason = message.body
        cookie = next(_cookies)
        print(f"inhibit {application} {cookie}", flush=True)
        connection.send(new_method_return(message, "u", (cookie,)))
    elif member == "UnInhibit":
        print(f"uninhibit {message.body[0]}", flush=True)
        connection.send(new_method_return(message))
    else:
        return False
    return True


if __name__ == "__main__":
    serve("org.freedesktop.ScreenSaver", handle)
