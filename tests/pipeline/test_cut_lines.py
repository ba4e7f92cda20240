"""Text lines the text detector cut short, grown along their line or bridged, and read again
(pipeline/cut_lines.py).

The boxes here are laid out by hand as the detector leaves them on the photos that showed the
failure: an inkjet code whose box ends where the print crosses onto a lighter picture
(realworld-dev 050), a line cut in two with its middle lost (hard set v2 940221). The last tests
read labels on the shipped models: one whose box is cut by hand where the detector cut those, and
one whose faint middle the detector itself loses, through both of the pipeline's paths.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import cv2
import numpy as np
import pytest

from pipeline import PipelineConfig, ProcessOptions, load_pipeline
from pipeline import ocr as ocr_module
from pipeline.ctc import Read
from pipeline.cut_lines import (
    BRIDGE_HEIGHTS,
    GROW_HEIGHTS,
    MAX_GROWN,
    Regrowth,
    cut_ends,
    grown_quad,
    holds,
    spliced,
    to_grow,
    with_grown,
)
from pipeline.ocr import OcrEngine


def _box(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("BB: 09.", (False, True)),  # a day and its separator: the month and year were cut
        ("FAB 21", (False, True)),
        ("78BF180", (False, True)),  # BBF and three digits of 180526
        ("EXP 2", (False, True)),
        ("21/", (False, True)),
        ("BBF 18.05.2", (False, True)),  # a year cut after its first digit
        ("18.0", (False, True)),
        ("-2024", (True, False)),
        ("/06/27", (True, False)),
        ("1.07.2027", (True, False)),  # coders print the day as two digits
        ("2-07-2024", (True, False)),
        ("8.0g", (False, False)),  # a weight
        ("1.99", (False, False)),  # a price
        (".12.", (True, True)),
        ("EXP 12/05/2027", (False, False)),
        ("12.05.27", (False, False)),
        ("LOT 792066", (False, False)),  # six digits: a whole date or a lot number, not cut
        ("Packed on 18.04.28", (False, False)),
        ("400g", (False, False)),
        ("£1.50", (False, False)),
        ("03 06", (False, True)),  # HSD 03 06 27 in dots that fade before the year
        ("HSD 03 06", (False, True)),
        ("28 09 2", (False, True)),
        ("03 06 27", (False, False)),
        ("03 06 2027", (False, False)),
        ("LOT 1203 06", (False, False)),  # a lot number's digits before the pair
        ("12 50", (False, False)),  # no month
        ("18.03 06", (False, False)),
        ("", (False, False)),
    ],
)
def test_a_read_looks_cut_where_a_date_cannot_end_or_begin(text: str, ends: tuple[bool, bool]) -> None:
    assert cut_ends(text) == ends


def test_a_box_grows_along_its_line_at_its_cut_end_within_the_image() -> None:
    box = _box(200, 50, 300, 70)  # 20 px high
    grown = grown_quad(box, start=False, end=True, image_shape=(200, 1000, 3))
    assert grown is not None
    assert np.allclose(grown[[0, 3]], box[[0, 3]])  # the start stays
    assert np.allclose(grown[[1, 2], 0], 300 + GROW_HEIGHTS * 20)
    # At the image's right border it grows as far as the image goes, and not at all past it.
    near_border = grown_quad(box, start=True, end=True, image_shape=(200, 320, 3))
    assert near_border is not None
    assert np.allclose(near_border[[1, 2], 0], 319)
    assert np.allclose(near_border[[0, 3], 0], 200 - GROW_HEIGHTS * 20)
    assert grown_quad(_box(900, 50, 999, 70), start=False, end=True, image_shape=(200, 1000, 3)) is None


def test_a_turned_box_grows_along_its_own_line_and_a_vertical_one_not_at_all() -> None:
    turned = cv2.boxPoints(((500.0, 500.0), (200.0, 20.0), 30.0)).astype(np.float32)
    # boxPoints' order differs from the detector's: lay it out clockwise from the top left.
    start = int(np.argmin(turned.sum(axis=1)))
    turned = np.roll(turned, -start, axis=0)
    grown = grown_quad(turned, start=False, end=True, image_shape=(1000, 1000, 3))
    assert grown is not None
    moved = grown[1] - turned[1]
    along = (turned[1] - turned[0]) / np.linalg.norm(turned[1] - turned[0])
    assert np.isclose(np.linalg.norm(moved), GROW_HEIGHTS * 20, rtol=0.01)
    assert np.isclose(abs(float(moved @ along)), np.linalg.norm(moved), rtol=1e-4)
    assert grown_quad(_box(100, 100, 120, 300), start=False, end=True, image_shape=(1000, 1000, 3)) is None


def test_two_boxes_of_one_cut_line_are_bridged_not_grown_twice() -> None:
    """``FAB 21`` and ``.2027``: each grown alone would read the date twice, once without FAB."""
    quads = [_box(100, 100, 220, 130), _box(300, 102, 400, 131), _box(100, 200, 300, 230)]
    regrowths = to_grow(quads, ["FAB 21", ".2027", "LOT 792066"], (1000, 1000, 3))
    assert [regrowth.boxes for regrowth in regrowths] == [(0, 1)]
    bridge = regrowths[0].quad
    assert np.allclose(bridge[[0, 3]], quads[0][[0, 3]])
    assert np.allclose(bridge[[1, 2]], quads[1][[1, 2]])  # 'FAB 21.2027' no longer looks cut


def test_a_bridge_whose_reads_run_together_look_cut_grows_past_its_second_box() -> None:
    """``78BF180`` and ``5`` of ``7BBF180526`` (realworld-dev 050): ``78BF1805`` is still cut."""
    quads = [_box(100, 100, 400, 140), _box(450, 100, 480, 140)]
    (regrowth,) = to_grow(quads, ["78BF180", "5"], (1000, 1000, 3))
    assert regrowth.boxes == (0, 1)
    assert np.allclose(regrowth.quad[[1, 2], 0], 480 + GROW_HEIGHTS * 40)


def test_a_turned_read_grows_at_its_printed_end_on_the_images_left() -> None:
    """Read upside down, ``BB: 09.`` prints from the image's right to its left: its cut end, where
    the month and year went on, is the box's left end (it grew at the right before, where the
    printed line began, and the grown read could not hold the first)."""
    quad = _box(400, 100, 520, 130)
    (upright,) = to_grow([quad], ["BB: 09."], (1000, 1000, 3))
    (turned,) = to_grow([quad], ["BB: 09."], (1000, 1000, 3), [True])
    assert (upright.start, upright.end, upright.turned) == (False, True, False)
    assert (turned.start, turned.end, turned.turned) == (False, True, True)
    assert np.allclose(upright.quad[:, 0], [400, 520 + GROW_HEIGHTS * 30, 520 + GROW_HEIGHTS * 30, 400])
    assert np.allclose(turned.quad[:, 0], [400 - GROW_HEIGHTS * 30, 520, 520, 400 - GROW_HEIGHTS * 30])
    (begun,) = to_grow([quad], ["-2024"], (1000, 1000, 3), [True])  # cut at its printed start: the right
    assert np.allclose(begun.quad[:, 0], [400, 520 + GROW_HEIGHTS * 30, 520 + GROW_HEIGHTS * 30, 400])


def test_two_turned_pieces_of_a_line_are_bridged_right_to_left() -> None:
    """``FAB 21`` and ``.2027`` read upside down: ``FAB 21`` is the right box, and its line goes on
    to the left. Bridged, the two are read as one, in printed order; upright reads in the same
    places are two lines each cut where nothing continues them."""
    quads = [_box(100, 100, 200, 130), _box(260, 102, 380, 131)]
    texts = [".2027", "FAB 21"]
    (bridge,) = to_grow(quads, texts, (1000, 1000, 3), [True, True])
    assert (bridge.boxes, bridge.turned) == ((0, 1), True)
    assert np.allclose(bridge.quad[[0, 3]], quads[0][[0, 3]])
    assert np.allclose(bridge.quad[[1, 2]], quads[1][[1, 2]])
    reads = [Read(".2027", 0.9, turned=True), Read("FAB 21", 0.9, turned=True)]
    _, kept = with_grown(quads, reads, [bridge], [Read("FAB 21.07.2027", 0.8, turned=True)])
    assert [read.text for read in kept] == ["FAB 21.07.2027"]
    assert [regrowth.boxes for regrowth in to_grow(quads, texts, (1000, 1000, 3))] == [(1,), (0,)]
    # A piece read the other way up is no piece of the line: not bridged to, grown over.
    (grown,) = to_grow(quads, texts, (1000, 1000, 3), [False, True])
    assert (grown.boxes, grown.end) == ((0, 1), True)
    assert np.allclose(grown.quad[:, 0], [260 - GROW_HEIGHTS * 29, 380, 380, 260 - GROW_HEIGHTS * 29])


def test_a_box_on_another_line_or_of_another_size_is_not_bridged() -> None:
    below = [_box(100, 100, 220, 130), _box(240, 125, 400, 155)]  # its start 25 px lower: 0.8 heights
    assert [regrowth.boxes for regrowth in to_grow(below, ["FAB 21", ".2027"], (1000, 1000, 3))] == [
        (0,),
        (1,),
    ]
    taller = [_box(100, 100, 220, 130), _box(240, 90, 400, 150)]  # twice the height
    assert [regrowth.boxes for regrowth in to_grow(taller, ["FAB 21", "Crispy"], (1000, 1000, 3))] == [(0,)]
    far = [_box(100, 100, 220, 130), _box(220 + 30 * BRIDGE_HEIGHTS + 10, 100, 600, 130)]
    assert [regrowth.boxes for regrowth in to_grow(far, ["FAB 21", ".2027"], (1000, 1000, 3))] == [(0,), (1,)]


def test_at_most_max_grown_boxes_of_a_read_are_read_again() -> None:
    quads = [_box(100, 40 * row, 200, 40 * row + 20) for row in range(MAX_GROWN + 5)]
    assert len(to_grow(quads, ["EXP 1"] * len(quads), (2000, 1000, 3))) == MAX_GROWN
    curved = [np.array([[0, 0], [50, 5], [100, 0], [100, 20], [50, 25], [0, 20]], dtype=np.float32)]
    assert to_grow(curved, ["EXP 1"], (1000, 1000, 3)) == []


@pytest.mark.parametrize(
    ("reads", "grown", "ends", "kept"),
    [
        (["78BF180"], "78BF180526", (False, True), True),
        (["BB: 09."], "BB: 09.12.2028", (False, True), True),
        (["-2024"], "EXP 28-07-2024", (True, False), True),
        (["FAB 21", ".2027"], "FAB 21.07.2027", (False, False), True),  # a bridge
        (["FAB 21", ".2027"], ".2027 FAB 21", (False, False), False),  # out of order
        (["FAB 21", ".2027"], "FAB 21.07.2027 L6", (False, False), False),  # ends past its last box
        (["BB: 09."], "3 BB: 09.12.2028", (False, True), False),  # grew at its end, read on at its start
        (["LOT 792066"], "L0T792066", (False, True), False),  # read differently: the first read stays
        (["EXP 1"], "EXP 1 Crispy", (False, True), False),  # no digit more
        (["78BF180", "5"], "78BF1805", (False, False), False),  # the two together, nothing read on
        (["LOT A12345", "TIME 12:30"], "LOT A12345 TIME 12:30", (False, False), False),  # two columns
        (["-2024"], "2-07-2024", (True, False), False),  # still cut where it grew: 28 misread
        (["BBF 18"], "BBF 18.05.2", (False, True), False),
        ([""], "12.05.27", (True, True), False),
    ],
)
def test_a_grown_read_is_kept_only_where_it_holds_the_first_whole_and_reads_on(
    reads: list[str], grown: str, ends: tuple[bool, bool], kept: bool
) -> None:
    assert holds(reads, grown, *ends) is kept


@pytest.mark.parametrize(
    ("reads", "grown", "ends", "kept"),
    [
        (["BB: 09."], "BB: 09.12.2028", (False, True), "BB: 09.12.2028"),  # held whole: the grown read
        # A Thai keyword read as other letters the second time (realworld-dev 033 at 1,024 px): the
        # first read's words, the grown read's number.
        (["HNGOTU 09-10-"], "HNGOU 09-10-25", (False, True), "HNGOTU 09-10-25"),
        (["HNGOTU 09-10-"], "HNGOU 09-10-25  ", (False, True), "HNGOTU 09-10-25"),
        (["HNGOTU 09-10-"], "HNGOU 09-10-2", (False, True), None),  # still cut
        (["HNGOTU 09-10-"], "HNGOU 09-1O-25", (False, True), None),  # the number read otherwise
        (["HNGOTU 09-10-"], "HNGOU409-10-25", (False, True), None),  # not after a word
        (["HNGOTU 09-10-"], "HNGOU 09-10-", (False, True), None),  # no digit more
        (["EXP 1"], "E1P 12.05.2026", (False, True), None),  # one digit: no number to find again
        (["09-10-"], "X 09-10-25", (False, True), None),  # no words: holds() alone judges
        (["-2024"], "EXP 28-07-2O24", (True, False), None),  # grown at its start
        (["HNGOTU 09-10-", "25"], "HNGOU 09-10-25", (False, True), None),  # a bridge
        # The number where the first read was cut, not one earlier on the line that starts alike.
        (["LOT 251230 EXP 25"], "L0T 251230 EXP 25/06/26", (False, True), "LOT 251230 EXP 25/06/26"),
        (["MFG 01/02/24 EXP 01"], "MFC 01/02/24 EXP 01/02/27", (False, True), "MFG 01/02/24 EXP 01/02/27"),
        (["BBE 05"], "BBF 15/05/2026", (False, True), None),  # not the month of another number
        (["LOT 251230 EXP 25"], "L0T 251230 EXP", (False, True), None),
    ],
)
def test_a_grown_read_whose_words_read_otherwise_is_read_on_from_its_number(
    reads: list[str], grown: str, ends: tuple[bool, bool], kept: str | None
) -> None:
    assert spliced(reads, grown, *ends) == kept


def test_kept_regrowths_replace_their_boxes_and_a_bridge_drops_its_second() -> None:
    quads = [_box(0, 0, 10, 5), _box(20, 0, 30, 5), _box(0, 50, 10, 55), _box(0, 90, 10, 95)]
    reads = [Read("FAB 21", 0.9), Read(".2027", 0.9), Read("EXP 1", 0.9), Read("BB: 09.", 0.9)]
    regrowths = [
        Regrowth((0, 1), _box(0, 0, 30, 5)),
        Regrowth((2,), _box(0, 50, 40, 55), end=True),
        Regrowth((3,), _box(0, 90, 40, 95), end=True),
    ]
    grown_reads = [Read("FAB 21.07.2027", 0.8), Read("EXP 1 Crispy", 0.7), Read("BB: 09.12.2028", 0.8)]
    new_quads, new_reads = with_grown(quads, reads, regrowths, grown_reads)
    assert [read.text for read in new_reads] == ["FAB 21.07.2027", "EXP 1", "BB: 09.12.2028"]
    # Spliced: the first read's words and the grown read's number, at the lower of the two scores.
    cut = Regrowth((0,), _box(0, 50, 40, 55), end=True)
    _, spliced_reads = with_grown(
        quads[2:3], [Read("HNGOTU 09-10-", 0.9)], [cut], [Read("HNGOU 09-10-25", 0.8)]
    )
    assert spliced_reads == [Read("HNGOTU 09-10-25", 0.8)]
    assert np.allclose(new_quads[0], regrowths[0].quad)
    assert np.allclose(new_quads[1], quads[2])
    assert np.allclose(new_quads[2], regrowths[2].quad)


# -- on the shipped models


def _label() -> tuple[np.ndarray, np.ndarray]:
    """A white label with ``BBF 18.05.2026`` in a plain font, and the box around all of it."""
    image = np.full((120, 700, 3), 255, dtype=np.uint8)
    cv2.putText(
        image, "BBF 18.05.2026", (30, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA
    )
    ink = np.argwhere(image[..., 0] < 128)
    (y1, x1), (y2, x2) = ink.min(axis=0), ink.max(axis=0)
    return image, _box(x1 - 6, y1 - 6, x2 + 6, y2 + 6)


@pytest.fixture(scope="module")
def engines() -> dict[bool, OcrEngine]:
    config = PipelineConfig()
    return {
        grow: OcrEngine.load(
            dataclasses.replace(config.ocr, grow_cut_lines=grow, coder_det_model_name=""), config.runtime
        )
        for grow in (False, True)
    }


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.45, 0.7])
def test_a_box_cut_inside_its_date_is_grown_and_read_whole(
    engines: dict[bool, OcrEngine], share: float
) -> None:
    """The label's box cut short, as the detector cuts a line where the print fades (after ``BBF
    18``, after ``BBF 18.05.2``): read as cut, no whole date; grown along its line, the date."""
    image, whole = _label()
    cut = whole.copy()
    cut[[1, 2], 0] = whole[0, 0] + share * (whole[1, 0] - whole[0, 0])
    engine = engines[True]
    (first,) = engine._read_boxes(image, [cut])
    assert first.text.replace(" ", "").startswith("BBF18")
    assert "2026" not in first.text
    regrowths = engine.cut_lines(image, [cut], [first])
    assert [regrowth.boxes for regrowth in regrowths] == [(0,)]
    _, reads = with_grown([cut], [first], regrowths, engine._read_boxes(image, [regrowths[0].quad]))
    assert reads[0].text.replace(" ", "") == "BBF18.05.2026"
    assert engines[False].cut_lines(image, [cut], [first]) == []


@pytest.mark.slow
def test_an_upside_down_box_cut_inside_its_date_is_grown_at_its_printed_end(
    engines: dict[bool, OcrEngine],
) -> None:
    """The label upside down, its box cut after ``BBF 18`` as printed: that is the box's right
    part in the image. The crop is read turned, and grown to the image's left it reads whole."""
    image, whole = _label()
    image = cv2.rotate(image, cv2.ROTATE_180)
    height, width = image.shape[:2]
    whole = np.array([[width - 1 - x, height - 1 - y] for x, y in whole[[2, 3, 0, 1]]], dtype=np.float32)
    cut = whole.copy()
    cut[[0, 3], 0] = whole[1, 0] - 0.45 * (whole[1, 0] - whole[0, 0])
    engine = engines[True]
    (first,) = engine._read_boxes(image, [cut])
    assert first.turned
    assert first.text.replace(" ", "").startswith("BBF18")
    assert "2026" not in first.text
    (regrowth,) = engine.cut_lines(image, [cut], [first])
    assert regrowth.turned and regrowth.end
    assert regrowth.quad[0, 0] < cut[0, 0] and np.isclose(regrowth.quad[1, 0], cut[1, 0])
    (again,) = engine._read_boxes(image, [regrowth.quad])
    _, reads = with_grown([cut], [first], [regrowth], [again])
    assert reads[0].text.replace(" ", "") == "BBF18.05.2026"


