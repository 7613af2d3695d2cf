"""``LinkMonitor``: the state of one peer link, from evidence that it is alive.

Sans-I/O: feed it heartbeats (sequence numbered, every 250 ms each way) and other proof of
life (decoded remote audio frames), call ``tick(now)`` often (every 100 ms), and it says
when the state changes. A link must live *both ways*: the other side's heartbeats and media
prove the way in; their acknowledgement of ours (and the echoes), their word on when
they last heard our audio, and their receivers' reports on our media prove the way out. A
link that only carries one way is as bad as none — the therapist would not hear the
patient. Thresholds with hysteresis keep a lossy but living link from flapping: a 10 %
lossy link with audio still proves itself alive, both ways, dozens of times a second.

    connected --(loss high)--> degraded --(loss low again)--> connected
    connected/degraded --(silence 1 s)--> interrupted --(evidence)--> back
    interrupted --(silence 1.6 s)--> lost --(evidence)--> recovering --(steady 1 s)--> connected
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from companion.listening import heard_after_stall
from companion.protocol.messages import LinkStateName


@dataclass(frozen=True)
class MonitorOptions:
    heartbeat_interval_s: float = 0.25
    """How often each end sends a heartbeat on the unreliable heartbeat channel."""
    interrupted_after_s: float = 1.0
    """Silence (no heartbeat, no media) after which the link is *interrupted*: four
    heartbeats, so a few lost in a row on a lossy link do not make it look broken."""
    lost_after_s: float = 1.6
    """Silence after which the therapist is no longer with the patient: *lost*."""
    steady_for_s: float = 1.0
    """Evidence without a gap this long before *recovering* becomes *connected*."""
    steady_gap_s: float = 0.5
    """A gap longer than this during recovery restarts the steady count."""
    loss_window_s: float = 10.0
    degraded_loss: float = 0.25
    """Heartbeat loss over the window that makes a link *degraded*…"""
    healthy_loss: float = 0.10
    """…and the loss it must fall below to be *connected* again (hysteresis)."""


class LinkMonitor:
    def __init__(self, now: float, options: MonitorOptions | None = None) -> None:
        self.options = options or MonitorOptions()
        self.state: LinkStateName = "recovering"
        self.changed_at = now
        self._last_in = now
        self._last_out = now
        self._acked = 0
        self._steady_since: float | None = now
        self._beats: deque[tuple[float, int]] = deque()  # (arrival time, seq)

    # -- evidence

    @property
    def _last_evidence(self) -> float:
        return min(self._last_in, self._last_out)

    def _note(self, now: float, inbound: bool) -> None:
        before = self._last_evidence
        if inbound:
            self._last_in = max(self._last_in, now)
        else:
            self._last_out = max(self._last_out, now)
        if now - before > self.options.steady_gap_s and self._last_evidence > before:
            self._steady_since = now

    def not_listening(self, now: float, late_s: float) -> None:
        """This side was held up for ``late_s`` (its loop did not run): the other side's
        frames may be waiting unread, so that time is not its silence (as on the signaling
        connection, ``companion.listening``). A link that really died meanwhile is found
        that much later, once this side listens again."""
        self._last_in = heard_after_stall(self._last_in, late_s, now)
        self._last_out = heard_after_stall(self._last_out, late_s, now)

    def evidence(self, now: float) -> None:
        """Proof the way *in* works that is not a heartbeat (a decoded remote audio frame)."""
        self._note(now, inbound=True)

    def echo(self, now: float) -> None:
        """Our heartbeat came back: the way *out* works."""
        self._note(now, inbound=False)

    def reached(self, now: float, age_s: float) -> None:
        """The other side's receiver report says it has our media sent ``age_s`` ago (on
        our own clock): the way *out* works, whatever holds the data channel back."""
        self._note(now - age_s, inbound=False)

    def heartbeat(self, now: float, seq: int, acked: int = 0, heard_s: float | None = None) -> None:
        """The other side's heartbeat ``seq``, saying it has ours up to ``acked`` and last
        heard our audio ``heard_s`` seconds ago."""
        self._note(now, inbound=True)
        if acked > self._acked:
            self._acked = acked
            self._note(now, inbound=False)
        if heard_s is not None and self.state != "lost":
            # At 10 % loss, four of our heartbeats in a row are lost now and then; our
            # audio, 50 frames a second, still proves the way out in between. It only keeps
            # a living link alive: an age is told by the other side's clock, which a
            # suspended computer stops, so only our own heartbeats, acknowledged, bring a
            # lost link back.
            self._note(now - heard_s, inbound=False)
        self._beats.append((now, seq))

    def heartbeat_loss(self, now: float) -> float:
        """Fraction of the heartbeats sent in the window that did not arrive."""
        horizon = now - self.options.loss_window_s
        while self._beats and self._beats[0][0] < horizon:
            self._beats.popleft()
        if len(self._beats) < 2:
            return 0.0
        seqs = [seq for _, seq in self._beats]
        expected = max(seqs) - min(seqs) + 1
        return max(0.0, 1.0 - len(set(seqs)) / expected)

    # -- decisions

    def silence(self, now: float) -> float:
        return now - self._last_evidence

    def tick(self, now: float) -> LinkStateName | None:
        """Re-evaluate; returns the new state when it changed, else None."""
        new = self._next_state(now)
        if new == self.state:
            return None
        self.state, self.changed_at = new, now
        if new == "recovering":
            self._steady_since = now
            # The outage's missing heartbeats are not loss on the link that came back.
            self._beats.clear()
        return new

    def _next_state(self, now: float) -> LinkStateName:
        o = self.options
        silent = self.silence(now)
        state = self.state
        if state in ("connected", "degraded", "interrupted"):
            if silent >= o.lost_after_s:
                return "lost"
            if silent >= o.interrupted_after_s:
                return "interrupted"
            loss = self.heartbeat_loss(now)
            if state == "interrupted":
                return "degraded" if loss > o.degraded_loss else "connected"
            if state == "connected" and loss > o.degraded_loss:
                return "degraded"
            if state == "degraded" and loss < o.healthy_loss:
                return "connected"
            return state
        if state == "lost":
            return "recovering" if silent < o.steady_gap_s else "lost"
        # recovering
        if silent >= o.lost_after_s:
            return "lost"
        steady = self._steady_since is not None and now - self._steady_since >= o.steady_for_s
        return "connected" if steady and silent < o.steady_gap_s else "recovering"
