"""``HomeLink``: the patient's and the support person's apps, directly over the home network.

Opened at session start through the signaling server, it then needs no server and no
internet: host candidates only, so it stays inside the home. Alerts, check-ins and link
states travel over it as well as through the server, so the support person still hears
when the home's internet is down. Receivers drop the second copy by event id.
"""

from __future__ import annotations

from companion.call.peer import PeerLink
from companion.protocol.messages import Role
from companion.signaling.client import SignalingClient


class HomeLink(PeerLink):
    link_name = "home"

    def __init__(self, signaling: SignalingClient, role: Role) -> None:
        if role not in ("patient", "support"):
            raise ValueError("the home link joins the patient and the support person")
        peer_role: Role = "support" if role == "patient" else "patient"
        super().__init__(
            signaling, role, peer_role, offerer=role == "patient", use_ice_servers=False
        )
