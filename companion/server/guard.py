"""What one client address may hold and spend, enforced below aiohttp.

Every TCP connection passes through ``GuardedProtocol`` before aiohttp sees it: an address
over its share of connections (or opening them too fast) is refused at once, and a
connection that has not become a WebSocket within ``handshake_timeout_s`` is closed (a
slowloris holds file descriptors with requests it never finishes). Per address, the
messages and bytes all its connections send draw from shared buckets: unauthenticated
connections share a small base allowance, and each seated member adds its own, so a
clinic behind one NAT address is not throttled like a lone attacker.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from companion.server.ratelimit import Clock, RateLimitedLog, TokenBucket
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)


FD_HEADROOM = 160
"""File descriptors kept free of client connections: asyncio accepts up to 100 at a time
before any is refused, and a failed accept (EMFILE) stops all accepting for a second."""


def file_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1_048_576 if soft == resource.RLIM_INFINITY else soft


def default_max_connections_per_address() -> int:
    """An eighth of this process's file descriptors (at least 64): one address can never
    starve the others, whatever ``LimitNOFILE`` the service was given."""
    return max(64, file_limit() // 8)


@dataclass(frozen=True)
class AddressLimits:
    max_connections: int = 0
    """Open connections per address not (yet) seated as a member or signed in as a
    therapist; 0: an eighth of the file-descriptor limit. Seated ones do not count, so
    a clinic behind one NAT address can hold all its members."""
    handshake_timeout_s: float = 10.0
    """From TCP accept to a finished WebSocket upgrade; slower connections are closed."""
    connects_per_s: float = 20.0
    connects_burst: float = 3_000.0
    """New connections per address: a whole clinic resuming at once fits in the burst."""
    messages_per_s: float = 200.0
    messages_burst: float = 4_000.0
    bytes_per_s: float = 256 * 1024
    bytes_burst: float = 4 * 1024 * 1024
    """What the address's connections send together (pings included) before any member
    is seated; reading from them slows down beyond it."""
    seated_messages_per_s: float = 10.0
    seated_bytes_per_s: float = 32 * 1024
    """Added to the address's allowance for each member or therapist seated from it."""
    policy_close_cost: float = 100.0
    """New connections an address forfeits each time one of its connections is closed for
    flooding (1008): a flooder reconnecting at once is slowed to a trickle, while a whole
    clinic behind one address still has most of its burst."""
    max_outbox_bytes: int = 64 * 1024 * 1024
    """Bytes waiting, unread, for all the address's connections together."""
    max_tracked: int = 20_000
    """Addresses remembered (about 1 kB each) before the quiet ones are forgotten."""
    trusted_proxies: frozenset[str] = frozenset()
    """Reverse proxies in front of the node (``--trusted-proxy``): their connections are
    not limited as one address; each WebSocket counts against the client address the
    proxy names (the last ``X-Forwarded-For`` entry) instead."""

    def resolved_max_connections(self) -> int:
        return self.max_connections or default_max_connections_per_address()


def address_key(ip: str) -> str:
    """IPv4 addresses as they are; IPv6 by /64 (one home or host gets a whole /64)."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return ip


class Address:
    """One client address's connections and allowances."""

    def __init__(self, key: str, limits: AddressLimits, clock: Clock) -> None:
        self.key = key
        self.limits = limits
        self.connections = 0
        self.seated = 0
        self.outbox_bytes = 0
        self.throttled = 0
        """Frames after which reading had to wait (for figures and tests)."""
        self.connects = TokenBucket(limits.connects_per_s, limits.connects_burst, clock)
        self.messages = TokenBucket(limits.messages_per_s, limits.messages_burst, clock)
        self.bytes = TokenBucket(limits.bytes_per_s, limits.bytes_burst, clock)

    def seat(self, delta: int) -> None:
        """A member was seated (+1) or unseated (-1) from here: its allowance follows."""
        self.seated = max(0, self.seated + delta)
        limits = self.limits
        self.messages.rate = limits.messages_per_s + self.seated * limits.seated_messages_per_s
        self.bytes.rate = limits.bytes_per_s + self.seated * limits.seated_bytes_per_s

    def charge(self, nbytes: int) -> float:
        """One frame of ``nbytes`` received: seconds to wait before reading more."""
        wait = max(self.messages.charge(1.0), self.bytes.charge(float(nbytes)))
        self.throttled += wait > 0
        return wait

    def penalize(self) -> None:
        """One of its connections flooded: it pays in new connections."""
        self.connects.charge(self.limits.policy_close_cost)

    @property
    def quiet(self) -> bool:
        return self.connections == 0 and self.connects.full and self.messages.full


