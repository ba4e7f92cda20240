"""pipeline/lines.py: boxes of one printed line joined by geometry, columns and rows kept apart."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from pipeline.dates import parse_dates
from pipeline.lines import LEGEND_GAP, WIDE_GAP, WORD_GAP, assemble_lines
from pipeline.types import BoundingBox, DateKind, OcrLine

# Every piece below is printed 40 px high unless said otherwise: gaps are in these units.
_H = 40.0


def _piece(
    text: str,
    x1: float,
    width: float,
    *,
    top: float = 100.0,
    height: float = _H,
    confidence: float = 0.9,
    detection_index: int = 0,
) -> OcrLine:
    box = BoundingBox(x1, top, x1 + width, top + height)
    return OcrLine(text=text, confidence=confidence, box=box, detection_index=detection_index)


def _row(texts: list[str], gaps: list[float], *, top: float = 100.0, x: float = 50.0) -> list[OcrLine]:
    """Pieces left to right, each 25 px a character wide, ``gaps`` (in character heights) between."""
    pieces = []
    for index, text in enumerate(texts):
        pieces.append(_piece(text, x, 25.0 * len(text), top=top))
        x += 25.0 * len(text) + (gaps[index] * _H if index < len(gaps) else 0.0)
    return pieces


def _texts(lines: tuple[OcrLine, ...]) -> list[str]:
    return [line.text for line in lines]


def test_pieces_of_one_row_are_one_line_with_the_union_box_and_a_weighted_confidence() -> None:
    day = _piece("1 AUG", 300, 180, confidence=0.8)
    year = _piece("2026", 510, 100, top=104, height=38, confidence=1.0)
    (line,) = assemble_lines([year, day])  # given right to left: joined left to right
    assert line.text == "1 AUG 2026"
    assert line.box == BoundingBox(300, 100, 610, 142)
    assert line.confidence == pytest.approx((0.8 * 5 + 1.0 * 4) / 9)
    assert line.detection_index == 0
    assert not line.upside_down
    # Pieces all read turned make a line read turned; one read as cut does not.
    turned = [dataclasses.replace(piece, upside_down=True) for piece in (day, year)]
    assert assemble_lines(turned)[0].upside_down
    assert not assemble_lines([turned[0], year])[0].upside_down


def test_pieces_all_read_upside_down_are_joined_right_to_left_as_printed() -> None:
    """An upside-down "2018. 6.12" stands in the photo as "6.12" left of "2018.": each piece reads
    right turned, and joined left to right they read June 2012 (realworld6 005 sent turned)."""
    month_day = dataclasses.replace(_piece("6.12", 100, 100, confidence=0.6), upside_down=True)
    year = dataclasses.replace(_piece("2018.", 230, 125, confidence=1.0), upside_down=True)
    (line,) = assemble_lines([month_day, year])
    assert line.text == "2018. 6.12"
    assert line.upside_down
    # Each piece's confidence weighted by its own characters, whatever the order.
    assert line.confidence == pytest.approx((1.0 * 5 + 0.6 * 4) / 9)
    # One piece read as cut and one turned: the photo's order, as before.
    (mixed,) = assemble_lines([dataclasses.replace(month_day, upside_down=False), year])
    assert mixed.text == "6.12 2018."


def test_the_issues_label_is_two_lines_use_by_over_the_date() -> None:
    pieces = _row(["USE", "BY"], [0.9]) + _row(["1 AUG", "2026"], [0.8], top=170)
    assert _texts(assemble_lines(pieces)) == ["USE BY", "1 AUG 2026"]


def test_rows_one_above_the_other_stay_apart_even_when_they_touch() -> None:
    upper = _piece("USE BY", 100, 150, top=100)
    lower = _piece("1 AUG 2026", 260, 250, top=100 + 0.5 * _H)  # half a row lower, just right of it
    assert _texts(assemble_lines([upper, lower])) == ["USE BY", "1 AUG 2026"]


def test_a_word_gap_joins_whatever_the_pieces_hold() -> None:
    pieces = _row(["MFD 01/04/26", "EXP 01/07/27"], [WORD_GAP * 0.95])
    assert _texts(assemble_lines(pieces)) == ["MFD 01/04/26 EXP 01/07/27"]


def test_a_spaced_out_code_is_one_line_up_to_the_wide_gap() -> None:
    pieces = _row(["VAL", "12", "08", "2026"], [1.5, 3.0, WIDE_GAP * 0.97])
    assert _texts(assemble_lines(pieces)) == ["VAL 12 08 2026"]


def test_beyond_the_wide_gap_pieces_are_never_joined() -> None:
    pieces = _row(["VAL", "12", "08", "2026"], [1.5, WIDE_GAP * 1.05, 1.5])
    assert _texts(assemble_lines(pieces)) == ["VAL 12", "08 2026"]


def test_whole_dates_across_a_wide_gap_are_columns_of_a_code() -> None:
    # Photo 054 of realworld-dev: production date, lot, expiry, 1.9 character heights apart.
    pieces = _row(["30.07.25", "03488", "30.07.26"], [1.9, 1.9])
    assert _texts(assemble_lines(pieces)) == ["30.07.25", "03488", "30.07.26"]
    # A date with no year printed is not a field of its own: the year beside it completes it.
    assert _texts(assemble_lines(_row(["16 NOV", "2026"], [2.0]))) == ["16 NOV 2026"]


def test_a_gutter_runs_down_the_code_to_the_row_above_and_below() -> None:
    def code(rows: list[tuple[str, str]]) -> list[OcrLine]:
        # Left column right-aligned at x=400, a gutter of 2 character heights, right column after it.
        pieces = []
        for index, (left, right) in enumerate(rows):
            top = 100 + index * 1.8 * _H
            pieces.append(_piece(left, 400 - 25 * len(left), 25 * len(left), top=top))
            pieces.append(_piece(right, 400 + 2 * _H, 25 * len(right), top=top))
        return pieces

    lot_row = [("LOT A12345", "TIME 12:30")]
    dates = [("MFD 01/04/2026", "EXP 01/07/2027")]
    assert _texts(assemble_lines(code(lot_row))) == ["LOT A12345 TIME 12:30"]  # alone: one line
    assert _texts(assemble_lines(code(lot_row + dates))) == [
        "LOT A12345", "TIME 12:30", "MFD 01/04/2026", "EXP 01/07/2027",
    ]  # fmt: skip
    assert _texts(assemble_lines(code(dates + lot_row))) == [
        "MFD 01/04/2026", "EXP 01/07/2027", "LOT A12345", "TIME 12:30",
    ]  # fmt: skip
    # Three rows down, the gutter is no longer that row's: its own gap decides.
    far = code(dates) + [_piece(text, x, 25 * len(text), top=100 + 4 * _H) for text, x in
                         (("LOT A12345", 150), ("TIME 12:30", 480))]  # fmt: skip
    assert _texts(assemble_lines(far))[-1] == "LOT A12345 TIME 12:30"


def test_print_of_another_size_is_not_joined() -> None:
    # Photo 050 of realworld-dev: a dot-matrix digit found without its lower dots.
    code = _piece("7BBF180", 511, 460, top=1147, height=100)
    digit = _piece("5", 974, 58, top=1152, height=58)
    assert _texts(assemble_lines([code, digit])) == ["7BBF180", "5"]


def test_vertical_text_is_left_as_it_is() -> None:
    row = [_piece("BEST", 100, 100, height=60), _piece("BEFORE", 210, 150, height=60)]
    # A tall narrow box at the row's end, as high as the row: the OCR read it turned.
    column = _piece("L", 370, 35, height=60)
    lines = assemble_lines([*row, column])
    assert _texts(lines) == ["BEST BEFORE", "L"]
    assert lines[1] is column


def test_a_tilted_line_is_left_as_it_is() -> None:
    # UK held-out photo 104, at about 20 degrees: the upright box of a tilted line of the
    # nutrition panel reaches down beside "Use by", which belongs to the date below it.
    panel = OcrLine("rence int", 0.92, BoundingBox(298, 40, 382, 95), 0)
    keyword = OcrLine("Useby", 0.99, BoundingBox(411, 59, 487, 109), 0)
    assert assemble_lines([panel, keyword]) == (panel, keyword)
    # The same boxes, were their text short enough for them, would be one row.
    short = [dataclasses.replace(panel, text="re"), dataclasses.replace(keyword, text="U")]
    assert _texts(assemble_lines(short)) == ["re U"]


def test_a_line_never_forks_only_mutual_nearest_pieces_join() -> None:
    best = _piece("BEST", 100, 100, top=100)
    use = _piece("USE", 110, 75, top=100 + 0.35 * _H)  # a line just below, also left of "BEFORE"
    before = _piece("BEFORE", 220, 150, top=100)  # nearest to "BEST" (20 px) and to "USE" (35 px)
    assert sorted(_texts(assemble_lines([best, use, before]))) == ["BEST BEFORE", "USE"]


def test_lines_keep_the_callers_order_a_joined_line_where_its_first_piece_was() -> None:
    use, by = _row(["USE", "BY"], [0.9])
    day, year = _row(["1 AUG", "2026"], [0.8], top=170)
    keep = _piece("KEEP COLD", 50, 225, top=240)
    # The OCR put "2026" first in its row (its rotated box starts higher): the line stands there.
    assert _texts(assemble_lines([use, by, year, keep, day])) == ["USE BY", "1 AUG 2026", "KEEP COLD"]
    # Lines that join nothing are not re-sorted by their upright boxes.
    assert assemble_lines([keep, use]) == (keep, use)


def test_pieces_of_two_reading_windows_join_under_the_best_detection() -> None:
    left = _piece("BEST BEFORE", 100, 275, detection_index=1)
    right = _piece("16 NOV", 385, 150, detection_index=0)
    (line,) = assemble_lines([left, right])
    assert (line.text, line.detection_index) == ("BEST BEFORE 16 NOV", 0)


def test_a_line_cut_by_a_window_edge_overlaps_and_joins_but_a_second_read_of_it_does_not() -> None:
    cut_left = _piece("05/08/2", 100, 175)
    cut_right = _piece("026", 275 - 0.3 * _H, 75)  # boxes padded over the cut
    assert _texts(assemble_lines([cut_left, cut_right])) == ["05/08/2 026"]
    again = _piece("05/08/2026", 110, 250)  # the same print, read twice
    assert sorted(_texts(assemble_lines([_piece("05/08/2026", 100, 250), again]))) == ["05/08/2026"] * 2


def test_lines_that_join_nothing_come_back_as_they_were() -> None:
    lines = [_piece("USE BY", 100, 150, top=100), _piece("16 NOV", 100, 150, top=200)]
    assembled = assemble_lines(lines)
    assert all(a is b for a, b in zip(assembled, lines, strict=True))
    assert assemble_lines([]) == ()


# -- legends preprinted beside a coder's window, their values off their rows


def _boxed(text: str, x1: float, y1: float, x2: float, y2: float, *, upside_down: bool = False) -> OcrLine:
    return OcrLine(text=text, confidence=0.95, box=BoundingBox(x1, y1, x2, y2), upside_down=upside_down)


# realworld7 001 as the whole-photo read left it, in its reading order: each value printed 0.6 to
# 0.7 of a line above its legend, so each comes before it.
_PACK = [
    _boxed("1606836", 490, 382, 639, 435),
    _boxed("BATCH NO.:", 247, 413, 391, 473),
    _boxed("20/08/24", 491, 476, 665, 533),
    _boxed("PKD:", 251, 514, 317, 574),
    _boxed("15/02/25", 494, 571, 667, 627),
    _boxed("USE BY:", 257, 612, 358, 667),
]


def test_a_legend_joins_the_value_printed_beside_it_off_its_row() -> None:
    """Read as the photo lays them out, ``PKD:`` comes before ``15/02/25`` and the production
    date's legend names the expiry; joined, each legend names its own value."""
    lines = assemble_lines(_PACK)
    assert _texts(lines) == ["BATCH NO.: 1606836", "PKD: 20/08/24", "USE BY: 15/02/25"]
    assert lines[2].box == BoundingBox(257, 571, 667, 667)
    found = parse_dates("\n".join(_texts(lines)), dt.date(2026, 11, 30))
    assert found.best is not None and (found.best.date, found.best.kind) == (
        dt.date(2025, 2, 15),
        DateKind.EXPIRY,
    )
    assert [(date.date, date.kind) for date in found.candidates] == [
        (dt.date(2024, 8, 20), DateKind.MANUFACTURE),
        (dt.date(2025, 2, 15), DateKind.EXPIRY),
    ]


