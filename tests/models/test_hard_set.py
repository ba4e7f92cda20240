"""bench/hard_set.py: hard set v2, written deterministically, every scene legible by its rules.

Numpy/OpenCV only (no pipeline, no ONNX): the set is judged on its pixels and ink maps.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import hard_set
from bench.hard_set import Legibility, Rules, Slot, failures, measure, plan, render, unambiguous, write_set
from models.date_detector.scenes import Damage, render_scene

_FIRST_SEED = 940_000


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight scenes: two of each stratum, one dot style and one other in each."""
    folder = tmp_path_factory.mktemp("hard-set")
    write_set(folder, count=8, first_seed=_FIRST_SEED)
    return folder


def _manifest(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_plan_splits_strata_and_styles_evenly() -> None:
    slots = plan(96)
    assert Counter(slot.stratum for slot in slots) == {stratum: 24 for stratum in hard_set.STRATA}
    for stratum in hard_set.STRATA:
        styles = Counter(slot.style for slot in slots if slot.stratum == stratum)
        assert sum(styles[s] for s in hard_set.DOT_STYLES) == 12
        assert set(styles) == {*hard_set.DOT_STYLES, *hard_set.OTHER_STYLES}
    # A count that does not split in four: the first strata get one more.
    assert [slot.stratum for slot in plan(5)] == [
        "as printed",
        "as printed",
        "turned",
        "blur + glare",
        "distractor dates",
    ]


def test_the_same_arguments_write_the_same_set(small_set: Path, tmp_path: Path) -> None:
    write_set(tmp_path, count=8, first_seed=_FIRST_SEED)
    assert (tmp_path / "manifest.csv").read_bytes() == (small_set / "manifest.csv").read_bytes()
    images = sorted(p.name for p in (small_set / "images").iterdir())
    assert images == sorted(p.name for p in (tmp_path / "images").iterdir()) and len(images) == 8
    for name in images:
        assert (tmp_path / "images" / name).read_bytes() == (small_set / "images" / name).read_bytes()
    first, again = (json.loads((f / "set.json").read_text()) for f in (small_set, tmp_path))
    assert first["command"] != again["command"]  # the folder differs, nothing else may
    assert {k: v for k, v in first.items() if k != "command"} == {
        k: v for k, v in again.items() if k != "command"
    }


def test_the_manifest_is_the_realworld_benchmarks(small_set: Path) -> None:
    from bench.realworld import read_rows

    rows = read_rows(small_set / "manifest.csv")
    assert [row.condition for row in rows] == [slot.stratum for slot in plan(8)]
    assert all(row.print_style.endswith("(synthetic)") and row.printed_text for row in rows)
    summary = json.loads((small_set / "set.json").read_text())
    assert summary["seeds_tried"] == 8 + summary["skipped_scenes"]
    assert set(summary["skipped_by_rule"]) == set(hard_set.RULES)
    assert set(summary["code"]["sha256"]) == {"models/date_detector/scenes.py", "bench/hard_set.py"}


def test_every_scene_in_the_set_is_what_its_stratum_asks_and_passes_every_rule(small_set: Path) -> None:
    summary = json.loads((small_set / "set.json").read_text())
    for row, detail, slot in zip(_manifest(small_set), summary["scenes"], plan(8), strict=True):
        scene = render(slot, detail["seed"])
        pixels = cv2.imread(str(small_set / row["file"]), cv2.IMREAD_COLOR)
        legibility = measure(scene, pixels)
        assert failures(legibility, Rules()) == (), (row["file"], legibility)
        assert row["expected"] == scene.expiry and row["condition"] == slot.stratum
        assert scene.style == slot.style == detail["style"]
        assert legibility.cap_height >= 0.022 * max(pixels.shape[:2])
        assert unambiguous(scene.date_format, scene.keyword)
        assert scene.date_format != "y.m.d"
        turn = abs(scene.angle)
        assert (15 <= turn <= 90) if slot.stratum == "turned" else turn <= 8
        damage = detail["damage"]
        if slot.stratum == "blur + glare":
            assert damage["glare"] > 0 and (0 < damage["blur_sigma"] <= 1.5 or 0 < damage["motion_px"] <= 7)
        else:
            assert damage is None
        if slot.stratum == "distractor dates":
            assert any(line.role == "production" for line in scene.lines)


def _accepted(stratum: str = "as printed", style: str = "dot-matrix", seed: int = _FIRST_SEED):
    """The first scene from ``seed`` on that passes every rule, and its JPEG pixels."""
    for candidate in range(seed, seed + 60):
        scene = render(Slot(stratum, style), candidate)
        pixels = hard_set.encoded(scene.image)[1]
        if not failures(measure(scene, pixels), Rules()):
            return scene, pixels
    raise AssertionError("no legible scene in 60 seeds")


def test_ink_washed_out_fails_contrast_and_glare_and_a_wiped_stretch_fails_the_weakest_part() -> None:
    scene, pixels = _accepted()
    ink = scene.ink == 1
    washed = pixels.copy()
    washed[ink] = 255
    washed[~ink] = np.maximum(washed[~ink], 250)  # glare over the whole line: ink and surface white
    assert {"contrast", "glare"} <= set(failures(measure(scene, washed), Rules()))

    # The last quarter of the line's ink painted in its surface colour: the line's median barely
    # moves, its weakest stretch falls.
    ys, xs = np.nonzero(ink)
    end = xs > np.percentile(xs, 75)
    wiped = pixels.copy()
    x1, y1, x2, y2 = (int(v) for v in scene.box)
    around = ~cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)[y1:y2, x1:x2]
    wiped[ys[end], xs[end]] = np.median(pixels[y1:y2, x1:x2][around], axis=0)
    legibility = measure(scene, wiped)
    assert "weakest_part" in failures(legibility, Rules())
    assert legibility.weakest_part < measure(scene, pixels).weakest_part


