"""aiortc's fire-and-forget tasks, made quiet where their failure is expected.

``RTCDataChannel.send`` hands the bytes to a task (``RTCSctpTransport._data_channel_flush``)
that nobody awaits. When the DTLS transport under it closes first (the app closing, a
network gone), that task fails (``ConnectionError`` when the transport had closed before
it started; OpenSSL's "protocol is shutdown" when it closed mid-send) and asyncio prints "Task exception
was never retrieved" with a traceback, at close, in front of a person. The message is lost
either way (the link is gone; the monitor already counts from its heartbeats): one line at
debug level says so, every other exception goes on to the loop's usual handler."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from OpenSSL import SSL

_log = logging.getLogger(__name__)

# Its unawaited tasks that send on the DTLS transport (a flush per send, and a transmit
# after a retransmission timer or a forward TSN).
_SENDS = ("RTCSctpTransport._data_channel_flush", "RTCSctpTransport._transmit")


def is_lost_data_channel_send(context: dict[str, Any]) -> bool:
    """True for a data channel send that failed because its transport had closed."""
    task = context.get("future") or context.get("task")
    exception = context.get("exception")
    if not isinstance(task, asyncio.Task) or not isinstance(exception, ConnectionError | SSL.Error):
        return False
    return getattr(task.get_coro(), "__qualname__", "") in _SENDS


def quiet_lost_data_channel_sends(loop: asyncio.AbstractEventLoop) -> None:
    """Install on ``loop`` in front of whatever handler it had."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_lost_data_channel_send(context):
            _log.debug("a data channel message was not sent: its link had closed")
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
