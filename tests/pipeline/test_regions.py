"""Reading windows around detections: padding, keyword context, clipping and merging."""

from __future__ import annotations

import re

import numpy as np

from pipeline.regions import MAX_TEXT_WINDOWS, Window, cut, grown, keeps_dates, reading_windows, text_windows
from pipeline.types import BoundingBox, Detection, OcrLine

SHAPE = (640, 840, 3)


def _detection(x1: float, y1: float, x2: float, y2: float, confidence: float = 0.9) -> Detection:
    return Detection(box=BoundingBox(x1, y1, x2, y2), confidence=confidence, class_id=0, class_name="date")


def test_a_window_pads_every_side_and_reaches_up_and_left_for_the_keyword() -> None:
    # A 200x50 date: text height 50, so 0.25 -> 12.5 px of padding, 1.0 -> 50 px more up and left.
    (window,) = reading_windows(SHAPE, [_detection(300, 300, 500, 350)], padding=0.25, context=1.0)
    assert window == Window(237, 237, 512, 362, detection_index=0)


def test_a_two_line_box_scales_by_its_text_not_its_height() -> None:
    # 180x150: a date with the time under it. Text height is taken as 180 / 3 = 60, not 150.
    (window,) = reading_windows(SHAPE, [_detection(300, 300, 480, 450)], padding=0.0, context=1.0)
    assert (window.x1, window.y1) == (240, 240)


def test_windows_are_clipped_to_the_photo() -> None:
    (window,) = reading_windows(SHAPE, [_detection(10, 5, 830, 60)], padding=0.5, context=2.0)
    assert (window.x1, window.y1) == (0, 0) and window.x2 == 840 and window.y2 <= 640


def test_overlapping_windows_are_read_once_under_the_best_detection() -> None:
    long_date = _detection(140, 228, 689, 367, 0.77)
    its_tail = _detection(377, 246, 716, 354, 0.60)
    elsewhere = _detection(100, 500, 300, 550, 0.50)
    windows = reading_windows(SHAPE, [long_date, its_tail, elsewhere], padding=0.25, context=0.0)
    assert len(windows) == 2
    merged, apart = windows
    assert merged.detection_index == 0 and apart.detection_index == 2
    assert merged.x1 <= 140 and merged.x2 >= 716  # the union of both boxes


def test_cut_copies_the_window() -> None:
    image = np.arange(640 * 840 * 3, dtype=np.uint32).reshape(SHAPE).astype(np.uint8)
    crop = cut(image, Window(10, 20, 110, 70, 0))
    assert crop.shape == (50, 100, 3) and crop.flags.c_contiguous
    assert np.array_equal(crop, image[20:70, 10:110])


def test_a_keyword_detected_above_the_date_shares_the_date_window() -> None:
    # A weak detection on "Use by" whose window only touches the date's: still read once.
    date = _detection(300, 364, 580, 463, 0.48)
    keyword = _detection(296, 216, 573, 323, 0.47)
    (window,) = reading_windows(SHAPE, [date, keyword], padding=0.25, context=0.0)
    assert window.detection_index == 0
    assert (window.y1, window.y2) == (192, 486)  # from the keyword's top to the date's bottom


def test_windows_apart_stay_apart() -> None:
    windows = reading_windows(
        SHAPE, [_detection(50, 50, 250, 100), _detection(500, 500, 700, 550)], 0.25, 1.0
    )
    assert [w.detection_index for w in windows] == [0, 1]


def test_a_union_that_reaches_a_third_window_takes_it_in() -> None:
    # c touches neither a nor b, only the box around both; it comes first, so it is merged last.
    c, a, b = _detection(400, 100, 480, 130), _detection(100, 100, 300, 150), _detection(280, 140, 500, 190)
    (window,) = reading_windows(SHAPE, [c, a, b], padding=0.0, context=0.0)
    assert window == Window(100, 100, 500, 190, detection_index=0)


def _line(x1: float, y1: float, x2: float, y2: float, text: str = "E: 12 APR 2024") -> OcrLine:
    return OcrLine(text, 0.9, BoundingBox(x1, y1, x2, y2))


def _date_in(text: str) -> str | None:
    """The parser's call, stood in for: the digits and what is between them are the date."""
    found = re.search(r"\d.*\d", text)
    return None if found is None else found.group()


