"""``models/ocr_det_coder/det_set.py``: the text detector's fine-tuning targets, from the scenes' ink."""

from __future__ import annotations

import numpy as np

from models.date_detector.scenes import render_scene
from models.ocr_det_coder.det_set import CROP_PX, FREE, IGNORE, line_targets, scene_crop


def test_each_code_line_is_a_core_of_text_with_a_free_band_and_a_margin_of_no_text() -> None:
    ink = np.zeros((120, 300), dtype=np.uint8)
    ink[20:40, 50:250] = 1  # two lines 20 px high, 20 px apart
    ink[60:80, 50:250] = 130
    target = line_targets(ink)
    assert target[30, 150] == target[70, 150] == 1  # each line's middle
    assert target[22, 150] == FREE  # inside the line, outside its core (0.35 line heights in)
    assert target[50, 150] == 0  # between the two lines: apart
    assert target[30, 10] == target[5, 5] == IGNORE  # far from both: the teacher's
    assert target[37:43, 150].tolist().count(1) == 0


def test_every_line_of_a_code_has_its_ink_and_date_lines_keep_their_numbers() -> None:
    scene = render_scene(940011, with_ink=True, distractors=True)
    assert scene.ink is not None and scene.code_ink is not None
    values = set(np.unique(scene.code_ink).tolist()) - {0}
    assert any(v >= 128 for v in values)  # a lot, time or price line: text, not a date
    # The date lines' own map is as before: only they, numbered from the expiry.
    assert set(np.unique(scene.ink).tolist()) - {0} == set(range(1, len(scene.lines) + 1))
    assert np.all(scene.code_ink[scene.ink > 0] > 0)


def test_a_scene_crop_is_square_at_the_crop_size_with_its_lines_as_targets() -> None:
    crop = scene_crop(5_000_003)
    assert crop.image.shape == (CROP_PX, CROP_PX, 3) and crop.image.dtype == np.uint8
    assert crop.target.shape == (CROP_PX, CROP_PX)
    assert (crop.target == 1).sum() > 100 and (crop.target == 0).sum() > 100
    assert scene_crop(5_000_003).target.tobytes() == crop.target.tobytes()  # the same seed, the same crop
