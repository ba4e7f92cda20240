"""How likely a candidate is the label's expiry date, read right: a logistic score of a few facts.

The weights are checked by ``bench/dates_bench.py calibration`` and the tests: among dates given
confidence 0.8, about 80 in 100 are right. Low confidence means "check this by hand".

Where the weights come from: ``.venv/bin/python -m bench.dates_bench fit --seed 123`` fits
``BIAS`` and every weight not in ``HAND_SET`` by logistic regression of "best date right" on
these facts, over the shared cases and 6,000 generated labels with OCR noise (seed 123,
``bench/dates_cases.py``), and prints them in the form below; tests/pipeline/test_dates.py checks
that the committed numbers are what it prints.

Four weights are priors, set by hand, because generated labels never show their risk, so a fit
could not learn it:

- ``manufacture_keyword``: the best date is never a manufacture date (``parse_dates`` picks one
  only when nothing else is there, and then it is no expiry date), so the fit never sees one.
- ``competing_dates``: on generated labels a rival unlabelled date is always a manufacture date
  printed earlier, so the latest date is always right there; on real labels a rival can be a
  packing or sell-by date, and picking the latest is a guess.
- ``year_inferred``: a generated date printed without a year always falls in the year after the
  reference date, so the inferred year is always right there (the fit gives +0.1); on real labels
  it can be a year off, so it costs a little.
- ``swapped_order``: a date readable only in the other order (12/25/2026 in DMY) is too rare in
  generated labels to fit; such a date may be a misread, so it costs more than an ambiguous one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["BIAS", "HAND_SET", "WEIGHTS", "Evidence", "confidence"]


class Evidence(NamedTuple):
    """The facts about one candidate that the confidence weighs, in the order of ``WEIGHTS``."""

    expiry_keyword: bool
    manufacture_keyword: bool
    # Other dates of the same standing (expiry, or else unlabelled) that disagree, at most 2.
    competing_dates: int
    day_precision: bool
    explicit_four_digit_year: bool
    year_inferred: bool
    month_name: bool
    compact: bool
    ambiguous_order: bool
    swapped_order: bool
    # Letters of the span read as digits (O for 0, S for 5), at most 2.
    repaired_chars: int


# Printed by `python -m bench.dates_bench fit --seed 123`; HAND_SET ones: priors (see above).
BIAS = 1.92
WEIGHTS: dict[str, float] = {
    "expiry_keyword": 1.03,
    "manufacture_keyword": -2.0,
    "competing_dates": -0.3,
    "day_precision": 0.83,
    "explicit_four_digit_year": 0.23,
    "year_inferred": -0.2,
    "month_name": -0.19,
    "compact": 0.43,
    "ambiguous_order": -1.12,
    "swapped_order": -1.5,
    "repaired_chars": 0.25,
}
HAND_SET = frozenset({"manufacture_keyword", "competing_dates", "year_inferred", "swapped_order"})

_WEIGHTS = tuple(WEIGHTS[name] for name in Evidence._fields)
# Evidence takes at most 2 * 2 * 3 * 2 ** 7 * 3 = 4,608 values, so every score is computed once
# per process and then looked up: the table cannot grow past that.
_SCORES: dict[Evidence, float] = {}


def confidence(e: Evidence) -> float:
    """0..1, rounded to three places."""
    value = _SCORES.get(e)
    if value is None:
        score = BIAS
        for weight, fact in zip(_WEIGHTS, e, strict=True):
            score += weight * fact
        value = _SCORES[e] = round(1.0 / (1.0 + math.exp(-score)), 3)
    return value
