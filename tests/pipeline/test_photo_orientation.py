"""A sideways photo: judged from its whole read's boxes, its direction from the recogniser's reads of
its vertical lines laid down both ways, and the turn that brings it upright mapped back exactly; an
upside-down photo, judged from which of its level lines were read turned (no models needed; the
pipeline's own tests on real models are in test_photo_orientation_models.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ctc import Read
from pipeline.photo_orientation import (
    DIRECTION_LINES,
    MIN_UPSIDE_DOWN_LINES,
    laid_down_both_ways,
    sideways,
    turn_from_reads,
    upside_down,
)
from pipeline.types import BoundingBox, OcrLine
from pipeline.variants import Step, turned_variant


def _line(text: str, x: float, y: float, w: float, h: float, confidence: float = 0.95) -> OcrLine:
    return OcrLine(text, confidence, BoundingBox(x1=x, y1=y, x2=x + w, y2=y + h))


def _down(text: str, x: float, confidence: float = 0.95) -> OcrLine:
    """A line running down the photo: 20 px wide, 18 px a character."""
    return _line(text, x, 10, 20, 18 * len(text), confidence)


def _across(text: str, y: float, confidence: float = 0.95) -> OcrLine:
    return _line(text, 10, y, 18 * len(text), 20, confidence)


def _turned(line: OcrLine) -> OcrLine:
    return OcrLine(line.text, line.confidence, line.box, upside_down=True)


def test_a_photo_whose_level_lines_were_mostly_read_turned_is_upside_down() -> None:
    lines = [_across("EXP 12/08/2026", 100), _across("MFG 12/08/2025", 140), _across("LOT 77", 180)]
    assert upside_down([_turned(line) for line in lines])
    # Three turned, one not: 31 of 36 characters (0.86) is enough; 13 of 35 (0.37) is not.
    assert upside_down([_turned(lines[0]), _turned(lines[1]), lines[2], _turned(_across("NET 5g", 220))])
    short = [_turned(_across(text, 100 + 40 * i)) for i, text in enumerate(["LOT 7", "NET 5g", "A1 B2"])]
    assert not upside_down([*short, _across("INGREDIENTS: SUGAR, SALT", 300)])
    assert not upside_down(lines)


def test_too_few_lines_or_lines_read_badly_do_not_make_a_photo_upside_down() -> None:
    turned = [_turned(_across(f"EXP 12/08/202{i}", 100 + 40 * i)) for i in range(MIN_UPSIDE_DOWN_LINES)]
    assert upside_down(turned)
    assert not upside_down(turned[:-1])  # two lines: a logo or a stamp turned on an upright pack
    unsure = [OcrLine(line.text, 0.4, line.box, upside_down=True) for line in turned]
    assert not upside_down(unsure)
    # Vertical lines are the sideways judgement's evidence, not this one's.
    down = [
        OcrLine(f"EXP 12/08/202{i}", 0.95, _down("EXP 12/08/2026", 100 + 40 * i).box, upside_down=True)
        for i in range(4)
    ]
    assert not upside_down(down)


def test_a_photo_whose_text_runs_down_it_is_sideways() -> None:
    lines = [_down("EXP 12/08/2026", 100), _down("MFG 12/08/2025", 140), _across("LOT 7", 500)]
    assert sideways(lines) == [lines[0], lines[1]]


def test_an_upright_photo_is_not_sideways() -> None:
    lines = [_across("EXP 12/08/2026", 100), _across("MFG 12/08/2025", 140), _down("BRAND", 500)]
    assert sideways(lines) == []


def test_one_vertical_word_is_not_a_turned_photo() -> None:
    # A brand printed down a can's side, the rest of the photo unread: one line is not enough.
    assert sideways([_down("SPARKLING WATER", 100)]) == []
    # Nor are two short lines (fewer than 12 characters in all).
    assert sideways([_down("ABC12", 100), _down("XYZ34", 140)]) == []


def test_the_share_of_vertical_text_decides() -> None:
    down = [_down("MRP Rs 45.00", 100), _down("NET WT 500 g", 140)]  # 19 characters, no date keyword
    assert sideways([*down, _across("SUGAR, SALT", 300)]) == down  # 19 of 29: 0.66
    assert sideways([*down, _across("SUGAR, SALT, OIL", 300)]) == []  # 19 of 33: 0.58


def test_the_date_legends_decide_where_the_pack_prints_text_two_ways() -> None:
    """A recipe panel across a label's panel (realworld7 002 turned a quarter): most of the text
    runs across, but the legends and dates run down the photo, and so does the date."""
    legends = [_down("Use By :MAY2025", 100), _down("Date of Packaging :SEP2024", 140), _down("Lot No.", 180)]
    recipe = [_across("RECIPE: Fry chopped onion in oil", 300 + 30 * i) for i in range(3)]  # 81 of 129
    assert sideways([*legends, *recipe]) == [*legends[1::-1], legends[2]]
    # Not when the legends run across: the vertical text is then a panel beside the label.
    level = [_across("Use By :MAY2025", 600), _across("Date of Packaging :SEP2024", 640)]
    assert sideways([*level, _down("INGREDIENTS: SUGAR", 100), _down("Manufactured in India", 140)]) == []
    # Nor on a maker's address down a side strip: "Manufactured by" names no date.
    makers = [_down("Manufactured by: ABC Foods Ltd", 100), _down("Packed by: XYZ Pvt Ltd", 140)]
    dated = [_across("PKD: 05/2026", 600), _across("USE BY: 04/2027", 640), *recipe]
    assert sideways([*makers, *dated]) == []
    # Nor on one vertical legend among level ones, however long.
    assert sideways([*level, _down("Date of Packaging :SEP2024", 140), *recipe]) == []


def test_lines_read_badly_or_too_short_are_not_evidence() -> None:
    down = [_down("EXP 12/08/2026", 100), _down("MFG 12/08/2025", 140)]
    # Unsure or two-character reads across the photo do not outweigh the vertical lines...
    noise = [_across("Il1lI1lIl1lIl1lIl1lIl1", 300 + 30 * i, confidence=0.4) for i in range(5)]
    assert sideways([*down, *noise, *(_across("ab", 500 + 30 * i) for i in range(20))]) == down
    # ...nor do unsure vertical reads make a photo sideways.
    assert sideways([_down("EXP 12/08/2026", 100, 0.5), _down("MFG 12/08/2025", 140, 0.5)]) == []


def test_the_longest_vertical_lines_are_kept_for_the_direction() -> None:
    lines = [_down("X" * (3 + i), 30 * i) for i in range(DIRECTION_LINES + 3)]
    kept = sideways(lines)
    assert len(kept) == DIRECTION_LINES
    assert [len(line.text) for line in kept] == sorted((len(line.text) for line in lines), reverse=True)[
        :DIRECTION_LINES
    ]


def test_each_line_is_laid_down_both_ways() -> None:
    image = np.zeros((100, 60, 3), dtype=np.uint8)
    image[10:90, 20:30] = 255
    image[10:20, 20:30] = (0, 0, 255)  # the top of the vertical line is red
    line = _line("ABCDEFG", 20, 10, 10, 80)
    anticlockwise, clockwise = laid_down_both_ways(image, [line])
    assert anticlockwise.shape == clockwise.shape == (10, 80, 3)
    # Laid down anticlockwise, the line's top is at the left; clockwise, at the right.
    assert tuple(anticlockwise[5, 2]) == (0, 0, 255)
    assert tuple(clockwise[5, -3]) == (0, 0, 255)


def test_a_box_past_the_photo_is_cut_to_it() -> None:
    image = np.zeros((50, 40, 3), dtype=np.uint8)
    crops = laid_down_both_ways(image, [_line("ABCDEF", 30, -5, 20, 70)])
    assert [crop.shape for crop in crops] == [(10, 50, 3), (10, 50, 3)]


def test_the_way_the_recogniser_reads_better_is_the_way_up() -> None:
    # Laid down anticlockwise the lines read well: the photo was turned clockwise, turn it back.
    good, bad = Read("EXP 12/08/2026", 0.97), Read("9202/80/21 dX3", 0.55)
    assert turn_from_reads([good, good, bad, bad]) is Step.TURN270
    assert turn_from_reads([bad, bad, good, good]) is Step.TURN90
    # Lines are summed: one line read better the wrong way does not decide alone.
    assert turn_from_reads([good, good, bad, Read("LOT", 0.99), bad, bad]) is Step.TURN270
    assert turn_from_reads([Read("", 0.0), Read("", 0.0)]) is None
    with pytest.raises(ValueError, match="both ways"):
        turn_from_reads([good])


@pytest.mark.parametrize("turn", [Step.TURN90, Step.TURN180, Step.TURN270])
def test_a_turned_photo_maps_its_boxes_back_exactly(turn: Step) -> None:
    image = np.zeros((60, 100, 3), dtype=np.uint8)
    image[10:20, 30:70] = 255
    variant = turned_variant(image, turn)
    assert variant.image.shape == ((100, 60, 3) if turn is not Step.TURN180 else (60, 100, 3))
    ys, xs = np.nonzero(variant.image[..., 0])
    box = BoundingBox(x1=float(xs.min()), y1=float(ys.min()), x2=float(xs.max() + 1), y2=float(ys.max() + 1))
    assert variant.source_box(box) == BoundingBox(x1=30.0, y1=10.0, x2=70.0, y2=20.0)


def test_only_a_turn_is_a_turned_photo() -> None:
    with pytest.raises(ValueError, match="not a turn"):
        turned_variant(np.zeros((4, 4, 3), dtype=np.uint8), Step.DOTS)
