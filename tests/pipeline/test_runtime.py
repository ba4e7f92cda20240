"""Execution provider selection, thread counts and model metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import RuntimeConfig
from pipeline.ocr import default_model_paths
from pipeline.runtime import OnnxModel, available_providers, intra_op_threads, select_providers

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


def _names(specs: list[tuple[str, dict[str, str]]]) -> list[str]:
    return [name for name, _ in specs]


@pytest.mark.parametrize(
    ("allowed", "available", "expected"),
    [
        (("tensorrt", "cuda", "cpu"), [TRT, CUDA, CPU], [TRT, CUDA, CPU]),
        (("tensorrt", "cuda", "cpu"), [CUDA, CPU], [CUDA, CPU]),
        (("tensorrt", "cuda", "cpu"), ["AzureExecutionProvider", CPU], [CPU]),
        (("cuda", "cpu"), [TRT, CUDA, CPU], [CUDA, CPU]),
        (("cpu",), [TRT, CUDA, CPU], [CPU]),
        # CPU is always the last resort, even when not listed.
        (("tensorrt",), [CUDA, CPU], [CPU]),
    ],
)
def test_providers_follow_preference_and_availability(
    allowed: tuple[str, ...], available: list[str], expected: list[str]
) -> None:
    assert _names(select_providers(RuntimeConfig(providers=allowed), available)) == expected


def test_tensorrt_options_expand_the_cache_dir() -> None:
    config = RuntimeConfig(tensorrt_fp16=False, tensorrt_cache_dir=Path("~/trt-cache"))
    (name, options), *_ = select_providers(config, [TRT, CPU])
    assert name == TRT
    assert options["trt_fp16_enable"] == "False"
    assert options["trt_engine_cache_path"] == str(Path("~/trt-cache").expanduser())
    assert "~" not in options["trt_engine_cache_path"]
    assert "trt_engine_cache_prefix" not in options  # ONNX Runtime's own naming


def test_a_model_s_tensorrt_engines_are_named_by_its_weights() -> None:
    # Two versions of one graph (a retrained or patched model) must not share a cached engine.
    (_, options), *_ = select_providers(RuntimeConfig(), [TRT, CPU], cache_prefix="ocr_rec_5435fd747c9e0efe")
    assert options["trt_engine_cache_prefix"] == "ocr_rec_5435fd747c9e0efe"


def test_this_host_offers_cpu() -> None:
    assert CPU in available_providers()


@pytest.mark.parametrize(
    ("configured", "concurrency", "cores", "expected"),
    [(0, 1, 8, 8), (0, 2, 8, 4), (0, 4, 2, 1), (0, 0, 2, 2), (3, 4, 2, 3)],
)
def test_intra_op_threads_share_the_cores(
    configured: int, concurrency: int, cores: int, expected: int
) -> None:
    assert intra_op_threads(RuntimeConfig(intra_op_threads=configured), concurrency, cores) == expected


@pytest.mark.slow
def test_model_info_describes_the_session() -> None:
    path = default_model_paths()["ocr_rec"]
    model = OnnxModel("ocr_rec", "ocr_rec", path, RuntimeConfig(providers=("cpu",)), max_batch_size=8)
    info = model.info()
    assert (info.name, info.kind, info.path) == ("ocr_rec", "ocr_rec", str(path))
    assert info.providers == (CPU,)
    assert info.inputs[0].shape == (-1, 3, -1, -1)
    assert info.outputs[0].shape[-1] == 6625
    assert len(info.sha256) == 64
    assert info.max_batch_size == 8
    assert "character" in model.metadata()