def test_a_window_grows_along_a_line_that_runs_off_its_side() -> None:
    # A window at x 500..800 of an 840-wide photo whose read starts at its left edge: the line's
    # keyword ("PRO.DATE") is left of the window. It grows 8 line heights left (416 px), and up and
    # down as far as a line of that box's slant (52 / 259) can climb over 416 px: 83.5 px.
    window = Window(500, 100, 800, 260, detection_index=0)
    (grown_window,) = grown(SHAPE, [window], [[_line(0, 97, 259, 149)]], _date_in) or []
    assert grown_window == Window(500 - 8 * 52, 16, 800, 344, detection_index=0)
    # The taller the line, the further: 60 high, 480 left and 111 down.
    (clipped,) = grown(SHAPE, [window], [[_line(0, 97, 259, 157)]], _date_in) or []
    assert (clipped.x1, clipped.y2) == (20, 371)
    # A long flat line climbs no more than one line height.
    (flat,) = grown(SHAPE, [window], [[_line(0, 97, 299, 127)]], _date_in) or []
    assert (flat.x1, flat.y1, flat.y2) == (500 - 240, 70, 290)


def test_a_slanted_line_that_leaves_through_the_bottom_is_followed_both_ways() -> None:
    # A dated line photographed at a slant, its box 300 x 90, cut by the window's bottom edge
    # ("Use by <OCT 25 2" of "Use by <OCT 25 2027>"): which end leaves is not known from the box,
    # so the window grows 8 line heights (720 px, here to the photo's sides) left and right, and
    # 216 px (720 x 90 / 300) up and down.
    window = Window(200, 300, 600, 420, detection_index=0)
    (grown_window,) = grown(SHAPE, [window], [[_line(40, 30, 340, 120)]], _date_in) or []
    assert grown_window == Window(0, 84, 840, 636, detection_index=0)
    # Through the top, alike; at the photo's top edge nothing is cut.
    (up,) = grown(SHAPE, [window], [[_line(40, 0, 340, 90)]], _date_in) or []
    assert (up.y1, up.y2) == (84, 636)
    assert grown(SHAPE, [Window(200, 0, 600, 120, 0)], [[_line(40, 0, 340, 90)]], _date_in) is None


def test_a_line_inside_its_window_or_at_the_photo_edge_grows_nothing() -> None:
    inside = Window(200, 200, 600, 300, detection_index=0)
    assert grown(SHAPE, [inside], [[_line(20, 20, 380, 60)]], _date_in) is None
    at_edge = Window(0, 200, 840, 300, detection_index=0)
    assert grown(SHAPE, [at_edge], [[_line(0, 20, 840, 60)]], _date_in) is None


def test_grown_windows_that_meet_are_merged_under_the_better_detection() -> None:
    left = Window(100, 300, 300, 360, detection_index=1)
    right = Window(400, 300, 600, 360, detection_index=0)
    reads = [[_line(20, 10, 200, 40)], [_line(0, 10, 150, 40)]]  # the right one's line runs off its left
    (merged,) = grown(SHAPE, [left, right], reads, _date_in) or []
    assert merged.detection_index == 0
    assert (merged.x1, merged.x2) == (100, 600)


def test_growth_stops_at_the_photo() -> None:
    window = Window(300, 20, 700, 600, detection_index=0)
    (grown_window,) = grown(SHAPE, [window], [[_line(0, 10, 400, 70)]], _date_in) or []
    assert grown_window == Window(0, 0, 840, 640, detection_index=0)


def test_a_cut_line_without_a_date_grows_nothing() -> None:
    # A label's nutrition text runs off windows all the time; only a dated line is followed.
    window = Window(500, 400, 800, 560, detection_index=0)
    assert (
        grown(SHAPE, [window], [[_line(0, 97, 259, 149, text="Reference Intakes of an")]], _date_in) is None
    )


def test_a_grown_read_stands_only_if_it_keeps_the_first_reads_dates() -> None:
    first = [[_line(0, 0, 100, 30, text="E: 12 APR 2024")], [_line(0, 0, 50, 20, text="LOT 7")]]
    more = [[_line(0, 0, 300, 30, text="PRO.DATE: 12 APR 2024")], [_line(0, 0, 50, 20, text="LOT 7")]]
    assert keeps_dates(first, more, _date_in)
    # The digits cut from the date's left come back: what was read is still there.
    assert keeps_dates(
        [[_line(0, 0, 100, 30, text="5/06/2026")]], [[_line(0, 0, 9, 9, text="EXP 15/06/2026")]], _date_in
    )
    # Read otherwise the second time (a 2 read as E): the first reads stand.
    cut_read = [[_line(0, 0, 100, 30, text="21/11/2025")]]
    assert not keeps_dates(cut_read, [[_line(0, 0, 300, 30, text="BBD: E1/11/2025")]], _date_in)