def _faded_label() -> bytes:
    """``EXP 21.07.2027`` with its ``.07`` printed faint (ink 228 on 245): the text detector boxes
    ``EXP 21`` and ``.2027`` and loses the middle, as it does where dot-matrix print thins out."""
    image = np.full((220, 760, 3), 245, dtype=np.uint8)
    x = 30
    for part, ink in (("EXP 21", 30), (".07", 228), (".2027", 30)):
        cv2.putText(image, part, (x, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (ink, ink, ink), 3, cv2.LINE_AA)
        x += cv2.getTextSize(part, cv2.FONT_HERSHEY_SIMPLEX, 1.6, 3)[0][0]
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("way", ["process", "aprocess"])
def test_a_line_cut_in_two_is_bridged_and_read_whole_on_both_paths(
    way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole photo read (no date detector, no second chance): with its boxes bridged, the line
    reads ``EXP 21.07.2027``; without, ``EXP 21 .2027``, no date. The label is a strip, read blown
    up 3.3 times as the whole-image rule reads a photo that small, where the detector loses the
    faint middle; a strip this tight is otherwise read at its own size (pipeline/ocr.py,
    ``_STRIP_MAX_UPSCALE``), which finds the middle without bridging."""
    monkeypatch.setattr(ocr_module, "_STRIP_MAX_UPSCALE", float("inf"))
    options = ProcessOptions(reference_date=dt.date(2026, 11, 30))
    answers = {}
    for grow in (False, True):
        config = PipelineConfig(use_detector=False, second_chance=False)
        config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, grow_cut_lines=grow))
        with load_pipeline(config) as pipeline:
            if way == "process":
                result = pipeline.process(_faded_label(), options)
            else:
                result = asyncio.run(pipeline.aprocess(_faded_label(), options))
        answers[grow] = (result.best_date, [line.text for line in result.ocr_lines])
    best, lines = answers[True]
    assert best is not None and best.date == dt.date(2027, 7, 21)
    assert lines == ["EXP 21.07.2027"]
    assert answers[False][0] is None


def test_a_cut_read_with_a_date_keyword_is_grown_before_a_tables_rows() -> None:
    """A nutrition table's rows look cut too (``Fat 3.5``): with more of them than ``MAX_GROWN``
    above it, the cut date line ``BB: 09.`` still gets its place, and first."""
    rows = [
        "Fat 3.5",
        "Energy 250",
        "Salt 0.5",
        "Sugars 12",
        "Protein 3.1",
        "Fibre 2.2",
        "Carbs 40",
        "Sat 1.2",
    ]
    texts = [*rows, "Kcal 120", "BB: 09."]
    quads = [_box(100, 40 * row, 200, 40 * row + 20) for row in range(len(texts))]
    regrowths = to_grow(quads, texts, (2000, 1000, 3))
    assert len(regrowths) == MAX_GROWN
    assert regrowths[0].boxes == (len(texts) - 1,)
    assert [regrowth.boxes for regrowth in regrowths[1:]] == [(row,) for row in range(MAX_GROWN - 1)]
