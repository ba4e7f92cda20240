"""An expiry keyword before a date the parser cannot read (``pipeline.dates.unread``)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.dates import parse_dates
from pipeline.dates.unread import expiry_unreadable

REF = dt.date(2026, 11, 30)


def _dated(text: str) -> bool:
    return parse_dates(text, REF).best is not None


@pytest.mark.parametrize(
    ("line", "unreadable"),
    [
        ("BBF: 17.19.2029", True),  # a month 19: its 0 read as a 9 (hard set v5 1000414)
        ("TE GEBRUIKEN TOT 24-00-26", True),  # a month 00
        ("EXP: 31.02.2027 L5", True),  # no 31 February
        ("BBF: 17.10.2029", False),  # read
        ("PROD 17.19.2029", False),  # no expiry keyword
        ("17.19.2029", False),
        ("EXP 12/2027", False),  # a month and year, read
        ("EXP LOT 4471", False),  # no date shape
    ],
)
def test_an_expiry_keyword_before_an_unreadable_whole_date(line: str, unreadable: bool) -> None:
    assert expiry_unreadable(line, _dated) is unreadable
