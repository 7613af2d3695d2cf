"""The video governor's decisions, fed by hand (Sans-I/O)."""

from __future__ import annotations

from companion.call.governor import GovernorOptions, VideoGovernor


def feed(gov: VideoGovernor, start: float, seconds: int, loss: float, rtt: float) -> list[bool]:
    return [gov.update(start + t, loss, rtt) for t in range(seconds)]


def test_one_bad_report_does_not_pause_video() -> None:
    gov = VideoGovernor()
    assert gov.update(0, 0.0, 40)
    assert gov.update(1, 0.2, 40)  # one burst
    assert gov.update(2, 0.0, 40)
    assert gov.video_on


def test_sustained_loss_pauses_then_quiet_resumes() -> None:
    gov = VideoGovernor(GovernorOptions(quiet_to_resume_s=(10.0,)))
    gov.update(0, 0.0, 40)
    assert feed(gov, 1, 2, 0.10, 40) == [True, False]
    assert not any(feed(gov, 3, 10, 0.0, 40))
    assert gov.update(13, 0.0, 40)


def test_rising_round_trip_counts_as_trouble() -> None:
    gov = VideoGovernor()
    gov.update(0, 0.0, 30)
    assert feed(gov, 1, 2, 0.0, 400) == [True, False]


def test_relapse_makes_the_next_pause_longer() -> None:
    gov = VideoGovernor(GovernorOptions(quiet_to_resume_s=(5.0, 20.0)))
    feed(gov, 0, 2, 0.2, 40)
    assert feed(gov, 2, 6, 0.0, 40)[-1]
    assert feed(gov, 8, 2, 0.2, 40) == [True, False]  # trouble right after resuming
    assert not any(feed(gov, 10, 20, 0.0, 40))  # 20 s of quiet needed now, not 5
    assert gov.update(30, 0.0, 40)