def test_a_pack_read_upside_down_joins_each_legend_to_the_value_on_its_left() -> None:
    """Upside down, the legends stand right of their values and below them."""
    turned = [
        dataclasses.replace(
            line,
            box=BoundingBox(1000 - line.box.x2, 1000 - line.box.y2, 1000 - line.box.x1, 1000 - line.box.y1),
            upside_down=True,
        )
        for line in reversed(_PACK)
    ]
    assert _texts(assemble_lines(turned)) == ["USE BY: 15/02/25", "PKD: 20/08/24", "BATCH NO.: 1606836"]


def test_a_legend_and_a_value_that_barely_overlap_or_are_no_legend_and_value_stay_apart() -> None:
    # The value on the next row: it overlaps the legend by 0.1 of a height.
    below = [_boxed("USE BY:", 100, 100, 240, 140), _boxed("15/02/25", 300, 136, 470, 176)]
    assert _texts(assemble_lines(below)) == ["USE BY:", "15/02/25"]
    # Too far: beyond LEGEND_GAP heights.
    far = [
        _boxed("USE BY:", 100, 100, 240, 140),
        _boxed("15/02/25", 240 + 40 * LEGEND_GAP + 10, 80, 600, 120),
    ]
    assert _texts(assemble_lines(far)) == ["USE BY:", "15/02/25"]
    # Not a legend: a word that is no date keyword, or letters beside a keyword.
    for text in ("NET WEIGHT:", "M.R.P.", "USE BY 12"):
        pair = [_boxed(text, 100, 100, 240, 140), _boxed("25.00", 300, 80, 400, 120)]
        assert _texts(assemble_lines(pair)) == [text, "25.00"]
    # A value read upside down beside a legend read upright is no pair.
    mixed = [_boxed("USE BY:", 100, 100, 240, 140), _boxed("15/02/25", 300, 80, 470, 120, upside_down=True)]
    assert _texts(assemble_lines(mixed)) == ["USE BY:", "15/02/25"]


