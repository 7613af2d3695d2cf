"""Video gives way first: pause our outgoing video when it starts hurting our voice.

Sans-I/O: ``VideoGovernor.update()`` takes what the remote side reported about our
outgoing audio (loss, round-trip time) and answers whether video should be on. On a
congested uplink (a home connection at 256 kbit/s, say) video would otherwise take the
bandwidth and the therapist would hear broken speech. Video comes back after a quiet
spell; if it brings the trouble back, the next pause lasts longer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GovernorOptions:
    loss_limit: float = 0.03
    """Outgoing audio loss (fraction) that counts as trouble."""
    rtt_rise_ms: float = 250.0
    """A round-trip time this far above the best seen means queues are filling."""
    strikes_to_pause: int = 2
    """Consecutive troubled reports before video pauses (hysteresis against one bad burst)."""
    quiet_to_resume_s: tuple[float, ...] = (15.0, 45.0, 120.0)
    """Clean time needed before video comes back; grows after each relapse."""
    relapse_window_s: float = 30.0
    """Trouble this soon after resuming counts as a relapse."""


class VideoGovernor:
    def __init__(self, options: GovernorOptions | None = None) -> None:
        self.options = options or GovernorOptions()
        self.video_on = True
        self._strikes = 0
        self._best_rtt: float | None = None
        self._clean_since: float | None = None
        self._resumed_at: float | None = None
        self._relapses = 0

    def troubled(self, audio_loss: float, rtt_ms: float | None) -> bool:
        if rtt_ms is not None and rtt_ms > 0:
            self._best_rtt = rtt_ms if self._best_rtt is None else min(self._best_rtt, rtt_ms)
        rising = (
            rtt_ms is not None
            and self._best_rtt is not None
            and rtt_ms > self._best_rtt + self.options.rtt_rise_ms
        )
        return audio_loss > self.options.loss_limit or rising

    def update(self, now: float, audio_loss: float, rtt_ms: float | None) -> bool:
        """Feed one report; returns whether outgoing video should be on."""
        trouble = self.troubled(audio_loss, rtt_ms)
        if self.video_on:
            self._strikes = self._strikes + 1 if trouble else 0
            if self._strikes >= self.options.strikes_to_pause:
                if (
                    self._resumed_at is not None
                    and now - self._resumed_at < self.options.relapse_window_s
                ):
                    self._relapses += 1
                self.video_on, self._strikes, self._clean_since = False, 0, None
        elif trouble:
            self._clean_since = None
        else:
            self._clean_since = self._clean_since if self._clean_since is not None else now
            waits = self.options.quiet_to_resume_s
            if now - self._clean_since >= waits[min(self._relapses, len(waits) - 1)]:
                self.video_on, self._resumed_at = True, now
        return self.video_on
