"""The model repository's config.yaml files: parsing, provider fallback, and the files we ship."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.batching import BatcherConfig
from pipeline.repository import (
    DEFAULT_REPOSITORY,
    BatchingConfig,
    TextDetectionSettings,
    load_model_config,
    wheel_file,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).mkdir()
    (tmp_path / name / "config.yaml").write_text(text)
    return tmp_path


def test_missing_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load_model_config("ocr_rec", "ocr_rec", tmp_path)
    assert (config.name, config.kind, config.path, config.providers) == ("ocr_rec", "ocr_rec", None, None)
    assert config.batching_for("cuda") == BatchingConfig()


def test_settings_are_read_per_provider_with_fallback(tmp_path: Path) -> None:
    repository = _write(
        tmp_path,
        "ocr_rec",
        """
kind: ocr_rec
path: rec.onnx
providers: [cuda, cpu]
batching:
  cpu: {max_batch_size: 4, instances: 2, max_queue_size: 100, bucket_px: 32}
  cuda: {max_batch_size: 32, max_queue_delay_us: 2000, preferred_batch_sizes: [16, 32], bucket_px: 160}
""",
    )
    config = load_model_config("ocr_rec", "ocr_rec", repository)
    assert config.path == repository / "ocr_rec" / "rec.onnx"
    assert config.providers == ("cuda", "cpu")
    assert config.batching_for("cpu") == BatchingConfig(
        batcher=BatcherConfig(max_batch_size=4, instances=2, max_queue_size=100), bucket_px=32
    )
    cuda = config.batching_for("cuda")
    assert cuda.batcher.preferred_batch_sizes == (16, 32) and cuda.bucket_px == 160
    # TensorRT sessions take the CUDA block when there is no tensorrt block.
    assert config.batching_for("tensorrt") == cuda


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ocr_rec\nbatching: {cpu: {max_batch_sise: 4}}", "unknown keys \\['max_batch_sise'\\]"),
        ("kind: ocr_rec\nbatching: {cpu: {max_batch_size: 0}}", "batching.cpu: max_batch_size must be"),
        ("kind: ocr_rec\nbatching: [cpu]", "batching must be a mapping"),
        ("kind: resnet", "kind must be one of"),
    ],
)
def test_bad_files_name_the_model_and_key(tmp_path: Path, text: str, message: str) -> None:
    repository = _write(tmp_path, "ocr_rec", text)
    with pytest.raises(ValueError, match=message):
        load_model_config("ocr_rec", "ocr_rec", repository)


_SHIPPED_OCR = sorted(p.name for p in DEFAULT_REPOSITORY.glob("ocr_*") if (p / "config.yaml").is_file())


@pytest.mark.parametrize("name", _SHIPPED_OCR)
def test_shipped_configs_load(name: str) -> None:
    config = load_model_config(name, name, DEFAULT_REPOSITORY)
    assert name.startswith(config.kind)  # ocr_rec, ocr_rec_ppocrv4, ...
    # Every OCR model is a file of an installed wheel (pyproject.toml), nothing to download.
    assert config.path is not None and config.path.is_file() and "site-packages" in config.path.parts
    assert {"cpu", "cuda"} <= set(config.batching)
    if config.kind == "ocr_det":
        assert config.text_detection is not None  # stated, not left to the defaults


def test_the_three_stages_and_their_alternatives_are_shipped() -> None:
    assert {"ocr_det", "ocr_cls", "ocr_rec", "ocr_rec_ppocrv4"} <= set(_SHIPPED_OCR)


_RAPIDOCR_REC = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"


def test_a_path_can_be_a_file_in_an_installed_wheel(tmp_path: Path) -> None:
    repository = _write(
        tmp_path, "ocr_rec", f"kind: ocr_rec\npath: {{wheel: rapidocr-onnxruntime, file: {_RAPIDOCR_REC}}}\n"
    )
    config = load_model_config("ocr_rec", "ocr_rec", repository)
    assert config.path == wheel_file("rapidocr-onnxruntime", _RAPIDOCR_REC)
    assert config.path is not None and config.path.is_file()
    assert config.path.parts[-3:] == ("rapidocr_onnxruntime", "models", "ch_PP-OCRv4_rec_infer.onnx")


def test_a_character_dict_is_read_relative_to_the_model_folder(tmp_path: Path) -> None:
    repository = _write(tmp_path, "ocr_rec", "kind: ocr_rec\ncharacter_dict: keys.txt\n")
    (repository / "ocr_rec" / "keys.txt").write_text("0\n1\n")
    config = load_model_config("ocr_rec", "ocr_rec", repository)
    assert config.character_dict == repository / "ocr_rec" / "keys.txt"


def test_text_detection_settings_are_typed_and_default_to_rapidocrs(tmp_path: Path) -> None:
    repository = _write(
        tmp_path,
        "ocr_det",
        "kind: ocr_det\ntext_detection: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], "
        "thresh: 0.2, box_thresh: 0.45, unclip_ratio: 1.4, use_dilation: false}\n",
    )
    settings = load_model_config("ocr_det", "ocr_det", repository).text_detection
    assert settings == TextDetectionSettings(
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        thresh=0.2,
        box_thresh=0.45,
        unclip_ratio=1.4,
        use_dilation=False,
    )
    assert TextDetectionSettings() == TextDetectionSettings(
        mean=(0.5,) * 3, std=(0.5,) * 3, thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, use_dilation=True
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "ocr_rec",
            "path: {wheel: no-such-wheel-datalid, file: a.onnx}",
            "path: wheel 'no-such-wheel-datalid' is not installed",
        ),
        (
            "ocr_rec",
            f"path: {{wheel: rapidocr-onnxruntime, file: {_RAPIDOCR_REC}x}}",
            "path: wheel rapidocr-onnxruntime==.* has no file",
        ),
        (
            "ocr_rec",
            "path: {wheel: rapidocr-onnxruntime, file: ../../../etc/passwd}",
            "path: file must be a path inside the wheel",
        ),
        (
            "ocr_rec",
            "path: {wheel: rapidocr-onnxruntime}",
            "path must be a path relative to the model's folder or",
        ),
        ("ocr_rec", "character_dict: keys.txt", "character_dict: no file '.*keys.txt'"),
        (
            "ocr_rec",
            "character_dict: {wheel: rapidocr-onnxruntime, file: keys.txt}",
            "character_dict: wheel .* has no file 'keys.txt'",
        ),
        ("ocr_det", "character_dict: keys.txt", "character_dict is for kind ocr_rec only"),
        ("ocr_rec", "weights_patch: head.npz", "weights_patch needs the path of the model it patches"),
        ("ocr_rec", "path: rec.onnx\nweights_patch: head.npz", "weights_patch: no file '.*head.npz'"),
        (
            "yolo_detector",
            "path: model.onnx\nweights_patch: head.npz",
            "weights_patch is for kind ocr_det or ocr_cls or ocr_rec only",
        ),
        ("ocr_rec", "text_detection: {thresh: 0.3}", "text_detection is for kind ocr_det only"),
        ("ocr_det", "text_detection: {tresh: 0.3}", "text_detection has unknown keys \\['tresh'\\]"),
        ("ocr_det", "text_detection: {box_thresh: 1.5}", "text_detection: box_thresh must be in 0..1"),
        ("ocr_det", "text_detection: {mean: [0.5, 0.5]}", "text_detection: mean and std must be 3 numbers"),
        (
            "ocr_det",
            "text_detection: {use_dilation: 1}",
            "text_detection: use_dilation must be true or false",
        ),
    ],
)
def test_bad_files_and_settings_name_the_config_file_and_key(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    repository = _write(tmp_path, name, f"kind: {name}\n{text}\n")
    with pytest.raises(ValueError, match=message) as raised:
        load_model_config(name, name, repository)
    assert str(repository / name / "config.yaml") in str(raised.value)
