"""A UDP relay between two real aiortc peers that delays, jitters, reorders and drops.

netem is not available here, so the impairment is made in user space: each side is told
(through its peer's SDP, rewritten as it passes the signaling client) only the relay's
address for the other, like a NAT. Every packet then crosses the relay, where the ones
heading to one chosen side (``toward``) get a delay drawn from ``base + U(0, jitter)``
(which reorders packets once the jitter passes their spacing), a random loss, and a
blackout window. The relay listens on 127.0.0.1 and forwards to the host candidates the
peers gathered on this machine.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from companion.protocol.messages import SessionDescription
from companion.signaling.client import SignalingClient

_CANDIDATE = re.compile(r"^a=candidate:\S+ 1 udp \d+ (\d+\.\d+\.\d+\.\d+) (\d+) typ host", re.M)


@dataclass
class Impairment:
    base_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    blackout: tuple[float, float] | None = None
    """(start, end) in ``time.monotonic()``: everything toward the side is dropped."""
    data_blackout: tuple[float, float] | None = None
    """(start, end): the data channels' packets (DTLS records) toward the side are dropped,
    the media's (SRTP and SRTCP) pass: a data channel held up while the call flows."""


class _Port(asyncio.DatagramProtocol):
    """Reaches one side (``target``) for whoever writes to it, and answers back."""

    def __init__(self, relay: ImpairedRelay, side: str) -> None:
        self.relay = relay
        self.side = side
        self.target: tuple[str, int] | None = None
        self.peer: tuple[str, int] | None = None
        self.transport: Any = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.target is None:
            return
        if addr == self.target:
            if self.peer is not None:
                self.relay.forward(self, data, self.peer)
        else:
            self.peer = addr
            self.relay.forward(self, data, self.target)


class ImpairedRelay:
    def __init__(self, toward: str, seed: int = 7) -> None:
        self.toward = toward
        """The side whose incoming packets are impaired."""
        self.impairment = Impairment()
        self.forwarded = 0
        self.dropped = 0
        self.reordered = 0
        """Impaired packets scheduled to arrive before one sent earlier."""
        self._latest_due = 0.0
        self._rng = random.Random(seed)
        self._ports: dict[str, _Port] = {}
        self._addresses: dict[str, tuple[str, int]] = {}

    async def start(self, sides: tuple[str, str]) -> None:
        loop = asyncio.get_running_loop()
        for side in sides:
            transport, port = await loop.create_datagram_endpoint(
                lambda side=side: _Port(self, side),  # type: ignore[misc]
                local_addr=("127.0.0.1", 0),
            )
            port.transport = transport
            self._ports[side] = port

    def close(self) -> None:
        for port in self._ports.values():
            if port.transport is not None:
                port.transport.close()

    def forward(self, port: _Port, data: bytes, to: tuple[str, int]) -> None:
        assert port.transport is not None
        if to != self._addresses.get(self.toward):
            port.transport.sendto(data, to)
            self.forwarded += 1
            return
        imp = self.impairment
        now = time.monotonic()
        dtls = 19 < data[0] < 64  # a DTLS record (RFC 7983): the data channels' SCTP
        if (
            (imp.blackout and imp.blackout[0] <= now < imp.blackout[1])
            or (dtls and imp.data_blackout and imp.data_blackout[0] <= now < imp.data_blackout[1])
            or self._rng.random() < imp.loss
        ):
            self.dropped += 1
            return
        delay = imp.base_s + self._rng.uniform(0.0, imp.jitter_s)
        self.forwarded += 1
        if now + delay < self._latest_due:
            self.reordered += 1
        self._latest_due = max(self._latest_due, now + delay)
        if delay <= 0:
            port.transport.sendto(data, to)
        else:
            asyncio.get_running_loop().call_later(delay, port.transport.sendto, data, to)

    def rewrite(self, side: str, sdp: str) -> str:
        """``side``'s SDP as its peer should see it: one candidate, the relay's port."""
        match = _CANDIDATE.search(sdp)
        assert match is not None, "no IPv4 host candidate in the SDP"
        address = (match.group(1), int(match.group(2)))
        self._addresses[side] = address
        port = self._ports[side]
        port.target = address
        assert port.transport is not None
        relay_port = port.transport.get_extra_info("sockname")[1]
        lines = [line for line in sdp.split("\r\n") if not line.startswith("a=candidate:")]
        out: list[str] = []
        for line in lines:
            if line == "a=end-of-candidates":
                out.append(f"a=candidate:relay 1 udp 2130706431 127.0.0.1 {relay_port} typ host")
            out.append(line)
        return "\r\n".join(out)

    def route(self, side: str, signaling: SignalingClient) -> None:
        """Rewrite every session description ``side`` sends through ``signaling``."""
        send = signaling.signal

        async def signal(to: str, pc_id: str, data: Any) -> None:
            if isinstance(data, SessionDescription):
                data = SessionDescription(kind=data.kind, sdp=self.rewrite(side, data.sdp))
            await send(to, pc_id, data)

        signaling.signal = signal  # type: ignore[method-assign]