def test_letters_read_as_look_alike_digits_keep_the_date() -> None:
    # "Use by <OCT 25 2" cut by its window, read whole when grown but with the O as a zero: the same
    # print, so the grown read stands.
    def month_in(text: str) -> str | None:
        found = re.search(r"[O0]CT \d+", text)
        return None if found is None else found.group()

    first = [[_line(0, 0, 100, 30, text="Use by <OCT 25 2")]]
    assert keeps_dates(first, [[_line(0, 0, 300, 30, text="Use Dy <0CT 25 2027>")]], month_in)
    assert not keeps_dates(first, [[_line(0, 0, 300, 30, text="Use by <OCT 26 2027>")]], month_in)
    # Not the other way: a digit of the first read read as a letter loses the day (1 -> I).
    day_first = [[_line(0, 0, 100, 30, text="1 OCT 2026")]]
    assert not keeps_dates(day_first, [[_line(0, 0, 300, 30, text="EXP I OCT 2026")]], lambda t: t)
    assert keeps_dates(day_first, [[_line(0, 0, 300, 30, text="EXP 1 0CT 2026")]], lambda t: "1 OCT 2026")


def test_growth_up_and_down_is_at_most_a_45_degree_climb() -> None:
    # A fragment a few pixels wide, cut at the window's left: its box's slant says nothing; the
    # window grows no further up and down than it grows along the line.
    window = Window(400, 300, 600, 360, detection_index=0)
    (grown_window,) = grown(SHAPE, [window], [[_line(0, 10, 3, 40)]], _date_in) or []
    assert (grown_window.x1, grown_window.y1, grown_window.y2) == (400 - 240, 300 - 240, 360 + 240)


def _photo_line(text: str, x1: float, y1: float, x2: float, y2: float, detection_index: int = -1) -> OcrLine:
    return OcrLine(text, 0.9, BoundingBox(x1, y1, x2, y2), detection_index)


BIG = (3024, 4032, 3)


def test_a_text_window_reaches_four_text_heights_round_a_numbered_line() -> None:
    # 15 characters over 540 px: 60 px of text (0.6 of a height a glyph), in a 100 px box (a slant).
    lot = _photo_line("RC001:236401 B2", 1000, 1500, 1540, 1600)
    assert text_windows(BIG, [lot]) == [Window(760, 1260, 1780, 1840, -1)]


def test_only_the_whole_photo_s_lines_with_digits_get_text_windows() -> None:
    words = _photo_line("BEST If Used By", 1000, 1400, 1540, 1460)
    windowed = _photo_line("L2345 12:30", 200, 200, 500, 240, detection_index=0)
    assert text_windows(BIG, [words, windowed]) == []


def test_text_windows_are_merged_and_none_covers_a_quarter_of_the_photo() -> None:
    lot, time = _photo_line("L2345", 300, 300, 500, 340), _photo_line("12:30", 320, 350, 420, 390)
    huge = _photo_line("1234567", 0, 0, 4000, 1500)
    (window,) = text_windows(BIG, [lot, time, huge])
    # L2345: 40 px of text, 160 px round it; 12:30 inside that, its window merged into it.
    assert (window.x1, window.y1, window.x2, window.y2) == (140, 140, 660, 523)


def test_a_merged_text_window_keeps_the_rank_of_its_best_line() -> None:
    # A dated line with a time under it, whose windows merge, against two lines elsewhere with
    # fewer digits each: the date's window comes first, not last for being merged.
    date, time = _photo_line("EXP 12/05/2027", 300, 300, 804, 360), _photo_line("12:30", 300, 380, 480, 440)
    others = [_photo_line("500g 1234", 2000, 300, 2324, 360), _photo_line("L12345", 3000, 300, 3216, 360)]
    windows = text_windows(BIG, [date, time, *others])
    assert windows[0].x1 < 300 and windows[0].y2 > 440


def test_text_windows_go_to_the_lines_with_the_most_digits() -> None:
    lines = [
        _photo_line("L" + "7" * (index + 2), 300 + 900 * index, 300, 500 + 900 * index, 340)
        for index in range(4)
    ]
    windows = text_windows(BIG, lines)
    assert len(windows) == MAX_TEXT_WINDOWS
    # L7777 (x 3000) and L777 (x 2100), not L77 nor L7: 5 and 4 digits before 3 and 2.
    assert sorted(w.x1 for w in windows) == [1940, 2840]