def test_a_value_joins_the_legend_it_overlaps_most_and_only_printed_higher() -> None:
    """A value printed lower than a legend comes after it in reading order already, where the
    parser binds them: it is not joined, and not to the next legend either, though it stands
    higher than that one."""
    lower = [
        _boxed("PKD:", 100, 100, 180, 140),
        _boxed("20/08/24", 300, 124, 470, 164),  # 0.4 of PKD (lower), 0.35 of USE BY (higher)
        _boxed("USE BY:", 100, 150, 240, 190),
    ]
    assert _texts(assemble_lines(lower)) == ["PKD:", "20/08/24", "USE BY:"]
    higher = [
        _boxed("PKD:", 100, 100, 180, 140),
        _boxed("20/08/24", 300, 136, 470, 176),  # 0.1 of PKD (lower), 0.65 of USE BY: on its row
        _boxed("USE BY:", 100, 150, 240, 190),
    ]
    assert _texts(assemble_lines(higher)) == ["PKD:", "20/08/24", "USE BY:"]
    # On a legend's row (0.6 and more), a value is that legend's, not the next one's above it.
    row = [
        _boxed("PKD:", 100, 100, 180, 140),
        _boxed("20/08/24", 300, 104, 470, 144),  # 0.9 of PKD, 0.2 of USE BY below (PKD's gutter)
        _boxed("USE BY:", 100, 136, 240, 176),
    ]
    assert _texts(assemble_lines(row)) == ["PKD:", "20/08/24", "USE BY:"]
    # Between two legends, a value may be the upper one's printed lower: joined to the lower one
    # only where the upper one has a value of its own.
    between = [
        _boxed("PKD:", 100, 100, 180, 140),
        _boxed("20/08/24", 300, 130, 470, 170),  # 0.25 of PKD (lower), 0.5 of USE BY (higher)
        _boxed("USE BY:", 100, 150, 240, 190),
    ]
    assert _texts(assemble_lines(between)) == ["PKD:", "20/08/24", "USE BY:"]
    owned = [
        _boxed("24/08/20", 300, 80, 470, 120),
        _boxed("PKD:", 100, 100, 180, 140),  # 0.5 of its own value above
        *between[1:],
    ]
    assert _texts(assemble_lines(owned)) == ["PKD: 24/08/20", "USE BY: 20/08/24"]


