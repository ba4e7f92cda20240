"""``ocr_det_coder``: the wheel's PP-OCRv4 text detector with its neck and head fine-tuned for coder
print (models/ocr_det_coder/finetune.py), read by the second chance's ``coder`` variant."""

from __future__ import annotations

import hashlib

import onnx

from models.ocr_det_coder.det_set import FRONT_CUTS
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.weights_patch import load_patch


def test_the_coder_detector_patches_only_the_neck_and_head_of_the_wheel_file_it_was_trained_on() -> None:
    entry = load_model_config("ocr_det_coder", "ocr_det", DEFAULT_REPOSITORY)
    plain = load_model_config("ocr_det", "ocr_det", DEFAULT_REPOSITORY)
    assert entry.path == plain.path and entry.weights_patch is not None and plain.weights_patch is None
    assert entry.text_detection == plain.text_detection  # trained for the wheel's DB settings
    patch = load_patch(entry.weights_patch)
    # A rapidocr-onnxruntime release with another file would fail here, not at a user's first start.
    data = entry.path.read_bytes()
    assert patch.base_sha256 == hashlib.sha256(data).hexdigest()
    model = onnx.load_model_from_string(data)
    constants = {node.output[0]: node for node in model.graph.node if node.op_type == "Constant"}
    assert set(patch.initializers) <= constants.keys()
    # Nothing of the front: every patched tensor feeds a node after the backbone's four outputs.
    order = {out: index for index, node in enumerate(model.graph.node) for out in node.output}
    neck_starts = min(order[name] for name in FRONT_CUTS)
    users = {name: index for index, node in enumerate(model.graph.node) for name in node.input}
    assert all(users[name] > neck_starts for name in patch.initializers)
    assert len(patch.initializers) == 62 and "conv2d_159.w_0" in patch.initializers
