"""A data channel send whose DTLS transport closes under it: no traceback at close."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection

from companion.call.quirks import quiet_lost_data_channel_sends


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, RTCDataChannel]:
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    channel = offerer.createDataChannel("control")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
    await asyncio.wait_for(opened.wait(), 20)
    return offerer, answerer, channel


async def _send_as_the_transport_closes(quiet: bool, closed_first: bool) -> list[str]:
    """What the loop's usual handler was given: one message per failure it would print.
    ``closed_first``: the transport closed before the send (else just after it)."""
    loop = asyncio.get_running_loop()
    printed: list[str] = []
    loop.set_exception_handler(lambda _loop, context: printed.append(context["message"]))
    if quiet:
        quiet_lost_data_channel_sends(loop)
    offerer, answerer, channel = await _connected_pair()
    try:
        sctp = offerer.sctp
        assert sctp is not None
        if closed_first:
            await sctp.transport.stop()
        channel.send("a heartbeat, just as the app closes")  # its flush is now queued
        await sctp.transport.stop()  # the DTLS transport goes before the SCTP above it
        for _ in range(20):
            await asyncio.sleep(0.01)
        gc.collect()  # "never retrieved" is said when the failed task is collected
        await asyncio.sleep(0)
    finally:
        await offerer.close()
        await answerer.close()
        loop.set_exception_handler(None)
    return printed


@pytest.mark.timeout(60)
async def test_a_send_lost_with_its_link_prints_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for closed_first in (False, True):
        printed = await _send_as_the_transport_closes(False, closed_first)
        assert printed == ["Task exception was never retrieved"], printed  # what people saw
        with caplog.at_level(logging.DEBUG, logger="companion.call.quirks"):
            assert await _send_as_the_transport_closes(True, closed_first) == []
        assert any("was not sent" in r.getMessage() for r in caplog.records)
        caplog.clear()
