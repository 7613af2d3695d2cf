"""A stand-in for the desktop's org.freedesktop.Notifications on a real D-Bus session bus.

This machine has no desktop, so nothing owns the name; this process does, answers
``Introspect``, ``GetCapabilities``, ``GetServerInformation`` and ``Notify`` as the spec says, and prints
each notice as a JSON line (``{"title": …, "body": …, "urgency": …}``) after ``ready``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from jeepney import Message, new_method_return
from jeepney.io.blocking import DBusConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.app.dbus_standin import serve

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


_ids = itertools.count(1)


def handle(connection: DBusConnection, message: Message, member: str) -> bool:
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
        connection.send(new_method_return(message, "u", (next(_ids),)))
    elif member == "CloseNotification":
        connection.send(new_method_return(message))
    else:
        return False
    return True


if __name__ == "__main__":
    serve(_NAME, handle)
