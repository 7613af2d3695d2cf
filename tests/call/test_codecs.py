"""What a call negotiates when the other side is not one of our apps (issue 25, item 8):
a browser offers every codec it has; the therapist's answer keeps Opus and VP8 only."""

from __future__ import annotations

import asyncio
import re

from aiortc import RTCPeerConnection, RTCSessionDescription

from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.synthetic import TestPatternTrack as PatternTrack
from companion.call.synthetic import ToneTrack
from companion.protocol.messages import RelayedSignal, SessionDescription
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient


def _codecs(sdp: str) -> dict[str, set[str]]:
    """Codec names per media section, from the ``a=rtpmap`` lines."""
    found: dict[str, set[str]] = {}
    kind = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
        elif match := re.match(r"a=rtpmap:\d+ ([^/]+)/", line):
            found.setdefault(kind, set()).add(match.group(1))
    return found


async def test_the_answer_to_an_offer_with_every_codec_keeps_opus_and_vp8(
    server: SignalingServer,
) -> None:
    _, secret = server.db.add_therapist("dr-codecs")
    therapist = SignalingClient(server.ws_url)
    browser = SignalingClient(server.ws_url)
    media = LocalMedia(ToneTrack(660.0), PatternTrack(160, 120, 10), "synthetic")
    engine = CallEngine(therapist, "therapist", media)
    pc = RTCPeerConnection()
    answers: asyncio.Queue[str] = asyncio.Queue()

    def on_signal(message: RelayedSignal) -> None:
        if isinstance(message.data, SessionDescription) and message.data.kind == "answer":
            answers.put_nowait(message.data.sdp)

    try:
        await therapist.connect()
        await therapist.login("dr-codecs", secret)
        created = await therapist.create_session()
        joined = await therapist.join(session_id=created.session.session_id)
        await engine.start()
        await browser.connect()
        await browser.join(invite=created.invites[0].token)
        browser.signal_received.connect(on_signal)
        # Like a browser: audio and video with every codec aiortc knows (PCMU, PCMA, G722,
        # H264 besides Opus and VP8), and the call's data channels.
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="sendrecv")
        pc.createDataChannel("control")
        await pc.setLocalDescription(await pc.createOffer())
        offered = _codecs(pc.localDescription.sdp)
        assert {"PCMU", "G722"} <= offered["audio"] and "H264" in offered["video"]
        await browser.signal(
            joined.member_id,
            "call-browser1",
            SessionDescription(kind="offer", sdp=pc.localDescription.sdp),
        )
        answer = await asyncio.wait_for(answers.get(), 20)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    finally:
        await pc.close()
        await engine.close()
        await media.aclose()
        await browser.close()
        await therapist.close()
    assert _codecs(answer) == {"audio": {"opus"}, "video": {"VP8", "rtx"}}
