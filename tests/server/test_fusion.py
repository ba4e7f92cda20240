"""The stream fusion rule, directly: votes over recent frames, hysteresis on ties."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import DateFinding, DateKind, DatePrecision
from server.api.fusion import StreamFusion


def _finding(day: int, confidence: float = 0.9) -> DateFinding:
    return DateFinding(
        date=dt.date(2026, 11, day),
        kind=DateKind.EXPIRY,
        precision=DatePrecision.DAY,
        year_inferred=False,
        confidence=confidence,
        text=f"{day} NOV",
        is_expired=False,
        days_until_expiry=day,
    )


def test_one_misread_frame_is_outvoted() -> None:
    fusion = StreamFusion(window=5)
    for _ in range(3):
        fusion.add(_finding(16))
    fused = fusion.add(_finding(18))  # the misread
    assert fused is not None
    assert fused.finding.date == dt.date(2026, 11, 16)
    assert fused.agreeing_frames == 3


def test_a_tie_keeps_the_current_answer() -> None:
    fusion = StreamFusion(window=4)
    fusion.add(_finding(16))
    fused = fusion.add(_finding(18))
    assert fused is not None and fused.finding.date.day == 16 and fused.agreeing_frames == 1


def test_a_new_product_takes_over_once_it_outvotes_the_old_one() -> None:
    fusion = StreamFusion(window=4)
    for _ in range(4):
        fusion.add(_finding(16))
    answers = [fusion.add(_finding(20)) for _ in range(3)]
    assert [a.finding.date.day for a in answers if a] == [16, 16, 20]
    assert answers[-1] is not None and answers[-1].agreeing_frames == 3


def test_frames_without_a_date_age_votes_out() -> None:
    fusion = StreamFusion(window=2)
    fusion.add(_finding(16))
    assert fusion.add(None) is not None
    assert fusion.add(None) is None
    assert fusion.answer is None


def test_the_most_confident_reading_is_reported() -> None:
    fusion = StreamFusion(window=3)
    fusion.add(_finding(16, 0.5))
    fused = fusion.add(_finding(16, 0.8))
    assert fused is not None and fused.finding.confidence == 0.8 and fused.agreeing_frames == 2


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        StreamFusion(window=0)
