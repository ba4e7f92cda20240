"""pipeline/stacked_lines.py: a text box of stacked printed lines split one box a line."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.date_detector.scenes import dot_cells
from pipeline.stacked_lines import MAX_LINES, split_stacked


def _dot_lines(lines: list[str], pitch: float, gap_pitches: float, *, radius: float = 0.4) -> np.ndarray:
    """Dark 5x7 dot-matrix lines on white, ``gap_pitches`` of dot pitch between them."""
    height = int(len(lines) * 7 * pitch + (len(lines) - 1) * gap_pitches * pitch + 2 * pitch)
    width = int(max(len(text) for text in lines) * 6 * pitch + 2 * pitch)
    image = np.full((height, width, 3), 235, np.uint8)
    for index, text in enumerate(lines):
        top = pitch + index * (7 + gap_pitches) * pitch
        for row, column in dot_cells(text, 7):
            centre = (round(pitch + (column + 0.5) * pitch), round(top + (row + 0.5) * pitch))
            cv2.circle(image, centre, max(1, round(radius * pitch)), (30, 30, 30), -1, cv2.LINE_AA)
    return image


def _whole(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])


def _tops(quads: list[np.ndarray]) -> list[float]:
    return [float(quad[0][1]) for quad in quads]


@pytest.mark.parametrize("pitch", [4.0, 7.0, 12.0])
def test_a_box_of_two_dot_matrix_lines_is_split_between_them(pitch: float) -> None:
    image = _dot_lines(["22.06.23", "05.07.23"], pitch, gap_pitches=2.0)
    parts = split_stacked(image, [_whole(image)])
    assert len(parts) == 2
    # The cut runs through the gap: below the first line's last dot row, above the second's first.
    cut = parts[0][3][1]
    assert pitch + 7 * pitch - 1 <= cut <= pitch + 9 * pitch + 1
    assert np.allclose(parts[0][0], _whole(image)[0]) and np.allclose(parts[1][2], _whole(image)[2])


def test_a_box_of_three_lines_gives_three_in_reading_order() -> None:
    image = _dot_lines(["12.05.23", "06.11.23", "02:59:11"], 6.0, gap_pitches=1.5)
    parts = split_stacked(image, [_whole(image)])
    assert len(parts) == 3 == MAX_LINES
    assert _tops(parts) == sorted(_tops(parts))


@pytest.mark.parametrize("text", ["EXP 16/11/2026", "L2309 14:05", "USE BY 12 AUG"])
def test_one_dot_matrix_line_is_never_split_between_its_rows_of_dots(text: str) -> None:
    # Pitches of 2.5 to 14.5 px and drops of 0.2 to 0.5 of the pitch: rows of dots sampled
    # unevenly leave empty bands of uneven width inside the line, none of them a gap.
    for pitch in np.arange(2.5, 15.0, 1.0):
        for radius in (0.2, 0.3, 0.4, 0.5):
            image = _dot_lines([text], float(pitch), gap_pitches=0, radius=radius)
            assert len(split_stacked(image, [_whole(image)])) == 1, (pitch, radius)


def test_two_dot_matrix_lines_are_split_at_most_pitches_and_gaps() -> None:
    split = [
        len(split_stacked(image, [_whole(image)])) == 2
        for pitch in np.arange(2.5, 15.0, 1.0)
        for radius in (0.2, 0.3, 0.4, 0.5)
        for gap in (1.0, 2.0, 3.0)
        if (image := _dot_lines(["EXP 16/11/2026", "05.07.23"], float(pitch), gap, radius=radius)) is not None
    ]
    assert sum(split) >= 0.95 * len(split)


def test_solid_print_lines_split_and_a_single_one_does_not() -> None:
    two = np.full((120, 420, 3), 250, np.uint8)
    cv2.putText(two, "BEST BEFORE", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (20, 20, 20), 3)
    cv2.putText(two, "12 AUG 2027", (10, 105), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (20, 20, 20), 3)
    one = two[:60].copy()
    assert len(split_stacked(two, [_whole(two)])) == 2
    assert len(split_stacked(one, [_whole(one)])) == 1


def test_white_print_on_dark_is_split_too() -> None:
    image = 255 - _dot_lines(["22.06.23", "05.07.23"], 6.0, gap_pitches=2.0)
    assert len(split_stacked(image, [_whole(image)])) == 2


def test_a_sliver_of_a_line_the_box_cut_stays_with_its_neighbour() -> None:
    image = _dot_lines(["22.06.23", "05.07.23"], 6.0, gap_pitches=2.0)
    # Keep the first line whole and only the top two dot rows of the second.
    cut = image[: int(6.0 + 9 * 6.0 + 2 * 6.0)]
    assert len(split_stacked(cut, [_whole(cut)])) == 1


def test_small_and_degenerate_boxes_are_kept_as_they_are() -> None:
    image = _dot_lines(["22.06.23", "05.07.23"], 1.0, gap_pitches=2.0)[:15]  # too few rows to judge
    small = _whole(image)
    flat = np.float32([[0, 0], [10, 0], [10, 0], [0, 0]])
    blank = np.full((80, 80, 3), 200, np.uint8)
    assert [q.tolist() for q in split_stacked(image, [small, flat])] == [small.tolist(), flat.tolist()]
    assert len(split_stacked(blank, [_whole(blank)])) == 1


# --- through the real OCR models -------------------------------------------------------------------


def _code_photo(pitch: float, gap: float, radius: float) -> np.ndarray:
    """A 1000x600 carton with a two-line dot-matrix code: the text detector joins its lines."""
    lines = _dot_lines(["22.06.23", "05.07.23"], pitch, gap, radius=radius)
    photo = np.full((600, 1000, 3), 235, np.uint8)
    height, width = lines.shape[:2]
    photo[100 : 100 + height, 150 : 150 + width] = lines
    return photo


_CODES = [(6.0, 1.0, 0.3), (6.0, 2.0, 0.4), (9.0, 1.0, 0.4), (9.0, 1.5, 0.3)]


@pytest.mark.slow
def test_the_ocr_reads_both_lines_of_a_code_it_boxed_as_one() -> None:
    import asyncio

    from pipeline.batched_ocr import BatchedOcr
    from pipeline.config import OcrConfig, RuntimeConfig
    from pipeline.executor import PriorityExecutor
    from pipeline.ocr import OcrEngine

    def batched(engine: OcrEngine, image: np.ndarray) -> list[str]:
        async def main() -> list[str]:
            executor = PriorityExecutor(2)
            ocr = BatchedOcr(engine, engine.batching, executor)
            try:
                return [line.text for line in await ocr.read(image, key=(0, 0))]
            finally:
                await ocr.aclose()
                executor.shutdown()

        return asyncio.run(main())

    runtime = RuntimeConfig(providers=("cpu",))
    split, whole = (
        OcrEngine.load(OcrConfig(), runtime),
        OcrEngine.load(OcrConfig(split_stacked_lines=False), runtime),
    )
    both = ["22.06.23", "05.07.23"]
    for pitch, gap, radius in _CODES:
        photo = _code_photo(pitch, gap, radius)
        assert [line.text for line in split.read(photo)] == both, (pitch, gap, radius)
        assert batched(split, photo) == both, (pitch, gap, radius)
    # Without the split, the joined box reads as one garbled line ("33:89:23") on these codes.
    unsplit = [[line.text for line in whole.read(_code_photo(*code))] for code in _CODES]
    assert all(read != both for read in unsplit), unsplit


def test_a_vertical_line_is_never_cut_at_its_word_gaps() -> None:
    # A line turned by 90 degrees: its box is tall and narrow, and the gaps between its words run
    # across it like gaps between lines. pipeline.ocr reads such a box turned, whole.
    line = np.full((60, 520, 3), 250, np.uint8)
    cv2.putText(line, "EXP 12.06.2026", (8, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (20, 20, 20), 3)
    turned = np.ascontiguousarray(np.rot90(line))
    assert len(split_stacked(turned, [_whole(turned)])) == 1


def test_a_box_with_corners_not_numbers_is_kept() -> None:
    image = _dot_lines(["22.06.23", "05.07.23"], 6.0, gap_pitches=2.0)
    quad = _whole(image)
    quad[2, 0] = np.nan
    assert len(split_stacked(image, [quad])) == 1
