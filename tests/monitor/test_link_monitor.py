"""LinkMonitor with a fake clock: thresholds, hysteresis, no flapping under loss."""

from __future__ import annotations

import random

from companion.monitor.link import LinkMonitor, MonitorOptions
from companion.protocol.messages import LinkStateName


def run(
    monitor: LinkMonitor,
    start: float,
    seconds: float,
    beat: bool,
    lose: float = 0.0,
    seed: int = 1,
    media: bool = False,
    lose_out: float | None = None,
) -> list[tuple[float, LinkStateName]]:
    """Simulate ``seconds`` at 10 ms steps: heartbeats every 250 ms each way, and with
    ``media`` an audio frame every 20 ms each way. Each packet coming in is lost with
    probability ``lose``, each going out with ``lose_out`` (by default ``lose`` too)."""
    lose_out = lose if lose_out is None else lose_out
    rng = random.Random(seed)
    changes = []
    steps = int(seconds * 100)
    seq = acked = int(start * 4)  # ours and theirs keep step; all before ``start`` arrived
    heard_at = start  # when they last decoded our audio
    for i in range(1, steps + 1):
        now = start + i / 100
        if beat and i % 25 == 0:
            seq += 1
            ours_arrived = rng.random() >= lose_out
            if ours_arrived:
                acked = seq
            if rng.random() >= lose:
                heard_s = now - heard_at if media else None
                monitor.heartbeat(now, seq, acked=acked, heard_s=heard_s)
            if ours_arrived and rng.random() >= lose:
                monitor.echo(now)
        if beat and media and i % 2 == 0:
            if rng.random() >= lose_out:
                heard_at = now
            if rng.random() >= lose:
                monitor.evidence(now)
        if i % 10 == 0 and (state := monitor.tick(now)) is not None:
            changes.append((round(now, 2), state))
    return changes


def test_a_steady_link_becomes_connected_and_stays() -> None:
    monitor = LinkMonitor(0.0)
    changes = run(monitor, 0.0, 10.0, beat=True)
    assert [s for _, s in changes] == ["connected"]


def test_a_cut_goes_interrupted_then_lost_within_two_seconds() -> None:
    monitor = LinkMonitor(0.0)
    run(monitor, 0.0, 3.0, beat=True)
    changes = run(monitor, 3.0, 3.0, beat=False)
    assert [s for _, s in changes] == ["interrupted", "lost"]
    lost_at = dict((s, t) for t, s in changes)["lost"]
    assert lost_at - 3.0 <= 2.0


def test_a_short_blip_never_reaches_lost() -> None:
    monitor = LinkMonitor(0.0)
    run(monitor, 0.0, 3.0, beat=True)
    changes = run(monitor, 3.0, 1.1, beat=False) + run(monitor, 4.1, 8.0, beat=True)
    states = [s for _, s in changes]
    assert states[0] == "interrupted" and "lost" not in states
    assert states[-1] == "connected"


def test_recovery_goes_through_recovering() -> None:
    monitor = LinkMonitor(0.0)
    run(monitor, 0.0, 3.0, beat=True)
    run(monitor, 3.0, 5.0, beat=False)
    changes = run(monitor, 8.0, 3.0, beat=True)
    assert [s for _, s in changes] == ["recovering", "connected"]


def test_ten_percent_loss_for_ten_minutes_does_not_flap() -> None:
    for seed in range(3):
        for lose in (0.10, 0.0):  # both ways, or only on the way out
            changes = run(
                LinkMonitor(0.0),
                0.0,
                600.0,
                beat=True,
                lose=lose,
                lose_out=0.10,
                seed=seed,
                media=True,
            )
            assert {s for _, s in changes} <= {"connected", "degraded"}
            assert len(changes) <= 3


def test_our_audio_proves_the_way_out_when_four_heartbeats_in_a_row_are_lost() -> None:
    """At 10 % loss on the way out, four of our heartbeats in a row are lost now and then
    (about once in 40 minutes): on heartbeats alone the link looks interrupted. The other
    side's word on when it last heard our audio fills the gap."""
    for media in (False, True):
        monitor = LinkMonitor(0.0)
        run(monitor, 0.0, 3.0, beat=True, media=media)  # up to heartbeat 12, acknowledged
        changes = []
        heard_at = 3.0
        for i in range(1, 301):
            now = 3.0 + i / 100
            if media and i % 2 == 0:  # audio gets through both ways
                monitor.evidence(now)
                heard_at = now
            if i % 25 == 0:
                seq = 12 + i // 25
                ours_lost = seq <= 16  # our heartbeats 13 to 16 never arrive
                heard_s = now - heard_at if media else None
                monitor.heartbeat(now, seq, acked=12 if ours_lost else seq, heard_s=heard_s)
                if not ours_lost:
                    monitor.echo(now)
            if i % 10 == 0 and (state := monitor.tick(now)) is not None:
                changes.append(state)
        assert changes == ([] if media else ["interrupted", "connected"]), (media, changes)


def test_heartbeats_alone_at_ten_percent_loss_never_say_lost() -> None:
    for seed in range(5):
        changes = run(LinkMonitor(0.0), 0.0, 600.0, beat=True, lose=0.10, seed=seed)
        assert "lost" not in {s for _, s in changes}


def test_heavy_loss_is_degraded_not_lost_and_settles_back() -> None:
    monitor = LinkMonitor(0.0, MonitorOptions())
    run(monitor, 0.0, 3.0, beat=True)
    heavy = run(monitor, 3.0, 20.0, beat=True, lose=0.35, seed=3)
    assert "degraded" in [s for _, s in heavy]
    assert "lost" not in [s for _, s in heavy]
    calm = run(monitor, 23.0, 15.0, beat=True)
    assert calm[-1][1] == "connected"


def test_their_word_on_our_audio_does_not_bring_a_lost_link_back() -> None:
    """The other computer slept; it wakes with a clock that stood still, so its first
    heartbeats say it heard our audio a moment ago. Only acknowledgements of our own
    heartbeats may bring the link back."""
    monitor = LinkMonitor(0.0)
    run(monitor, 0.0, 3.0, beat=True, media=True)
    run(monitor, 3.0, 3.0, beat=False)
    assert monitor.state == "lost"
    for i in range(1, 301):
        now = 6.0 + i / 100
        monitor.evidence(now)
        if i % 25 == 0:
            monitor.heartbeat(now, 100 + i, acked=12, heard_s=0.05)
        monitor.tick(now)
        assert monitor.state == "lost"


def test_a_one_way_link_is_lost() -> None:
    """Their heartbeats and media still arrive, but they stop acknowledging ours."""
    monitor = LinkMonitor(0.0)
    run(monitor, 0.0, 3.0, beat=True)
    changes = []
    for i in range(1, 301):
        now = 3.0 + i / 100
        monitor.evidence(now)
        if i % 25 == 0:
            # Stuck: none of ours gets through, and they last heard us at 3.0.
            monitor.heartbeat(now, 100 + i, acked=12, heard_s=now - 3.0)
        if i % 10 == 0 and (state := monitor.tick(now)) is not None:
            changes.append(state)
    assert changes[-1] == "lost" and "connected" not in changes
