"""The model repository's config.yaml files: parsing, provider fallback, and the files we ship."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.batching import BatcherConfig
from pipeline.repository import DEFAULT_REPOSITORY, BatchingConfig, load_model_config


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


@pytest.mark.parametrize("name", ["ocr_det", "ocr_cls", "ocr_rec"])
def test_shipped_configs_load(name: str) -> None:
    config = load_model_config(name, name, DEFAULT_REPOSITORY)
    assert config.kind == name
    assert config.path is None  # the rapidocr wheel's file
    assert {"cpu", "cuda"} <= set(config.batching)