class AddressBook:
    def __init__(
        self, limits: AddressLimits, log: RateLimitedLog, clock: Clock = time.monotonic
    ) -> None:
        self.limits = limits
        self.max_connections = limits.resolved_max_connections()
        self.max_open = max(64, file_limit() - FD_HEADROOM)
        """All connections together, so accepting never runs out of file descriptors."""
        self.open_connections = 0
        self._log = log
        self._clock = clock
        self._addresses: dict[str, Address] = {}
        self.refused = 0
        self.timed_out = 0

    def get(self, ip: str) -> Address:
        key = address_key(ip)
        address = self._addresses.get(key)
        if address is None:
            if len(self._addresses) >= self.limits.max_tracked:
                self._forget_quiet()
            address = self._addresses[key] = Address(key, self.limits, self._clock)
        return address

    def _forget_quiet(self) -> None:
        for key, address in list(self._addresses.items()):
            if address.quiet:
                del self._addresses[key]

    def open(self, ip: str) -> Address | None:
        """A connection from ``ip``: its address, or None when it must be refused."""
        address = self.get(ip)
        if self.open_connections >= self.max_open:
            self.refused += 1
            self._log.warning("full", "connections refused: the node is at its file limit")
            return None
        if address.key in self.limits.trusted_proxies:
            address.connections += 1  # counted for the record; limited per client instead
            self.open_connections += 1
            return address
        unseated = address.connections - address.seated
        if unseated >= self.max_connections or not address.connects.take():
            self.refused += 1
            self._log.warning("refused", "connections refused from an address over its limits")
            return None
        address.connections += 1
        self.open_connections += 1
        return address

    def close(self, address: Address) -> None:
        address.connections -= 1
        self.open_connections -= 1

    def forwarded_for(self, proxy: Address, header: str | None) -> str | None:
        """The client's IP when ``proxy`` is trusted and named one (the entry it added
        last: anything before it came from the client and proves nothing)."""
        if proxy.key not in self.limits.trusted_proxies or not header:
            return None
        last = header.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return None

    def __len__(self) -> int:
        return len(self._addresses)


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the address book and the handshake
    deadline. Everything else passes straight through."""

    def __init__(
        self,
        inner: Callable[[], asyncio.Protocol],
        book: AddressBook,
        guarded: dict[asyncio.BaseTransport, GuardedProtocol],
        address: Address,
    ) -> None:
        self._make_inner = inner
        self._book = book
        self._guarded = guarded
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self.address = address
        """Opened in the book by the listener; closed when the connection is lost."""
        self.made = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.made = True
        self._transport = transport
        self._guarded[transport] = self
        self._deadline = asyncio.get_running_loop().call_later(
            self._book.limits.handshake_timeout_s, self._too_slow
        )
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def upgraded(self) -> None:
        """The connection is a WebSocket now: its own limits take over."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            self._book.timed_out += 1
            self._book._log.warning("slow", "connections closed: no WebSocket upgrade in time")
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._transport is not None:
            self._guarded.pop(self._transport, None)
        self._book.close(self.address)
        if self._inner is not None:
            self._inner.connection_lost(exc)


ACCEPT_BATCH = 64
"""Connections accepted per wake-up: a flood of them cannot starve the event loop, nor
take many file descriptors before the first is refused."""


class Listener:
    """The node's listening socket, accepted by hand: a connection the address book
    refuses is closed straight after ``accept()``, before asyncio builds a transport and
    protocol for it (the cheapest refusal there is), and running out of file descriptors
    pauses accepting for a moment, with one line in the log, not a traceback per try."""

    def __init__(
        self,
        sock: socket.socket,
        book: AddressBook,
        protocol: Callable[[Address], GuardedProtocol],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.sock = sock
        self._book = book
        self._protocol = protocol
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self._pending = TaskSet()
        self._paused: asyncio.TimerHandle | None = None
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    @classmethod
    def bind(
        cls,
        host: str,
        port: int,
        book: AddressBook,
        protocol: Callable[[Address], GuardedProtocol],
        ssl_context: ssl.SSLContext | None,
    ) -> Listener:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family, backlog=1024)
        return cls(sock, book, protocol, ssl_context)

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self._book._log.warning("accept", "accepting paused: out of file descriptors")
                self._loop.remove_reader(self.sock.fileno())
                self._paused = self._loop.call_later(0.1, self._resume)
                return
            address = self._book.open(str(peer[0]))
            if address is None:
                conn.close()
                continue
            self._pending.add(self._loop.create_task(self._serve(conn, address)))

    def _resume(self) -> None:
        self._paused = None
        self._loop.add_reader(self.sock.fileno(), self._accept)

    async def _serve(self, conn: socket.socket, address: Address) -> None:
        protocol = self._protocol(address)
        try:
            await self._loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=self._ssl,
                ssl_handshake_timeout=self._book.limits.handshake_timeout_s if self._ssl else None,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()  # a TLS handshake that failed or never finished
        finally:
            if not protocol.made:
                self._book.close(address)

    async def close(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
        else:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        await self._pending.cancel_all()
