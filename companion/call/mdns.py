"""Browsers' host candidates: ``<uuid>.local`` names, resolved over the home network.

A browser hides its host addresses behind multicast-DNS names (RFC 8828 mode 2, the
draft-ietf-mmusic-mdns-ice-candidates names) and answers for them on the local network.
aioice asks for such names, but cannot read Chromium's answers: they carry an NSEC record
whose next-domain name is compressed, which mDNS allows (RFC 6762 §18.14) and dnspython's
strict parser refuses, so the whole answer is dropped and the name is never resolved (the
link then lives only if the browser's own checks reach us first, as peer-reflexive
candidates). So the names in a description are resolved here, reading what can be read of
each answer, and aiortc gets the addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket

import dns.exception
import dns.message
import dns.name
import dns.rdatatype

_log = logging.getLogger(__name__)

MDNS_GROUP = ("224.0.0.251", 5353)
RESOLVE_WITHIN_S = 1.0
_LOCAL_CANDIDATE = re.compile(
    r"^(a=candidate:\S+ \d+ \S+ \d+ )([0-9A-Za-z-]{1,63}\.local)( \d+ typ )", re.MULTILINE
)


class _Answers(asyncio.DatagramProtocol):
    def __init__(self, names: set[str]) -> None:
        self.wanted = {dns.name.from_text(name): name for name in names}
        self.found: dict[str, str] = {}
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:  # the answer section even when a later record does not parse
            message = dns.message.from_wire(data, continue_on_error=True)
        except dns.exception.DNSException:
            return
        for rrset in message.answer:
            name = self.wanted.get(rrset.name)
            if name is None or rrset.rdtype != dns.rdatatype.A:
                continue
            for rdata in rrset:
                raw = rdata.to_generic().data  # class IN with mDNS's cache-flush bit
                if len(raw) == 4:
                    self.found[name] = socket.inet_ntoa(raw)
        if len(self.found) == len(self.wanted) and not self.complete.done():
            self.complete.set_result(None)


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # aioice binds it too
    try:
        sock.bind(("", MDNS_GROUP[1]))
        group = socket.inet_aton(MDNS_GROUP[0]) + socket.inet_aton("0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
    except OSError:
        sock.close()
        raise
    return sock


async def resolve(names: set[str], within_s: float = RESOLVE_WITHIN_S) -> dict[str, str]:
    """The IPv4 address of each ``.local`` name that answered within ``within_s``."""
    if not names:
        return {}
    try:
        sock = _socket()
    except OSError as exc:  # no multicast on this network
        _log.info("mDNS names cannot be asked for here: %s", exc)
        return {}
    loop = asyncio.get_running_loop()
    transport, answers = await loop.create_datagram_endpoint(lambda: _Answers(names), sock=sock)
    try:
        for name in names:
            query = dns.message.make_query(name, dns.rdatatype.A)
            query.id, query.flags = 0, 0
            transport.sendto(query.to_wire(), MDNS_GROUP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(answers.complete), within_s)
        return dict(answers.found)
    finally:
        transport.close()


async def resolve_local_names(sdp: str, within_s: float = RESOLVE_WITHIN_S) -> str:
    """``sdp`` with each ``<name>.local`` host candidate that answered given by address
    (the others are left as they are, for aioice to try)."""
    names = {m.group(2) for m in _LOCAL_CANDIDATE.finditer(sdp)}
    if not names:
        return sdp
    found = await resolve(names, within_s)
    _log.info("resolved %d of %d .local candidate names", len(found), len(names))
    return _LOCAL_CANDIDATE.sub(
        lambda m: m.group(1) + found.get(m.group(2), m.group(2)) + m.group(3), sdp
    )
