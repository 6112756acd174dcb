"""Converters of ``BatchNormalization``, ``LayerNormalization`` and ``Softmax``.

``BatchNormalization`` is the inference form only: ``training_mode=1`` and the
running-statistics outputs are refused. Since version 15 the statistics may
have another float type than ``X``; they are cast to ``X``'s.
``LayerNormalization`` is the IR's ``layer_norm``; its optional ``Mean`` and
``InvStdDev`` outputs, where used, are computed with core ops (in float32 for
``stash_type=1``, the default). ``Softmax`` has the opset-13 meaning
(one axis, default -1) in every version we import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.ir.ops.inference import normalize_axis
from nanograph.ir.types import DType


def _as_dtype_of(b: Builder, x: Operand, like: Operand) -> Operand:
    return x if x.type.dtype == like.type.dtype else b.op("cast", x, to=like.type.dtype)


@converter("BatchNormalization", versions=(9, 14, 15))
def convert_batch_norm(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    if node.attr("training_mode", 0):
        raise node.refuse(
            "training_mode=1 (statistics from the batch) is not supported; nanograph is "
            "inference-only",
            hint="export the model in eval mode",
        )
    if any(node.wants(i) for i in (1, 2)):
        raise node.refuse("the running mean/variance outputs exist only in training mode")
    x = node.require(0, "X")
    params = [_as_dtype_of(b, node.require(i), x) for i in range(1, 5)]
    y = b.op("batch_norm", x, *params, epsilon=float(node.attr("epsilon", 1e-5)))
    return [y, None, None]


def layer_norm_statistics(
    b: Builder, x: Operand, axis: int, epsilon: float, stash_type: int
) -> tuple[Operand, Operand]:
    """LayerNormalization's optional outputs: the mean and 1/sqrt(var + epsilon) over
    ``axis..``, kept as 1s; in float32 when ``stash_type`` is 1 (FLOAT)."""
    if stash_type == 1 and x.type.dtype != DType.f32:
        x = b.op("cast", x, to=DType.f32)
    axes = tuple(range(normalize_axis(axis, x.type.rank), x.type.rank))
    mean = b.op("reduce_mean", x, axes=axes, keepdims=True)
    centered = b.op("sub", x, mean)
    var = b.op("reduce_mean", b.op("mul", centered, centered), axes=axes, keepdims=True)
    eps = b.const(np.array(epsilon, dtype=x.type.dtype.numpy))
    return mean, b.op("reciprocal", b.op("sqrt", b.op("add", var, eps)))


@converter("LayerNormalization", versions=(17,))
def convert_layer_norm(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0, "X")
    inputs = [x, node.require(1, "Scale")]
    bias = node.input(2)
    if bias is not None:
        inputs.append(bias)
    axis, epsilon = int(node.attr("axis", -1)), float(node.attr("epsilon", 1e-5))
    y = b.op("layer_norm", *inputs, axis=axis, epsilon=epsilon)
    if not (node.wants(1) or node.wants(2)):
        return [y, None, None]
    stash = int(node.attr("stash_type", 1))
    return [y, *layer_norm_statistics(b, x, axis, epsilon, stash)]


@converter("Softmax", versions=(13,))
def convert_softmax(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(b.op("softmax", node.require(0), axis=int(node.attr("axis", -1))))
