"""``models/ocr_rec/torch_graph.py``: the recogniser's ONNX graph run by PyTorch, for fine-tuning.

Needs the train extra (PyTorch); skipped without it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from models.ocr_rec.crop_set import characters_of  # noqa: E402
from models.ocr_rec.finetune import FRONT_CUT, LOGITS, patch_of  # noqa: E402
from models.ocr_rec.torch_graph import TorchGraph  # noqa: E402
from pipeline.weights_patch import apply_patch  # noqa: E402

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def wheel() -> tuple[onnx.ModelProto, bytes]:
    path, _ = characters_of()
    data = path.read_bytes()
    return onnx.load_model_from_string(data), data


def _crops(width: int) -> np.ndarray:
    return np.random.default_rng(width).uniform(-1, 1, (2, 3, 48, width)).astype(np.float32)


@pytest.mark.parametrize("width", [320, 416])
def test_the_graph_in_torch_computes_what_onnx_runtime_does(
    wheel: tuple[onnx.ModelProto, bytes], width: int
) -> None:
    model, data = wheel
    graph = TorchGraph(model, ["fetch_name_0"])
    x = _crops(width)
    with torch.no_grad():
        ours = graph(torch.from_numpy(x))[0].numpy()
    theirs = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert ours.shape == theirs.shape == (2, width // 8, 18_710)
    assert np.abs(ours - theirs).max() < 1e-4


def test_a_graph_cut_in_two_computes_what_the_whole_does(wheel: tuple[onnx.ModelProto, bytes]) -> None:
    model, _ = wheel
    whole = TorchGraph(model, [LOGITS])
    front = TorchGraph(model, [FRONT_CUT])
    tail = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    # The tail keeps only its own weights: the front's are not trained (nor patched).
    assert "conv2d_68.w_0" not in tail.parameter_names() and "conv2d_112.w_0" in tail.parameter_names()
    x = torch.from_numpy(_crops(352))
    with torch.no_grad():
        assert torch.allclose(tail(front(x)[0])[0], whole(x)[0], atol=1e-5)


def test_batchnorm_statistics_are_not_weights(wheel: tuple[onnx.ModelProto, bytes]) -> None:
    model, _ = wheel
    names = TorchGraph(model, [LOGITS]).parameter_names()
    statistics = {n.input[3] for n in model.graph.node if n.op_type == "BatchNormalization"}
    assert statistics and not statistics & names.keys()


def test_trained_weights_written_back_are_the_graph_the_server_loads(
    wheel: tuple[onnx.ModelProto, bytes],
) -> None:
    model, data = wheel
    tail = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    untouched = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    columns = np.array([0, 5, 18_709])
    with torch.no_grad():  # "training": one convolution and three of the head's columns move
        tail.parameter_names()["conv2d_112.w_0"].mul_(1.5)
        tail.parameter_names()["linear_8.b_0"][torch.from_numpy(columns)] += 3.0
    patch = patch_of(tail, untouched, columns, hashlib.sha256(data).hexdigest())
    assert set(patch.initializers) == {"conv2d_112.w_0", "linear_8.w_0", "linear_8.b_0"}
    assert np.array_equal(patch.initializers["linear_8.b_0"].columns, columns)
    path, _ = characters_of()
    served = ort.InferenceSession(apply_patch(path, patch), providers=["CPUExecutionProvider"])
    x = _crops(320)
    with torch.no_grad():
        expected = torch.softmax(tail(TorchGraph(model, [FRONT_CUT])(torch.from_numpy(x))[0])[0], -1)
    plain = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(served.run(None, {"x": x})[0] - expected.numpy()).max() < 1e-4
    assert np.abs(plain - expected.numpy()).max() > 1e-2


def test_an_operator_it_does_not_run_is_refused_by_name() -> None:
    node = onnx.helper.make_node("Gelu", ["x"], ["y"], name="the_gelu")
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    with pytest.raises(NotImplementedError, match=r"Gelu.*the_gelu"):
        TorchGraph(onnx.helper.make_model(graph), ["y"])
    with pytest.raises(ValueError, match="no value named 'z'"):
        TorchGraph(onnx.helper.make_model(graph), ["z"])


def test_a_crop_set_reads_back_as_the_examples_it_was_written_from(
    wheel: tuple[onnx.ModelProto, bytes], tmp_path: Path
) -> None:
    from models.ocr_rec.crop_set import Crop, save
    from models.ocr_rec.finetune import batch_loss, front_session, load_examples

    model, _ = wheel
    _, characters = characters_of()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 18_710, (50, 8)).astype(np.int32)
    probs = np.full((50, 8), 0.1, np.float16)
    crops = [
        Crop(rng.integers(0, 255, (48, 200, 3), np.uint8), "EXP 12/08/26", 3_000_001, "cij", None, None),
        Crop(rng.integers(0, 255, (48, 400, 3), np.uint8), "", 3_000_002, "laser", ids, probs),
        Crop(rng.integers(0, 255, (48, 90, 3), np.uint8), "BB\ue000", 3_000_003, "cij", None, None),
    ]
    save(tmp_path / "crops.npz", crops)
    examples = load_examples(tmp_path / "crops.npz", front_session(model, 1), characters, 10, seed=0)
    # A private-use character is in no dictionary: that label is left out, the others come back in order.
    assert [e.label for e in examples] == ["EXP 12/08/26", ""]
    assert "".join(characters[i] for i in examples[0].targets) == "EXP 12/08/26"
    assert examples[0].front.shape == (192, 6, 320 // 4) and examples[1].front.shape == (192, 6, 416 // 4)
    assert np.array_equal(examples[1].top_ids, ids) and examples[0].top_ids is None
    tail = TorchGraph(model, [LOGITS], inputs=[FRONT_CUT])
    for example in examples:
        loss = batch_loss(tail, [example], kl_weight=5.0)
        assert torch.isfinite(loss) and loss > 0


def _one_node(node: onnx.NodeProto, shape: list[int]) -> onnx.ModelProto:
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    )
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 11)])


def test_attribute_values_it_would_compute_wrongly_are_refused_and_defaults_follow_onnx() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    # Opset 11 flattens a Softmax from an inner axis on: not what torch.softmax does.
    inner = TorchGraph(
        _one_node(onnx.helper.make_node("Softmax", ["x"], ["y"], axis=1), list(x.shape)), ["y"]
    )
    with pytest.raises(NotImplementedError, match="Softmax over axis 1"):
        inner(torch.from_numpy(x))
    pool = onnx.helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])
    with pytest.raises(NotImplementedError, match="dilations"):
        TorchGraph(_one_node(pool, list(x.shape)), ["y"])(torch.from_numpy(x))
    # Transpose without perm reverses the axes, as ONNX Runtime does.
    model = _one_node(onnx.helper.make_node("Transpose", ["x"], ["y"]), list(x.shape))
    ours = TorchGraph(model, ["y"])(torch.from_numpy(x))[0].numpy()
    theirs = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    assert np.array_equal(ours, theirs[0])


def test_the_text_detector_in_torch_computes_what_onnx_runtime_does() -> None:
    # The PP-OCRv4 detector keeps its weights in Constant nodes and upsamples (Resize,
    # ConvTranspose): models/ocr_det_coder/finetune.py trains its neck and head from the front's outputs.
    from models.ocr_det_coder.det_set import FRONT_CUTS, OUTPUT, front_session, wheel_path
    from models.ocr_det_coder.finetune import LOGITS, patch_of

    model = onnx.load(str(wheel_path()))
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 224, 288)).astype(np.float32)
    theirs = front_session(wheel_path()).run(None, {"x": x})
    neck = TorchGraph(model, [OUTPUT, LOGITS], inputs=list(FRONT_CUTS))
    with torch.no_grad():
        whole = TorchGraph(model, [OUTPUT])(torch.from_numpy(x))[0].numpy()
        ours, logits = neck(*(torch.from_numpy(f) for f in theirs[1:]))
    assert whole.shape == theirs[0].shape == (1, 1, 224, 288)
    assert np.abs(whole - theirs[0]).max() < 1e-4
    assert np.abs(ours.numpy() - theirs[0]).max() < 1e-4
    assert torch.allclose(torch.sigmoid(logits), ours, atol=1e-6)
    # Trained weights written back into the Constant nodes are what the server then runs.
    with torch.no_grad():
        neck.parameter_names()["conv2d_159.w_0"].mul_(1.5)
        moved = neck(*(torch.from_numpy(f) for f in theirs[1:]))[0].numpy()
    served = ort.InferenceSession(
        apply_patch(wheel_path(), patch_of(neck, wheel_path())), providers=["CPUExecutionProvider"]
    )
    assert np.abs(served.run(None, {"x": x})[0] - moved).max() < 1e-4
    assert np.abs(moved - theirs[0]).max() > 1e-2
