"""The patient's and support person's direct link: data only, host candidates only."""

from __future__ import annotations

import uuid

from companion.call.control import Heartbeat, HeartbeatEcho
from companion.call.homelink import HomeLink
from companion.protocol.messages import AlertRaised, EventBody, Role
from companion.server.app import SignalingServer
from companion.signaling.client import SignalingClient
from tests.waiting import until


async def test_home_link_carries_alerts_and_heartbeats(server: SignalingServer) -> None:
    _, secret = server.db.add_therapist("dr-home")
    therapist, patient, support = (SignalingClient(server.ws_url) for _ in range(3))
    links: list[HomeLink] = []
    try:
        await therapist.connect()
        await therapist.login("dr-home", secret)
        created = await therapist.create_session()
        invites = {i.role: i for i in created.invites}
        await support.connect()
        await support.join(invite=invites["support"].token)
        await patient.connect()
        await patient.join(invite=invites["patient"].token)
        patient_link, support_link = HomeLink(patient, "patient"), HomeLink(support, "support")
        links = [patient_link, support_link]
        for link in links:
            await link.start()
        await until(lambda: patient_link.state == "connected" == support_link.state)

        got: list[tuple[str, EventBody, Role]] = []
        beats: list[Heartbeat | HeartbeatEcho] = []
        support_link.event_received.connect(lambda *args: got.append(args))
        support_link.heartbeat_received.connect(beats.append)
        alert = AlertRaised(kind="alert.raised", alert_id="a1", reason="help", urgent=True)
        event_id = str(uuid.uuid4())
        # "connected" is the connection; the control channel opens a moment after (its
        # open is acknowledged over it). Until then the link says an event did not go,
        # and the app keeps it for the channel (tests/monitor/test_guardian.py,
        # test_an_alert_published_before_the_home_link_opens_goes_over_it_when_it_opens).
        await until(lambda: patient_link.control_open)
        assert patient_link.send_event(event_id, alert)
        # Heartbeats are never retransmitted: one may be lost, so they go until one is heard.
        beat = Heartbeat(type="hb", seq=1, sent_ms=0)
        await until(lambda: patient_link.send_heartbeat(beat) and bool(beats))
        await until(lambda: bool(got))
        assert got[0] == (event_id, alert, "patient")

        # Only host candidates: the link stays inside the home.
        pc = patient_link.peer_connection
        assert pc is not None
        candidates = [
            line for line in pc.localDescription.sdp.splitlines() if "a=candidate" in line
        ]
        assert candidates and all(" typ host" in line for line in candidates)
    finally:
        for link in links:
            await link.close()
        for client in (therapist, patient, support):
            await client.close()
