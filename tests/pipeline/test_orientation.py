"""Choosing a text line's orientation: the angle classifier proposes turning a crop upside down, the
recogniser's reads of both orientations decide (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ctc import Read
from pipeline.ocr import (
    _date_like,
    better_orientation,
    orientation_score,
    pick_orientations,
    turned_crops,
    unproposed_turns,
    with_turned_reads,
)


def test_a_proposed_flip_that_reads_worse_is_not_taken() -> None:
    # Photo 047's dot-matrix line: the classifier said 180 (score 1.00); turned, it read worse.
    as_cut, turned = ("BBD060326", 0.81), ("922090088", 0.59)
    assert better_orientation(as_cut, turned) == as_cut
    # Slightly more confident garbage does not beat a date either: the date-like bonus decides.
    assert better_orientation(("BBD060326", 0.81), ("922090088", 0.85)) == ("BBD060326", 0.81)


def test_a_confident_read_as_cut_is_never_turned() -> None:
    # Photo 022: read as cut with 0.91 confidence, the classifier wanted it upside down.
    assert better_orientation(("881971272025", 0.91), ("5202726199", 0.95)) == ("881971272025", 0.91)


def test_a_proposed_flip_that_reads_better_is_taken_and_says_it_was_read_turned() -> None:
    # Turned: the line stood upside down in the image (pipeline.photo_orientation.upside_down).
    assert better_orientation(("sew", 0.34), ("Malaysia", 0.99)) == Read("Malaysia", 0.99, (), True)
    assert better_orientation(("", 0.0), ("71760 Bandar Enstek,", 0.98)) == Read(
        "71760 Bandar Enstek,", 0.98, (), True
    )
    assert better_orientation(("5207/77/67", 0.61), ("19/12/2025", 1.0)) == Read("19/12/2025", 1.0, (), True)
    assert not Read(*better_orientation(("BBD060326", 0.81), ("922090088", 0.59))).turned


def test_each_crop_gets_its_own_read_and_only_proposed_flips_are_weighed() -> None:
    flips = [True, False, True]
    reads = [
        ("BBD060326", 0.81),  # crop 0 as cut
        ("LOT 42", 0.5),  # crop 1, no flip proposed: kept even though weak
        ("0000", 0.2),  # crop 2 as cut
        ("922090088", 0.59),  # crop 0 turned
        ("16 NOV 2027", 0.98),  # crop 2 turned
    ]
    assert pick_orientations(reads, flips) == [
        ("BBD060326", 0.81),
        ("LOT 42", 0.5),
        Read("16 NOV 2027", 0.98, (), True),
    ]
    # Switched off (every proposal taken), crop 0 would read "922090088": this rule is what differs.
    assert pick_orientations(reads, flips)[0] != reads[3]
    with pytest.raises(ValueError):
        pick_orientations(reads[:4], flips)


def test_an_unsure_dateless_number_the_classifier_left_is_read_turned_too() -> None:
    reads = [
        ("22/00/00 08", 0.62),  # BB 04/09/27 upside down, left as cut: read turned
        ("L2/00/0088", 0.95),  # as unsure-looking, but confident: kept as cut
        ("19/12/2025", 0.7),  # a date, however unsure: kept
        ("Malaysia", 0.4),  # words: not worth a second read
        ("5202/21/61", 0.5),  # the classifier proposed it: read turned already
        ("607", 0.3),  # too few digits
    ]
    flips = [False, False, False, False, True, False]
    assert unproposed_turns(reads, flips) == [True, False, False, False, False, False]
    with pytest.raises(ValueError):
        unproposed_turns(reads, flips[:-1])


def test_a_turned_read_replaces_the_read_as_cut_only_when_better() -> None:
    reads = [("22/00/00 08", 0.62), ("LOT 42", 0.5), ("8800 94", 0.7), ("6190 12", 0.7)]
    turns = [True, False, True, True]
    # The last turned read is a date, less confident: the date-like bonus would take it for a
    # proposed turn (0.65 + 0.1 > 0.7), but an unproposed one needs more confidence too.
    turned = [("BB 04/09/27", 0.8), ("LO 9008", 0.4), ("16 NOV", 0.65)]
    assert better_orientation(reads[3], turned[2]) == Read(*turned[2], (), True)
    kept = [Read("BB 04/09/27", 0.8, (), True), ("LOT 42", 0.5), ("8800 94", 0.7), ("6190 12", 0.7)]
    assert with_turned_reads(reads, turns, turned) == kept
    with pytest.raises(ValueError):
        with_turned_reads(reads, turns, turned[:1])


def test_only_proposed_flips_cost_an_extra_crop() -> None:
    crops = [np.arange(6, dtype=np.uint8).reshape(1, 2, 3), np.zeros((4, 8, 3), np.uint8)]
    (turned,) = turned_crops(crops, [True, False])
    assert np.array_equal(turned, crops[0][::-1, ::-1])
    assert list(turned_crops(crops, [False, False])) == []


@pytest.mark.parametrize(
    "text",
    [
        "19/12/2025",
        "BB 19/12/2025",
        "EXP:2026.08.05",
        "05-08-26",
        "060326",
        "BBD060326",
        "20260805",
        "16 NOV",
    ],
)
def test_dates_as_printed_are_date_like(text: str) -> None:
    assert _date_like(text)


@pytest.mark.parametrize(
    "text",
    ["5202/21/61", "5202726199", "922090088", "920090", "9707'07'07", "2202.8050", "LOT 42", "AON 9I", ""],
)
def test_the_same_dates_upside_down_are_not(text: str) -> None:
    assert not _date_like(text)


def test_an_empty_read_scores_nothing() -> None:
    assert orientation_score(("", 0.9)) == 0.0
    assert orientation_score(("19/12/2025", 0.8)) > orientation_score(("5202/21/61", 0.85))
