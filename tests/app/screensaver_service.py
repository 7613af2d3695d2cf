"""A stand-in for the desktop's org.freedesktop.ScreenSaver on a real D-Bus session bus.

This machine has no desktop, so nothing owns the name; this process does, answers
``Inhibit``/``UnInhibit`` as the spec says, and prints each call as a line on stdout
(``ready``, ``inhibit <app> <cookie>``, ``uninhibit <cookie>``) for the test to read.
"""

from __future__ import annotations

import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

_NAME = "org.freedesktop.ScreenSaver"


def main() -> None:
    connection = open_dbus_connection(bus="SESSION")
    reply = connection.send_and_get_reply(message_bus.RequestName(_NAME, 4))
    if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        sys.exit(f"could not own {_NAME}")
    print("ready", flush=True)
    next_cookie = 7
    while True:
        message = connection.receive()
        if message.header.message_type != MessageType.method_call:
            continue
        member = message.header.fields.get(HeaderFields.member)
        if member == "Inhibit":
            application, _reason = message.body
            print(f"inhibit {application} {next_cookie}", flush=True)
            connection.send(new_method_return(message, "u", (next_cookie,)))
            next_cookie += 1
        elif member == "UnInhibit":
            print(f"uninhibit {message.body[0]}", flush=True)
            connection.send(new_method_return(message))
        else:
            connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    main()
