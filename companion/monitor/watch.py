"""``LinkWatch``: runs a ``LinkMonitor`` over a live ``PeerLink`` and heals the link.

It sends a heartbeat every 250 ms on the call's unreliable heartbeat channel, echoes the
other side's (for a round-trip time), counts every decoded remote audio frame as proof of
life (and says in each heartbeat how long ago it last heard one), and re-evaluates the
state every 100 ms; ``state_changed`` tells of each change.
When the link is lost and signaling works again, it asks the link for a fresh peer
connection, with backoff (first try at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from companion.call.control import Heartbeat, HeartbeatEcho
from companion.call.peer import PeerLink
from companion.events import Signal
from companion.listening import sleep_listening
from companion.monitor.link import LinkMonitor, MonitorOptions
from companion.protocol.messages import LinkStateName
from companion.signaling.client import SignalingClient
from companion.tasks import TaskSet

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchOptions:
    monitor: MonitorOptions = field(default_factory=MonitorOptions)
    tick_s: float = 0.1
    restart_after_online_s: float = 0.5
    """Once signaling is back, how long the old connection gets to recover by itself."""
    restart_while_online_s: float = 5.0
    """Lost this long while signaling never dropped: media alone is blocked; start afresh."""
    restart_backoff_s: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
    """Waits between fresh-connection attempts while the link stays lost."""


class LinkWatch:
    def __init__(
        self,
        engine: PeerLink,
        signaling: SignalingClient,
        options: WatchOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.signaling = signaling
        self.options = options or WatchOptions()
        self._clock = clock
        self.monitor = LinkMonitor(clock(), self.options.monitor)
        self.state_changed: Signal[[LinkStateName]] = Signal()
        self.rtt_ms: float | None = None
        self._seq = 0
        self._their_seq = 0
        self._heard_at: float | None = None
        self._tasks = TaskSet()
        self._unsubscribe: list[Callable[[], None]] = []
        self._online_since: float | None = None
        self._restarts = 0
        self._next_restart_at = 0.0
        self._up_once = False
        self._pc_seen: str | None = None
        self._pc_seen_at = 0.0

    @property
    def sent_seq(self) -> int:
        """The sequence number of the last heartbeat sent."""
        return self._seq

    @property
    def heard_seq(self) -> int:
        """The highest heartbeat sequence number heard from the other side."""
        return self._their_seq

    @property
    def state(self) -> LinkStateName:
        return self.monitor.state

    async def start(self) -> None:
        self._unsubscribe = [
            self.engine.heartbeat_received.connect(self._on_heartbeat),
            self.engine.media_received.connect(self._on_media),
            self.engine.media_reached.connect(self._on_media_reached),
            self.engine.control_opened.connect(self._on_new_connection),
            self.signaling.state_changed.connect(self._on_signaling),
        ]
        if self.signaling.state == "online":
            self._online_since = self._clock()
        for loop in (self._beat_loop(), self._tick_loop()):
            self._tasks.spawn(loop)

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        await self._tasks.cancel_all()

    def _on_media(self) -> None:
        now = self._heard_at = self._clock()
        self.monitor.evidence(now)

    def _on_media_reached(self, age_s: float) -> None:
        self.monitor.reached(self._clock(), age_s)

    def _on_heartbeat(self, message: Heartbeat | HeartbeatEcho) -> None:
        now = self._clock()
        if isinstance(message, Heartbeat):
            self._their_seq = max(self._their_seq, message.seq)
            heard_s = None if message.heard_ms is None else message.heard_ms / 1000
            self.monitor.heartbeat(now, message.seq, message.acked, heard_s)
            self.engine.send_heartbeat(
                HeartbeatEcho(type="hb_echo", seq=message.seq, sent_ms=message.sent_ms)
            )
        else:
            self.monitor.echo(now)
            self.rtt_ms = now * 1000 - message.sent_ms

    def _on_new_connection(self) -> None:
        # ``acked`` counts the other side's heartbeats on this connection: after its app
        # restarted (numbering from 1 again) an old high number would prove nothing.
        self._their_seq = 0

    def _made_at(self, now: float) -> float:
        """When this watch first saw the link's current connection (by its ``pc_id``)."""
        if self.engine.pc_id != self._pc_seen:
            self._pc_seen, self._pc_seen_at = self.engine.pc_id, now
        return self._pc_seen_at

    def _on_signaling(self, state: str) -> None:
        self._online_since = self._clock() if state == "online" else None

    async def _beat_loop(self) -> None:
        while True:
            self._seq += 1
            now = self._clock()
            heard_ms = None if self._heard_at is None else round((now - self._heard_at) * 1000, 1)
            self.engine.send_heartbeat(
                Heartbeat(
                    type="hb",
                    seq=self._seq,
                    sent_ms=now * 1000,
                    acked=self._their_seq,
                    heard_ms=heard_ms,
                )
            )
            await asyncio.sleep(self.options.monitor.heartbeat_interval_s)

    async def _tick_loop(self) -> None:
        while True:
            held_up = await sleep_listening(self.options.tick_s, self._clock)
            now = self._clock()
            if held_up:
                self.monitor.not_listening(now, held_up)
            changed = self.monitor.tick(now)
            if changed is not None:
                _log.info("link %s", changed)
                self.state_changed.emit(changed)
                if changed in ("connected", "recovering"):
                    self._restarts = 0
                self._up_once = self._up_once or changed == "connected"
            if self.monitor.state == "lost":
                await self._maybe_restart(now)

    async def _maybe_restart(self, now: float) -> None:
        """Keep the old connection while it may come back by itself (a cut heals in place);
        start afresh when it is dead, or when signaling proves the network works again."""
        online_since = self._online_since
        if self.signaling.state != "online" or online_since is None or now < self._next_restart_at:
            return
        o = self.options
        lost_at = self.monitor.changed_at
        back_after_loss = online_since > lost_at and now - online_since >= o.restart_after_online_s
        media_only = now - lost_at >= o.restart_while_online_s
        dead_pc = self.engine.connection_state in ("failed", "closed", "none")
        if not self._up_once and (
            self.engine.connection_state == "none"
            or (not dead_pc and now - self._made_at(now) < o.restart_while_online_s)
        ):
            # Never up: the link makes its first connection itself when the other side is
            # there (the answerer asks once, after OFFER_GRACE_S), and that connection has
            # restart_while_online_s to come up from when it was made, not from a "lost"
            # that began before the other side was there: counted from that, this watch
            # replaced it as soon as it was made, and again at each backoff step while a
            # loaded computer took longer to connect. The call came late.
            return
        if not (back_after_loss or media_only or dead_pc):
            return
        backoff = o.restart_backoff_s
        self._next_restart_at = now + backoff[min(self._restarts + 1, len(backoff) - 1)]
        self._restarts += 1
        _log.info("link lost: fresh peer connection (attempt %d)", self._restarts)
        await self.engine.restart()
