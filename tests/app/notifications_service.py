"""A stand-in for the desktop's org.freedesktop.Notifications on a real D-Bus session bus.

This machine has no desktop, so nothing owns the name; this process does, answers
``Introspect``, ``GetCapabilities``, ``GetServerInformation`` and ``Notify`` as the spec says, and prints
each notice as a JSON line (``{"title": …, "body": …, "urgency": …}``) after ``ready``.
"""

from __future__ import annotations

import json
import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

_NAME = "org.freedesktop.Notifications"
_INTROSPECTION = """<node>
 <interface name="org.freedesktop.Notifications">
  <method name="GetCapabilities"><arg direction="out" type="as"/></method>
  <method name="Notify">
   <arg direction="in" type="s"/><arg direction="in" type="u"/><arg direction="in" type="s"/>
   <arg direction="in" type="s"/><arg direction="in" type="s"/><arg direction="in" type="as"/>
   <arg direction="in" type="a{sv}"/><arg direction="in" type="i"/>
   <arg direction="out" type="u"/>
  </method>
  <method name="CloseNotification"><arg direction="in" type="u"/></method>
  <method name="GetServerInformation">
   <arg direction="out" type="s"/><arg direction="out" type="s"/>
   <arg direction="out" type="s"/><arg direction="out" type="s"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
 </interface>
</node>"""


def main() -> None:
    connection = open_dbus_connection(bus="SESSION")
    reply = connection.send_and_get_reply(message_bus.RequestName(_NAME, 4))
    if reply.body[0] != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        sys.exit(f"could not own {_NAME}")
    print("ready", flush=True)
    next_id = 1
    while True:
        message = connection.receive()
        if message.header.message_type != MessageType.method_call:
            continue
        member = message.header.fields.get(HeaderFields.member)
        if member == "Introspect":
            connection.send(new_method_return(message, "s", (_INTROSPECTION,)))
        elif member == "GetCapabilities":
            connection.send(new_method_return(message, "as", (["body"],)))
        elif member == "GetServerInformation":
            connection.send(new_method_return(message, "ssss", ("stand-in", "test", "1", "1.2")))
        elif member == "Notify":
            _app, _replaces, _icon, title, body, _actions, hints, _timeout = message.body
            urgency = hints.get("urgency", ("y", 1))[1]
            print(json.dumps({"title": title, "body": body, "urgency": urgency}), flush=True)
            connection.send(new_method_return(message, "u", (next_id,)))
            next_id += 1
        elif member == "CloseNotification":
            connection.send(new_method_return(message))
        else:
            connection.send(new_error(message, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    main()
