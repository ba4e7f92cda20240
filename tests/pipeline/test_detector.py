"""The YOLO detector runtime: letterboxing, its inverse, decoding, NMS and per-request thresholds.

Every model here is hand-built (tests/pipeline/yolo_onnx.py), so the raw predictions are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import PipelineConfig, RuntimeConfig
from pipeline.detector import YoloDetector, decode_predictions, load_detector, nms, parse_class_names
from pipeline.letterbox import PAD_VALUE, letterbox, unletterbox_boxes
from pipeline.runtime import OnnxModel
from tests.pipeline.yolo_onnx import build_yolo_model, to_input_box

CPU = RuntimeConfig(providers=("cpu",), intra_op_threads=1)


def _image(width: int, height: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


def _detector(path: Path, names: tuple[str, ...] = ()) -> YoloDetector:
    return YoloDetector(OnnxModel("date_detector", "yolo_detector", path, CPU), names)


@pytest.mark.parametrize(("width", "height"), [(800, 400), (400, 800), (1000, 333), (333, 1000)])
def test_letterbox_centres_the_image_and_keeps_its_aspect(width: int, height: int) -> None:
    image = _image(width, height)
    image[:] = 255
    tensor, info = letterbox(image, 640)

    assert tensor.shape == (3, 640, 640) and tensor.dtype == np.float32
    assert info.scale == pytest.approx(640 / max(width, height))
    new_w, new_h = round(width * info.scale), round(height * info.scale)
    # The image fills its centred window; grey padding surrounds it on the short axis only.
    assert (tensor[:, info.pad_y : info.pad_y + new_h, info.pad_x : info.pad_x + new_w] == 1.0).all()
    assert abs((640 - new_w) - 2 * info.pad_x) <= 1 and abs((640 - new_h) - 2 * info.pad_y) <= 1
    if info.pad_y:
        assert tensor[:, 0, 0] == pytest.approx(PAD_VALUE / 255)
    if info.pad_x:
        assert tensor[:, 0, 0] == pytest.approx(PAD_VALUE / 255)


def test_letterbox_swaps_bgr_to_rgb() -> None:
    image = _image(64, 64)
    image[..., 0] = 255  # blue in BGR
    tensor, _ = letterbox(image, 64)
    assert tensor[2].min() == 1.0 and tensor[0].max() == 0.0


def test_inverse_mapping_clips_to_the_image() -> None:
    _, info = letterbox(_image(800, 400), 640)
    boxes = np.array([[-50.0, 100.0, 700.0, 600.0]])
    assert unletterbox_boxes(boxes, info, (400, 800)).tolist() == [[0.0, 0.0, 800.0, 400.0]]


@pytest.mark.parametrize(("width", "height"), [(800, 400), (400, 800), (1280, 720), (720, 1280)])
def test_detections_land_on_known_boxes_in_original_pixels(tmp_path: Path, width: int, height: int) -> None:
    # Two boxes far apart, in original pixels, whatever the orientation.
    truth = [
        (0.1 * width, 0.2 * height, 0.5 * width, 0.3 * height),
        (0.6 * width, 0.7 * height, width, height),
    ]
    _, info = letterbox(_image(width, height), 640)
    predictions = [(to_input_box(truth[0], info), 0, 0.9), (to_input_box(truth[1], info), 0, 0.8)]
    detector = _detector(build_yolo_model(tmp_path / "m.onnx", predictions))

    found = detector.detect(_image(width, height), confidence=0.25, iou=0.45, max_detections=10)

    assert [d.confidence for d in found] == pytest.approx([0.9, 0.8])
    for detection, box in zip(found, truth, strict=True):
        got = (detection.box.x1, detection.box.y1, detection.box.x2, detection.box.y2)
        assert got == pytest.approx(box, abs=1e-3)
        assert detection.class_name == "date" and detection.class_id == 0


def _overlapping(tmp_path: Path) -> YoloDetector:
    """Three boxes: A (0.9) and B (0.8) overlap with IoU 0.6; C (0.4) stands apart."""
    predictions = [
        ((100.0, 100.0, 200.0, 200.0), 0, 0.9),
        ((125.0, 100.0, 225.0, 200.0), 0, 0.8),  # IoU with A: 75 / 125 = 0.6
        ((400.0, 400.0, 500.0, 450.0), 0, 0.4),
    ]
    return _detector(build_yolo_model(tmp_path / "m.onnx", predictions))


def test_confidence_iou_and_max_detections_change_the_result(tmp_path: Path) -> None:
    detector = _overlapping(tmp_path)
    image = _image(640, 640)  # square: input pixels are original pixels

    def scores(confidence: float, iou: float, max_detections: int) -> list[float]:
        found = detector.detect(image, confidence=confidence, iou=iou, max_detections=max_detections)
        return [round(d.confidence, 3) for d in found]

    assert scores(0.25, 0.45, 10) == [0.9, 0.4]  # B suppressed by A
    assert scores(0.25, 0.7, 10) == [0.9, 0.8, 0.4]  # B's IoU 0.6 is under the threshold
    assert scores(0.5, 0.7, 10) == [0.9, 0.8]  # C below the confidence
    assert scores(0.25, 0.7, 1) == [0.9]


def test_nms_keeps_overlapping_boxes_of_different_classes() -> None:
    raw = np.zeros((6, 2), dtype=np.float32)
    raw[:4, 0] = raw[:4, 1] = (50, 50, 40, 40)  # the same box twice
    raw[4, 0], raw[5, 1] = 0.9, 0.8  # class 0, then class 1
    boxes, scores, ids = decode_predictions(raw, confidence=0.25, iou=0.45, max_detections=10)
    assert ids.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes[0].tolist() == [30.0, 30.0, 70.0, 70.0]


def test_nms_on_nothing_keeps_nothing() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5, 10).size == 0
    boxes, _, _ = decode_predictions(np.zeros((5, 8), np.float32), 0.25, 0.45, 10)
    assert boxes.shape == (0, 4)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("{0: 'date', 1: 'lot'}", ("date", "lot")),
        ("{1: 'lot'}", ("class0", "lot")),
        ("['date']", ("date",)),
        ("__import__('os').system('true')", ()),
        ("{'a': 1}", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_class_names_are_read_as_literals_only(raw: str | None, names: tuple[str, ...]) -> None:
    assert parse_class_names(raw) == names


def _repository(tmp_path: Path, config_yaml: str) -> Path:
    folder = tmp_path / "models" / "date_detector"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(config_yaml)
    return tmp_path / "models"


def test_names_come_from_metadata_before_config(tmp_path: Path) -> None:
    repository = _repository(tmp_path, "kind: yolo_detector\nclass_names: [from_config]\n")
    build_yolo_model(repository / "date_detector" / "model.onnx", [], names="{0: 'from_metadata'}")
    detector = load_detector(PipelineConfig(runtime=CPU), repository=repository)
    assert detector is not None and detector.class_names == ("from_metadata",)
    assert detector.info().class_names == ("from_metadata",)
    assert detector.input_px == 640


def test_names_come_from_config_without_metadata(tmp_path: Path) -> None:
    repository = _repository(tmp_path, "kind: yolo_detector\npath: custom.onnx\nclass_names: [expiry]\n")
    path = build_yolo_model(
        repository / "date_detector" / "custom.onnx", [((0, 0, 9, 9), 0, 0.9)], names=None
    )
    detector = load_detector(PipelineConfig(runtime=CPU), repository=repository)
    assert detector is not None and detector.model.path == path
    found = detector.detect(_image(640, 640), 0.25, 0.45, 10)
    assert [d.class_name for d in found] == ["expiry"]


def test_no_model_means_no_detector(tmp_path: Path) -> None:
    assert load_detector(PipelineConfig(runtime=CPU), repository=tmp_path) is None
    with pytest.raises(FileNotFoundError, match="detector_model_path"):
        load_detector(PipelineConfig(runtime=CPU, detector_model_path=tmp_path / "missing.onnx"))
