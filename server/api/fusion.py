"""Temporal fusion of the dates read in a camera stream's recent frames. Pure logic, no I/O.

The rule: the last ``window`` processed frames vote, each for the date it read (a processed frame
that read no date does not vote, but still pushes older votes out of the window; frames that failed
or were skipped never enter it).
The stream's best date is the date with the most votes. On a tie the date that is already the
answer stays (hysteresis), so one misread frame can neither flip a stable answer nor make it
flicker between two dates; with no answer yet, the tie goes to the date seen most recently.
``agreeing_frames`` is that date's vote count, and the ParsedDate reported is the most
confident reading of it within the window.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from pipeline import DateFinding

__all__ = ["FusedDate", "StreamFusion"]


@dataclass(frozen=True, slots=True)
class FusedDate:
    """A stream's answer: the date its recent frames agree on and how many of them do."""

    finding: DateFinding
    agreeing_frames: int


class StreamFusion:
    """Votes over one stream's recent readings.

    Args:
        window: how many recent processed frames vote.
    """

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._readings: deque[DateFinding | None] = deque(maxlen=window)
        self._current: str | None = None

    def add(self, finding: DateFinding | None) -> FusedDate | None:
        """Adds one processed frame's best date (None: it read none); returns the stream's answer."""
        self._readings.append(finding)
        votes = Counter(f.date.isoformat() for f in self._readings if f is not None)
        if not votes:
            self._current = None
            return None
        top = max(votes.values())
        leaders = [date for date, count in votes.items() if count == top]
        if self._current not in leaders:
            latest = next(
                f.date.isoformat()
                for f in reversed(self._readings)
                if f is not None and f.date.isoformat() in leaders
            )
            self._current = latest
        best = max(
            (f for f in self._readings if f is not None and f.date.isoformat() == self._current),
            key=lambda f: f.confidence,
        )
        return FusedDate(best, votes[self._current])

    @property
    def answer(self) -> FusedDate | None:
        """The current answer without adding a reading."""
        if self._current is None:
            return None
        agreeing = [f for f in self._readings if f is not None and f.date.isoformat() == self._current]
        return FusedDate(max(agreeing, key=lambda f: f.confidence), len(agreeing)) if agreeing else None
