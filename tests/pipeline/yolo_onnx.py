"""Hand-built YOLO-layout ONNX models for tests: the raw predictions are whatever the test says.

The graph expands a fixed ``(1, 4 + classes, anchors)`` initializer to the input's batch size, so the
output has the real export's layout and batching behaviour, and every prediction is known exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pipeline.letterbox import LetterboxInfo

__all__ = ["Prediction", "build_yolo_model", "to_input_box"]

# (x1, y1, x2, y2 in letterboxed input pixels, class id, score)
Prediction = tuple[tuple[float, float, float, float], int, float]


def to_input_box(box: Sequence[float], info: LetterboxInfo) -> tuple[float, float, float, float]:
    """Maps an original-pixel x1, y1, x2, y2 box into letterboxed input pixels (the forward mapping)."""
    x1, y1, x2, y2 = box
    return (
        x1 * info.scale + info.pad_x,
        y1 * info.scale + info.pad_y,
        x2 * info.scale + info.pad_x,
        y2 * info.scale + info.pad_y,
    )


def build_yolo_model(
    path: Path,
    predictions: Sequence[Prediction],
    *,
    classes: int = 1,
    anchors: int = 64,
    input_px: int = 640,
    names: str | None = "{0: 'date'}",
) -> Path:
    """Writes a model whose output holds ``predictions`` in its first anchors and zeros elsewhere.

    Args:
        names: the ``names`` metadata, as Ultralytics writes it; ``None`` writes none.
    """
    raw = np.zeros((1, 4 + classes, anchors), dtype=np.float32)
    for anchor, ((x1, y1, x2, y2), class_id, score) in enumerate(predictions):
        raw[0, :4, anchor] = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
        raw[0, 4 + class_id, anchor] = score
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "tail"], ["out_shape"], axis=0),
        helper.make_node("Expand", ["raw", "out_shape"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, input_px, input_px])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + classes, anchors])],
        initializer=[
            numpy_helper.from_array(raw, "raw"),
            numpy_helper.from_array(np.array([4 + classes, anchors], dtype=np.int64), "tail"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
