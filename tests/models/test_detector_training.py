"""The detector trainer's fine-tuning start (models/date_detector/train.py): needs the train extra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from models.date_detector.train import (  # noqa: E402
    DateNet,
    Exported,
    _module_path,
    freeze_batchnorm,
    load_exported_weights,
)

_SHIPPED = Path(__file__).resolve().parents[2] / "models/date_detector/model.onnx"


def test_exported_node_scopes_name_the_network_modules() -> None:
    assert _module_path("/net/stem/stem.2/body/body.0/body.0.0/Conv") == "stem.2.body.0.0"
    assert _module_path("/net/c3/c3.0/c3.0.0/Conv") == "c3.0.0"
    assert _module_path("/net/score/score.1/Conv") == "score.1"
    modules = dict(DateNet(32).named_modules())
    assert isinstance(modules["stem.2.body.0.0"], torch.nn.Conv2d)


def test_a_network_started_from_the_shipped_file_computes_what_the_file_does() -> None:
    import onnxruntime as ort

    model = DateNet(32)
    load_exported_weights(model, _SHIPPED)
    model.train()
    freeze_batchnorm(model)  # as the trainer fine-tunes: BatchNorm stays folded
    images = torch.rand(2, 3, 320, 320, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = Exported(model)(images).numpy()
    session = ort.InferenceSession(str(_SHIPPED), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {"images": images.numpy()})[0]
    assert ours.shape == theirs.shape
    # Boxes are in input pixels (up to ~320), scores in 0..1: float32 rounding only.
    assert np.abs(ours - theirs).max() < 1e-2


def test_a_file_of_another_width_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not fit"):
        load_exported_weights(DateNet(16), _SHIPPED)
