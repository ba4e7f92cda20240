"""The detector's synthetic packaging scenes (models/date_detector/scenes.py): every date line boxed.

Numpy/OpenCV only (and the date parser): these run without the training extra.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from models.date_detector.scenes import PRINT_STYLES, SURFACES, render_scene
from pipeline.dates import parse_dates

# Rendered once for the coverage tests: 160 scenes take a few seconds.
_SURVEY_SEEDS = range(160)
_REFERENCE = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def survey() -> list:
    return [render_scene(seed) for seed in _SURVEY_SEEDS]


def test_a_seed_renders_the_same_scene_with_or_without_the_ink_map() -> None:
    first, again, inked, other = (
        render_scene(11),
        render_scene(11),
        render_scene(11, with_ink=True),
        render_scene(12),
    )
    assert np.array_equal(first.image, again.image) and np.array_equal(first.image, inked.image)
    assert first.lines == again.lines == inked.lines
    assert (first.style, first.surface, first.angle) == (inked.style, inked.surface, inked.angle)
    assert first.ink is None and inked.ink is not None
    assert not np.array_equal(first.image[:100, :100], other.image[:100, :100]) or first.lines != other.lines


def test_a_given_size_is_kept() -> None:
    scene = render_scene(3, (500, 300))
    assert scene.image.shape == (300, 500, 3)


@pytest.mark.parametrize("seed", range(40))
def test_every_date_line_is_boxed_tightly_round_its_own_ink(seed: int) -> None:
    scene = render_scene(seed, with_ink=True)
    assert scene.ink is not None
    height, width = scene.image.shape[:2]
    assert scene.lines[0].role == "expiry" and scene.box == scene.lines[0].box
    assert set(np.unique(scene.ink)) == {0, *range(1, len(scene.lines) + 1)}, "ink of a line left unboxed"
    assert np.array_equal(scene.boxes, np.array([line.box for line in scene.lines], dtype=np.float32))
    for index, line in enumerate(scene.lines, start=1):
        x1, y1, x2, y2 = line.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        ys, xs = np.nonzero(scene.ink == index)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)


def _ink_stands_out(grey: np.ndarray, marked: np.ndarray) -> bool:
    """Whether the marked pixels of a box stray further from its surface than the others do."""
    if not marked.any() or marked.all():
        return False
    surface = np.median(grey[~marked])
    return float(np.abs(grey[marked] - surface).mean()) > float(np.abs(grey[~marked] - surface).mean())


def test_the_ink_map_lies_on_the_print_in_the_photo() -> None:
    """The boxes come from the ink map, so the map must sit on what the photo shows.

    Per line: do the pixels the map marks as ink differ from the box's surface more than the
    rest of the box? Glare, blur, faint ink and busy print behind make single lines fail, so the
    share over 60 scenes is compared with the same map moved by a third of a line's height,
    which a misaligned map would be.
    """
    aligned, moved = [], []
    for seed in range(60):
        scene = render_scene(seed, with_ink=True)
        assert scene.ink is not None
        if scene.style == "embossed":
            continue  # raised print has no ink colour: its highlight and shadow average out
        grey = scene.image.astype(np.float32).mean(axis=2)
        for index, line in enumerate(scene.lines, start=1):
            x1, y1, x2, y2 = (int(v) for v in line.box)
            shift = max(2, min(x2 - x1, y2 - y1) // 3)
            window = grey[y1:y2, x1:x2]
            aligned.append(_ink_stands_out(window, scene.ink[y1:y2, x1:x2] == index))
            moved.append(_ink_stands_out(window, np.roll(scene.ink, shift, axis=0)[y1:y2, x1:x2] == index))
    # Measured: 0.92 aligned, 0.47 moved (86 lines).
    assert np.mean(aligned) >= 0.85 and np.mean(moved) <= 0.65, (np.mean(aligned), np.mean(moved))


@pytest.mark.parametrize("seed", range(40))
def test_each_boxed_line_holds_its_date_and_the_expiry_line_holds_the_expiry(seed: int) -> None:
    scene = render_scene(seed)
    assert scene.date_text in scene.lines[0].text
    for line in scene.lines:
        text = line.text.replace("<script>", "").replace("<", " ").replace(">", " ")
        assert parse_dates(text, reference_date=_REFERENCE).candidates, f"no date read in {line.text!r}"
    expected = scene.expiry
    # Scenes print two-digit year-first dates too (25.10.23): the label's order decides them.
    found = {
        d.date.isoformat()[: len(expected)] if len(expected) != 5 else d.date.strftime("%m-%d")
        for order in ("DMY", "YMD")
        for d in parse_dates(scene.lines[0].text.replace("<script>", ""), _REFERENCE, order).candidates
    }
    assert expected in found, (scene.lines[0].text, expected, found)


def test_scenes_cover_every_style_surface_and_turn(survey: list) -> None:
    assert {scene.style for scene in survey} == set(PRINT_STYLES)
    assert {scene.surface for scene in survey} == set(SURFACES)
    angles = np.array([abs(scene.angle) for scene in survey])
    assert (angles < 8).mean() > 0.3 and (angles > 60).sum() >= 10 and angles.max() <= 90
    assert sum(len(scene.lines) >= 2 for scene in survey) >= 60, "codes print production and expiry lines"
    roles = {line.role for scene in survey for line in scene.lines}
    assert roles == {"expiry", "production"}


def test_scenes_cover_many_date_formats_and_text_sizes(survey: list) -> None:
    shapes = {"".join("9" if c.isdigit() else "A" if c.isalpha() else c for c in s.date_text) for s in survey}
    assert len(shapes) >= 18
    heights = [min(x2 - x1, y2 - y1) / max(s.image.shape[:2]) for s in survey for x1, y1, x2, y2 in s.boxes]
    # Small print in a big photo (under 2.5% of the long side) as well as close-ups.
    assert min(heights) < 0.02 and max(heights) > 0.06


def test_turned_lines_get_axis_aligned_boxes_round_the_turned_line(survey: list) -> None:
    turned = [s for s in survey if abs(s.angle) > 75 and len(s.lines[0].text) >= 8]
    assert turned
    for scene in turned:
        x1, y1, x2, y2 = scene.box
        assert y2 - y1 > x2 - x1, (scene.angle, scene.lines[0])


# --- the coders' bitmap dot fonts ------------------------------------------------------------------

# Drops per digit in the 5x7 design (HD44780 and small-character coders; the zero the coders' plain
# oval), counted by hand from the published glyphs.
_DROPS_5X7 = {"0": 16, "1": 10, "2": 14, "3": 14, "4": 14, "5": 17, "6": 15, "7": 11, "8": 17, "9": 15}


def test_the_5x7_digits_have_the_designs_drops_and_every_font_one_cell_size() -> None:
    from models.date_detector.scenes import DOT_FONTS

    assert {digit: int(DOT_FONTS[7][digit].sum()) for digit in "0123456789"} == _DROPS_5X7
    for rows, columns in ((5, 5), (7, 5), (9, 7)):
        assert {glyph.shape for glyph in DOT_FONTS[rows].values()} == {(rows, columns)}
        assert not DOT_FONTS[rows][" "].any()
        # Each glyph is its own: no two characters print alike (O and 0 aside, as on coders).
        shapes = {g.tobytes() for c, g in DOT_FONTS[rows].items() if c != "O"}
        assert len(shapes) == len(DOT_FONTS[rows]) - 1


def test_every_character_a_coder_line_prints_has_a_glyph_in_every_font() -> None:
    from models.date_detector import scenes

    texts = [*scenes._EXPIRY_KEYWORDS, *scenes._PRODUCTION_KEYWORDS, *scenes._SUFFIXES, *scenes._MONTHS]
    texts += [month.title() for month in scenes._MONTHS]
    texts += [
        "0123456789 /.-:<>$",
        "LOT: RM 12.50 PRICE 9.- Rp 3.500 $1.20 14:24:05",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ]
    rng = np.random.default_rng(0)
    texts += [extra(rng) for extra in (scenes._lot, scenes._time, scenes._price) for _ in range(50)]
    for rows in scenes.DOT_FONTS:
        for text in texts:
            scenes.dot_cells(text, rows)  # raises on a character the font lacks
    with pytest.raises(ValueError, match="dot glyph"):
        scenes.dot_cells("é", 7)


def test_a_dot_line_puts_one_drop_on_each_set_cell_of_the_grid() -> None:
    """Drops printed without jitter, gaps or smear sit one per set cell, on the drop pitch."""
    import cv2

    from models.date_detector.scenes import _dot_mask, _Ink, dot_cells

    text, rows, pitch = "0123456789", 7, 6.0
    ink = _Ink("dot-matrix", (0, 0, 0), 1.0, 0, 0.1, rows, 0.3, 0.0, 0.0, 0.0, 1.0)
    mask = _dot_mask(np.random.default_rng(0), text, int(rows * pitch), ink)
    count, _, _, centroids = cv2.connectedComponentsWithStats((mask > 0.5).astype(np.uint8))
    drops = centroids[1:]  # (x, y); label 0 is the background
    cells = dot_cells(text, rows)
    assert count - 1 == len(cells) == sum(_DROPS_5X7.values())
    grid = (drops - drops.min(axis=0)) / pitch
    assert np.abs(grid - grid.round()).max() < 0.05, "a drop off the grid"
    found = {(int(row), int(column)) for column, row in grid.round()}
    expected = cells - cells.min(axis=0)
    assert found == {(int(row), int(column)) for row, column in expected}