def test_values_printed_most_of_a_row_lower_are_not_joined_to_the_next_legend() -> None:
    """A coder's window drifting down (a review's case): each value stands higher than the next
    legend and overlaps it most, and the top legend is left with none. Reading order binds them
    right; joined, EXP would name the production month."""
    for shift in (55, 65, 75):
        pack = [
            _boxed("MFG:", 40, 100, 120, 160),
            _boxed("05/2026", 300, 100 + shift, 500, 160 + shift),
            _boxed("EXP:", 40, 200, 120, 260),
            _boxed("04/2028", 300, 200 + shift, 500, 260 + shift),
            _boxed("LOT:", 40, 300, 120, 360),
            _boxed("260512", 300, 300 + shift, 480, 360 + shift),
        ]
        lines = assemble_lines(pack)
        assert _texts(lines) == [line.text for line in pack]
        best = parse_dates("\n".join(_texts(lines)), dt.date(2026, 11, 30)).best
        assert best is not None and best.date == dt.date(2028, 4, 30)


def test_a_line_that_names_its_own_date_is_no_legends_value() -> None:
    """``PKD: 05/2026`` printed up to the right of a lone ``EXP:`` whose value is on the row below:
    joined, EXP would name the production month (a review's case)."""
    pack = [
        _boxed("PKD: 05/2026", 260, 80, 590, 130),
        _boxed("EXP:", 40, 105, 150, 155),
        _boxed("04/2028", 40, 165, 233, 215),
    ]
    assert _texts(assemble_lines(pack)) == ["PKD: 05/2026", "EXP:", "04/2028"]
