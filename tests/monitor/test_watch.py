"""``LinkWatch`` over a real server and a real answering engine."""

from __future__ import annotations

import asyncio

from companion.call.control import Heartbeat
from companion.monitor.watch import LinkWatch
from companion.protocol.messages import RelayedSignal
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient
from tests.call.conftest import CallPair, call_pair, make_side  # noqa: F401
from tests.waiting import until


async def test_a_link_never_up_asks_for_one_offer_not_many(server: SignalingServer) -> None:
    """Issue 25 item 2: an answering app already present when the patient joins waits
    OFFER_GRACE_S (1 s) for the offer, then sends one ``restart``; its link watch, whose
    link was never up, does not fire its own restarts on top (that made two offers)."""
    _, secret = server.db.add_therapist("dr-w")
    therapist = await make_side(server.ws_url, "therapist", (170, 110), 660.0)
    await therapist.signaling.login("dr-w", secret)
    created = await therapist.signaling.create_session()
    await therapist.signaling.join(session_id=created.session.session_id)
    await therapist.engine.start()
    watch = LinkWatch(therapist.engine, therapist.signaling)
    await watch.start()
    await asyncio.sleep(2.0)  # the watch sees silence: "lost", with nobody to call yet
    patient = SignalingClient(server.ws_url)  # a client that has not made its offer yet
    await patient.connect()
    restarts: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()

    def on_signal(message: RelayedSignal) -> None:
        if message.data.kind == "restart":
            restarts.append((loop.time(), message.pc_id))

    patient.signal_received.connect(on_signal)
    joined_at = loop.time()
    await patient.join(invite=created.invites[0].token)
    try:
        await asyncio.sleep(6.0)
        assert len(restarts) == 1, restarts
        assert restarts[0][0] - joined_at >= 0.9
        assert restarts[0][1].startswith("call-")
    finally:
        await watch.close()
        await patient.close()
        await therapist.engine.close()
        await therapist.engine.media.aclose()
        await therapist.signaling.close()


async def test_acked_counts_the_other_sides_heartbeats_on_this_connection(
    call_pair: CallPair,  # noqa: F811 - the fixture imported above
) -> None:
    """Issue 25 item 4: after the other side restarted its numbering (a page reload, a
    restarted app) and a fresh connection opened, ``acked`` names its new heartbeats, not
    the old high number from the connection before."""
    patient, therapist = call_pair.patient, call_pair.therapist
    ours = LinkWatch(patient.engine, patient.signaling)
    theirs = LinkWatch(therapist.engine, therapist.signaling)
    await ours.start()
    await theirs.start()
    try:
        await until(lambda: ours.state == "connected", within_s=15)
        theirs._seq = 1000  # fault injection: an hour into the session
        await until(lambda: ours.heard_seq > 1000, within_s=5)
        await theirs.close()  # the therapist's app restarts: numbering from 1 again
        acked: list[int] = []
        theirs = LinkWatch(therapist.engine, therapist.signaling)
        theirs.engine.heartbeat_received.connect(
            lambda m: acked.append(m.acked) if isinstance(m, Heartbeat) else None
        )
        await therapist.engine.restart()
        await theirs.start()
        await until(lambda: len(acked) >= 12, within_s=15)
        assert acked[-1] <= theirs.sent_seq  # what it sent on this numbering, not before
    finally:
        await ours.close()
        await theirs.close()