def test_stripes_under_the_date_fail_clutter() -> None:
    scene, pixels = _accepted()
    x1, y1, x2, y2 = (int(v) for v in scene.box)
    barcode = pixels.copy()
    for x in range(max(0, x1 - 10), min(pixels.shape[1], x2 + 10), 4):  # bars 2 px wide, 4 apart
        barcode[max(0, y1 - 10) : y2 + 10, x : x + 2] = 0 if pixels[~(scene.ink == 1)].mean() > 128 else 255
    assert "clutter" in failures(measure(scene, barcode), Rules())


def test_small_print_a_cut_line_an_ambiguous_date_and_a_worn_ribbon_fail_their_rules() -> None:
    found = set()
    for seed in range(300):
        scene = render_scene(seed, with_ink=True)
        failed = set(failures(measure(scene), Rules()))
        if measure(scene).cap_share < 0.022:
            assert "cap_height" in failed
            found.add("cap_height")
        if not scene.lines[0].whole:
            assert "whole" in failed
            found.add("whole")
        if scene.date_format == "y.m.d" or (scene.date_format == "dmy" and not scene.keyword):
            assert "format" in failed
            found.add("format")
        if scene.lines[0].worn > 0.05:
            assert "worn_ribbon" in failed
            found.add("worn_ribbon")
        if found == {"cap_height", "whole", "format", "worn_ribbon"}:
            break
    assert found == {"cap_height", "whole", "format", "worn_ribbon"}


def test_unambiguous_dates() -> None:
    assert unambiguous("d/m/Y", "") and unambiguous("Ymd", "") and unambiguous("d N", "")
    assert unambiguous("N Y", "") and unambiguous("d n Y", "")
    assert unambiguous("d/m/y", "EXP") and unambiguous("dmy", "BB")
    assert not unambiguous("d/m/y", "") and not unambiguous("dmy", "")
    assert not unambiguous("y.m.d", "EXP") and not unambiguous("m/y", "EXP")


def test_each_rule_fails_alone() -> None:
    good = Legibility(30.0, 0.035, 90.0, 70.0, 0.0, 0.0, True, True, 0.0, True)
    assert failures(good, Rules()) == ()
    cases = {
        "format": replace(good, unambiguous=False),
        "whole": replace(good, whole=False),
        "small_font": replace(good, small_font_ok=False),
        "cap_height": replace(good, cap_share=0.021),
        "contrast": replace(good, contrast=44.0),
        "weakest_part": replace(good, weakest_part=29.0),
        "glare": replace(good, saturated=0.03),
        "clutter": replace(good, clutter=0.3),
        "worn_ribbon": replace(good, worn=0.2),
    }
    for rule, legibility in cases.items():
        assert failures(legibility, Rules()) == (rule,)


def test_a_5_row_font_with_big_or_missing_drops_fails() -> None:
    for seed in range(_FIRST_SEED, _FIRST_SEED + 400):
        scene = render(Slot("as printed", "cij"), seed)
        if scene.dot_rows == 5 and scene.dot_size > 0.55:
            assert "small_font" in failures(measure(scene), Rules())
            return
    raise AssertionError("no 5-row CIJ scene with big drops in 400 seeds")


def test_render_scene_does_what_it_is_asked() -> None:
    plain = render_scene(21, (840, 640), with_ink=True)
    asked = render_scene(21, (840, 640), with_ink=True, style="laser", angle=-30.0, distractors=True)
    assert (asked.style, asked.angle) == ("laser", -30.0)
    assert any(line.role == "production" for line in asked.lines)
    assert plain.surface == asked.surface  # the seed's other draws stay
    # The same draw, from a higher floor: never smaller (a code too wide for its face shrinks to
    # fit either way), mostly larger.
    plain_caps = np.array([render_scene(seed, (840, 640)).cap_height for seed in range(8)])
    big_caps = np.array(
        [render_scene(seed, (840, 640), min_text_height=0.05).cap_height for seed in range(8)]
    )
    assert (big_caps >= plain_caps * 0.99).all() and big_caps.mean() > 1.3 * plain_caps.mean()
    with pytest.raises(ValueError, match="style"):
        render_scene(1, style="crayon")


def test_asked_glare_brightens_the_expiry_and_asked_blur_softens_it() -> None:
    # Asked glare replaces the seed's own (this seed draws one on its code): a faint one is none.
    base = render_scene(5, (840, 640), with_ink=True, angle=0.0, damage=Damage(blur_sigma=0.01, glare=0.01))
    glare = render_scene(5, (840, 640), with_ink=True, angle=0.0, damage=Damage(blur_sigma=0.01, glare=120.0))
    blurred = render_scene(5, (840, 640), with_ink=True, angle=0.0, damage=Damage(blur_sigma=1.5))
    x1, y1, x2, y2 = (int(v) for v in base.box)
    region = (slice(y1, y2), slice(x1, x2))
    assert glare.image[region].mean() > base.image[region].mean() + 20
    sharpness = [
        cv2.Laplacian(cv2.cvtColor(s.image[region], cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()
        for s in (base, blurred)
    ]
    assert sharpness[1] < sharpness[0] / 2


def test_sheets_show_every_scene(small_set: Path) -> None:
    paths = hard_set.write_sheets(small_set)
    assert [p.name for p in paths] == ["sheet01.png"]
    sheet = cv2.imread(str(paths[0]))
    assert sheet.shape == (4 * (170 + 40), 8 * 300, 3)
    # The 8 scenes fill the first row of cells; the rest of the sheet stays white.
    assert sheet[:170, :].mean() < 250 and sheet[210:, :].min() == 255
