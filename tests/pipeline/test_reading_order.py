"""pipeline/ocr.py: text boxes in reading order, along the text's own rows when it is turned."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.ocr import line_angle, quad_reading_order


def _box(x: float, y: float, width: float, height: float, degrees: float) -> np.ndarray:
    """A text box whose top-left corner is (x, y), turned by ``degrees`` about it (y down:
    positive turns clockwise), corners from top-left, clockwise."""
    turn = math.radians(degrees)
    along = np.array([math.cos(turn), math.sin(turn)])
    down = np.array([-math.sin(turn), math.cos(turn)])
    corner = np.array([x, y])
    return np.array(
        [corner, corner + width * along, corner + width * along + height * down, corner + height * down],
        dtype=np.float32,
    )


def _code(degrees: float) -> tuple[list[np.ndarray], list[str]]:
    """Two printed lines of two boxes each ("MFG." "24.02.26" over "Use by" "09.08.26"), turned
    by ``degrees`` about the first line's start, and the names in reading order."""
    turn = math.radians(degrees)
    along = np.array([math.cos(turn), math.sin(turn)])
    down = np.array([-math.sin(turn), math.cos(turn)])
    origin = np.array([300.0, 300.0])
    boxes = {}
    for name, (ax, dy, width) in {
        "MFG.": (0, 0, 120),
        "24.02.26": (150, 0, 220),
        "Use by": (0, 60, 150),
        "09.08.26": (180, 60, 220),
    }.items():
        x, y = origin + ax * along + dy * down
        boxes[name] = _box(x, y, width, 40, degrees)
    return list(boxes.values()), list(boxes)


@pytest.mark.parametrize("degrees", [-45.0, -30.0, -12.0, 12.0, 30.0, 45.0])
def test_the_lines_of_a_turned_code_come_in_their_own_order(degrees: float) -> None:
    boxes, names = _code(degrees)
    assert line_angle(boxes) == pytest.approx(degrees, abs=0.01)
    by_id = {id(box): name for box, name in zip(boxes, names, strict=True)}
    shuffled = [boxes[i] for i in (3, 1, 2, 0)]

    ordered = [by_id[id(box)] for box in quad_reading_order(shuffled)]

    assert ordered == names


def test_level_and_slightly_turned_text_keeps_the_image_rows() -> None:
    # Under 10 degrees the image's rows are the text's: the order is the one used before.
    boxes, names = _code(5.0)
    by_id = {id(box): name for box, name in zip(boxes, names, strict=True)}
    assert [by_id[id(box)] for box in quad_reading_order(boxes[::-1])] == names
    # Fewer than two line-shaped boxes say nothing of the angle.
    assert line_angle([_box(0, 0, 100, 40, 30.0)]) == 0.0
    assert line_angle([_box(0, 0, 40, 40, 30.0), _box(0, 100, 40, 40, 30.0)]) == 0.0
