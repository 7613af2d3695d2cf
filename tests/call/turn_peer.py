"""The call through a TURN relay, seen from one side, in its own network namespace.

    python -m tests.call.turn_peer call therapist URL --name dr --secret S [--relay-only]
    python -m tests.call.turn_peer call patient URL --invite TOKEN
    python -m tests.call.turn_peer allocate HOST PORT USERNAME PASSWORD

``call`` joins (the therapist first creates the session, relay only or not), runs the real
``CallEngine`` and reports as JSON lines (``tests.call.peer_process.report``): the ICE policy
the server asked for, the candidates in every offer/answer it received, the selected
candidate pair once connected, and the tone it hears. ``allocate`` asks the TURN server for
one allocation with the given credentials (aioice's TURN client) and reports whether coturn
granted it. TURN credentials are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from typing import Any

import numpy as np
from aioice.turn import create_turn_endpoint

from companion.call.engine import CallEngine
from companion.call.media import LocalMedia
from companion.call.synthetic import TestPatternTrack, ToneTrack
from companion.protocol.messages import RelayedSignal, SessionDescription
from companion.signaling.client import SignalingClient
from tests.call.conftest import PATIENT_HUE, THERAPIST_HUE, CollectingVoice
from tests.call.peer_process import report


def sdp_candidates(sdp: str) -> list[dict[str, str]]:
    """``a=candidate:<foundation> <component> <proto> <prio> <address> <port> typ <type> …``"""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            found.append({"address": parts[4], "typ": parts[parts.index("typ") + 1]})
    return found


def selected_pair(engine: CallEngine) -> dict[str, Any] | None:
    """The nominated candidate pair of the call's (bundled) ICE transport, from aioice."""
    pc = engine.peer_connection
    if pc is None or pc.sctp is None:
        return None
    connection = pc.sctp.transport.transport._connection  # third-party: aioice.Connection
    pair = connection._nominated.get(1)
    # third-party: aioice's nominated pair
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    return {
        "local_type": local.type,
        "local": local.host,
        "remote_type": remote.type,
        "remote": remote.host,
    }


def tone_hz(pcm: np.ndarray, sample_rate: int) -> float:
    """The pitch of a clean tone from its zero crossings (mono, any length ≥ 0.1 s)."""
    signs = np.signbit(pcm.astype(np.float32))
    crossings = int(np.count_nonzero(signs[1:] != signs[:-1]))
    return crossings / 2 / (len(pcm) / sample_rate)


async def call(args: argparse.Namespace) -> int:
    signaling = SignalingClient(args.url)
    await signaling.connect()
    if args.role == "therapist":
        await signaling.login(args.name, args.secret)
        created = await signaling.create_session(relay_only=args.relay_only)
        token = next(i.token for i in created.invites if i.role == "patient")
        report(event="invite", token=token, relay_only=created.session.relay_only)
        await signaling.join(session_id=created.session.session_id)
    else:
        await signaling.join(invite=args.invite)
    joined = signaling.joined
    assert joined is not None
    report(
        event="joined",
        policy=joined.ice_transport_policy,
        turn=any(s.username for s in joined.ice_servers),
    )

    def on_signal(message: RelayedSignal) -> None:
        if isinstance(message.data, SessionDescription):
            sdp = message.data.sdp
            ips = sorted(set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", sdp)))
            report(event="sdp", kind=message.data.kind, candidates=sdp_candidates(sdp), ips=ips)

    signaling.signal_received.connect(on_signal)
    hue, freq = (THERAPIST_HUE, 660.0) if args.role == "therapist" else (PATIENT_HUE, 440.0)
    voice = CollectingVoice()
    media = LocalMedia(ToneTrack(freq), TestPatternTrack(160, 120, 10, hue=hue), "synthetic")
    engine = CallEngine(signaling, args.role, media, voice)
    engine.state_changed.connect(lambda s: report(event="call_state", state=s))
    await engine.start()
    deadline = time.monotonic() + args.seconds
    pair_reported = False
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        if not pair_reported and engine.state == "connected":
            pair = selected_pair(engine)
            if pair is not None:
                report(event="pair", **pair)
                pair_reported = True
        heard = voice.take()
        if len(heard) >= 4800:  # mono float32 (consume_audio); the last 0.5 s for the pitch
            hz = tone_hz(heard[-24_000:], voice.sample_rate)
            report(event="audio", samples=len(heard), hz=round(hz, 1))
    await engine.close()
    await media.aclose()
    await signaling.close()
    return 0


async def allocate(args: argparse.Namespace) -> int:
    try:
        server = (args.host, args.port)
        allocating = create_turn_endpoint(
            asyncio.DatagramProtocol, server, args.username, args.password
        )
        transport, _ = await asyncio.wait_for(allocating, timeout=10)
    except Exception as exc:
        report(event="allocate", ok=False, error=f"{type(exc).__name__}: {exc}")
        return 0
    report(event="allocate", ok=True, relayed=list(transport.get_extra_info("sockname")))
    transport.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    side = modes.add_parser("call")
    side.add_argument("role", choices=["patient", "therapist"])
    side.add_argument("url")
    side.add_argument("--name", default="")
    side.add_argument("--secret", default="")
    side.add_argument("--invite", default="")
    side.add_argument("--relay-only", action="store_true")
    side.add_argument("--seconds", type=float, default=12)
    turn = modes.add_parser("allocate")
    turn.add_argument("host")
    turn.add_argument("port", type=int)
    turn.add_argument("username")
    turn.add_argument("password")
    args = parser.parse_args()
    return asyncio.run(call(args) if args.mode == "call" else allocate(args))


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(main())
