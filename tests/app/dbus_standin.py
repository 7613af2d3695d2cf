"""What the stand-in desktop services (screen saver, notifications) share: own a name on
the real session bus, say ``ready``, and answer each method call with ``handle``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from jeepney import HeaderFields, Message, MessageType, new_error
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

Handler = Callable[[DBusConnection, Message, str], bool]
"""(connection, call, member) -> whether it answered; else UnknownMethod is."""


def serve(name: str, handle: Handler) -> None:
    connection = open_dbus_connection(bus="SESSION")
    reply = connection.send_and_get_reply(message_bus.RequestName(name, 4))
    if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        sys.exit(f"could not own {name}")
    print("ready", flush=True)
    while True:
        message = connection.receive()
        if message.header.message_type != MessageType.method_call:
            continue
        member = str(message.header.fields.get(HeaderFields.member))
        if not handle(connection, message, member):
            connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))
