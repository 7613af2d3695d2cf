"""The limits' bookkeeping on a fake clock: per-address allowances, the sign-in limiter,
the rate-limited log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from companion.protocol.errors import ErrorCode, ProtocolError
from companion.server.guard import AddressBook, AddressLimits, address_key
from companion.server.ratelimit import LoginLimiter, LoginLimits, RateLimitedLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_address_shares_one_allowance_and_seated_members_widen_it() -> None:
    clock = FakeClock()
    limits = AddressLimits(
        messages_per_s=10,
        messages_burst=20,
        bytes_per_s=1e9,
        bytes_burst=1e9,
        seated_messages_per_s=5,
    )
    book = AddressBook(limits, RateLimitedLog(logging.getLogger("test")), clock)
    address = book.get("203.0.113.7")
    assert all(address.charge(10) == 0 for _ in range(20))  # the burst, any connection
    assert address.charge(10) == pytest.approx(0.1)  # then reading waits: 10 a second
    address.seat(+10)  # ten members seated from here: 10 + 10 x 5 a second
    clock.now += 0.2
    assert address.messages.available == pytest.approx(-1.0 + 0.2 * 60)
    address.seat(-10)
    assert address.messages.rate == 10


def test_connections_per_address_and_how_fast_they_open() -> None:
    clock = FakeClock()
    limits = AddressLimits(max_connections=3, connects_per_s=1, connects_burst=5)
    book = AddressBook(limits, RateLimitedLog(logging.getLogger("test")), clock)
    opened = [book.open("198.51.100.1") for _ in range(4)]
    assert [a is not None for a in opened] == [True, True, True, False]
    assert book.open("198.51.100.2") is not None  # another address is not affected
    for address in opened[:3]:
        assert address is not None
        book.close(address)
    # Three connects of the burst of five were used (the refused one took none).
    assert book.open("198.51.100.1") is not None
    assert book.open("198.51.100.1") is not None
    assert book.open("198.51.100.1") is None  # too fast, though under the cap
    clock.now += 1.0
    assert book.open("198.51.100.1") is not None


def test_seated_members_do_not_count_against_an_addresss_connections() -> None:
    """A clinic's NAT: every member seated from one address, and a storm of them
    reconnecting, while an attacker's unseated connections stay capped."""
    book = AddressBook(AddressLimits(max_connections=3), RateLimitedLog(logging.getLogger("t")))
    assert all(book.open("192.0.2.8") is not None for _ in range(3))
    assert book.open("192.0.2.8") is None
    book.get("192.0.2.8").seat(+3)  # the three took their places
    assert all(book.open("192.0.2.8") is not None for _ in range(3))
    assert book.open("192.0.2.8") is None


def test_ipv6_clients_are_one_address_per_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"


async def test_sign_in_limiter_refuses_before_hashing_and_recovers() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(LoginLimits(failures_burst=3, failures_per_min=6), clock)
    for _ in range(3):
        async with limiter.attempt("192.0.2.1", "dr-a") as wrong:
            wrong()
    with pytest.raises(ProtocolError) as refused:
        async with limiter.attempt("192.0.2.1", "dr-b"):
            pytest.fail("no hashing once the address is out of attempts")
    assert refused.value.code is ErrorCode.TOO_MANY_ATTEMPTS and not refused.value.fatal
    with pytest.raises(ProtocolError):  # the account too, from anywhere
        async with limiter.attempt("192.0.2.99", "DR-A"):
            pass
    async with limiter.attempt("192.0.2.99", "dr-c"):  # others are untouched
        pass
    clock.now += 10.0  # one attempt back (6 a minute)
    async with limiter.attempt("192.0.2.1", "dr-b"):
        pass  # a right secret costs nothing


async def test_sign_ins_of_one_address_run_one_at_a_time() -> None:
    limiter = LoginLimiter()
    running, most = 0, 0

    async def attempt(address: str, account: str) -> None:
        nonlocal running, most
        async with limiter.attempt(address, account):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(attempt("192.0.2.1", f"dr-{n}") for n in range(5)))
    assert most == 1
    await asyncio.gather(*(attempt(f"192.0.2.{n}", f"dr-{n}") for n in range(5)))
    assert most == 5  # different addresses and accounts do not wait for each other


def test_rate_limited_log_writes_one_line_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = RateLimitedLog(logging.getLogger("test.trouble"), every_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            log.warning("slow", "connections closed: too slow")
        log.warning("refused", "connections refused")
        clock.now += 10.0
        log.warning("slow", "connections closed: too slow")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "connections closed: too slow",
        "connections refused",
        "connections closed: too slow (and 999 more in the last 10 s)",
    ]


def test_unread_bytes_are_capped_per_address_too() -> None:
    """Two connections of one address, each under its own cap, share the address's."""
    from companion.server.connection import ClientConnection, ConnectionLimits

    limits = AddressLimits(max_outbox_bytes=100_000)
    address = AddressBook(limits, RateLimitedLog(logging.getLogger("test"))).get("192.0.2.5")
    own = ConnectionLimits(max_outbox_bytes=80_000)
    first, second = (
        ClientConnection(None, None, name, own, address)  # type: ignore[arg-type]
        for name in ("first", "second")
    )
    first.send("x" * 60_000)
    second.send("x" * 30_000)
    assert address.outbox_bytes == 90_000 and not second.closed.is_set()
    second.send("x" * 20_000)  # 50 kB of its own, 110 kB for the address
    assert second.closed.is_set() and second.close_reason == "slow_consumer"
    first.release()
    second.release()
    assert address.outbox_bytes == 0


def test_an_address_that_floods_pays_in_new_connections() -> None:
    clock = FakeClock()
    limits = AddressLimits(connects_burst=150, connects_per_s=20, policy_close_cost=100)
    book = AddressBook(limits, RateLimitedLog(logging.getLogger("test")), clock)
    first = book.open("192.0.2.9")
    assert first is not None
    first.penalize()  # closed with 1008
    second = book.open("192.0.2.9")
    assert second is not None
    second.penalize()
    assert book.open("192.0.2.9") is None  # reconnecting at once: refused
    clock.now += 3.0  # 20 a second come back
    assert book.open("192.0.2.9") is not None
