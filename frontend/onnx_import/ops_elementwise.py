"""Converters of elementwise ONNX ops: math, activations, comparisons, logic, casts.

Most map one-to-one onto an IR op (ONNX and the IR both broadcast like NumPy
and require equal input dtypes). The rest are written with core ops:
``LeakyRelu`` is ``where(x < 0, alpha*x, x)``; variadic ``Min``/``Max``/``Sum``
are chains of ``minimum``/``maximum``/``add`` and ``Mean`` divides the sum;
``Clip`` with constant bounds on floats is ``clip``, otherwise
``maximum``/``minimum``; ``Dropout`` is the identity (inference) and its
mask, if used, all true.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand, is_static
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.frontend.onnx_import.tensors import onnx_dtype

_BINARY = {
    "Add": ("add", (13, 14)),
    "Sub": ("sub", (13, 14)),
    "Mul": ("mul", (13, 14)),
    "Div": ("div", (13, 14)),
    "Equal": ("equal", (13, 19)),
    "Less": ("less", (13,)),
    "LessOrEqual": ("less_equal", (12, 16)),
    "Greater": ("greater", (13,)),
    "GreaterOrEqual": ("greater_equal", (12, 16)),
    "And": ("and", (7,)),
    "Or": ("or", (7,)),
}
_UNARY = {
    "Relu": ("relu", (13, 14)),
    "Sigmoid": ("sigmoid", (13,)),
    "Tanh": ("tanh", (13,)),
    "Exp": ("exp", (13,)),
    "Log": ("log", (13,)),
    "Sqrt": ("sqrt", (13,)),
    "Erf": ("erf", (13,)),
    "Reciprocal": ("reciprocal", (13,)),
    "Neg": ("neg", (13,)),
    "Abs": ("abs", (13,)),
    "Not": ("not", (1,)),
}


def _register_binary(op_type: str, ir_op: str, versions: tuple[int, ...]) -> None:
    @converter(op_type, versions=versions)
    def convert(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
        return one(b.op(ir_op, node.require(0), node.require(1)))


def _register_unary(op_type: str, ir_op: str, versions: tuple[int, ...]) -> None:
    @converter(op_type, versions=versions)
    def convert(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
        return one(b.op(ir_op, node.require(0)))


for _op_type, (_ir_op, _versions) in _BINARY.items():
    _register_binary(_op_type, _ir_op, _versions)
for _op_type, (_ir_op, _versions) in _UNARY.items():
    _register_unary(_op_type, _ir_op, _versions)


@converter("Pow", versions=(13, 15))
def convert_pow(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    """Pow-15 allows an exponent of another type (x**2 with an int 2): cast it to x's."""
    x, y = node.require(0), node.require(1)
    if y.type.dtype != x.type.dtype:
        y = b.op("cast", y, to=x.type.dtype)
    return one(b.op("pow", x, y))


@converter("Where", versions=(9, 16))
def convert_where(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(b.op("where", node.require(0), node.require(1), node.require(2)))


@converter("Identity", versions=(13, 14, 16, 19, 21, 23, 24, 25))
def convert_identity(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(node.require(0))


@converter("Cast", versions=(13, 19, 21, 23, 24, 25, 28))
def convert_cast(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    """Cast to one of our dtypes; ``saturate`` only concerns float8 types, which we refuse."""
    to = onnx_dtype(node.attr("to"), f"the target of {node.op_type}", node.loc)
    x = node.require(0)
    return one(x if x.type.dtype == to else b.op("cast", x, to=to))


@converter("CastLike", versions=(15, 19, 21, 23, 24, 25))
def convert_cast_like(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x, like = node.require(0), node.require(1)
    to = like.type.dtype
    return one(x if x.type.dtype == to else b.op("cast", x, to=to))


@converter("LeakyRelu", versions=(6, 16))
def convert_leaky_relu(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    dtype = x.type.dtype.numpy
    alpha = b.const(np.array(node.attr("alpha", 0.01), dtype=dtype))
    negative = b.op("less", x, b.const(np.array(0, dtype=dtype)))
    return one(b.op("where", negative, b.op("mul", x, alpha), x))


@converter("Gelu", versions=(20,))
def convert_gelu(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise node.refuse(f"approximate={approximate!r} is not 'none' or 'tanh'")
    return one(b.op("gelu", node.require(0), approximate=approximate))


@converter("Clip", versions=(13,))
def convert_clip(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x = node.require(0)
    low, high = node.input(1), node.input(2)
    if x.type.dtype.is_float and all(v is None or is_static(v) for v in (low, high)):
        lo = -math.inf if low is None else float(b.static(low, "min").reshape(-1)[0])
        hi = math.inf if high is None else float(b.static(high, "max").reshape(-1)[0])
        return one(b.op("clip", x, min=lo, max=hi))
    y: Operand = x
    if low is not None:
        y = b.op("maximum", y, low)
    if high is not None:
        y = b.op("minimum", y, high)
    return one(y)


def _chain(b: Builder, node: OnnxNode, ir_op: str) -> Operand:
    inputs = [v for v in node.inputs if v is not None]
    if not inputs:
        raise node.refuse("needs at least one input")
    out = inputs[0]
    for value in inputs[1:]:
        out = b.op(ir_op, out, value)
    return out


@converter("Min", versions=(13,))
def convert_min(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(_chain(b, node, "minimum"))


@converter("Max", versions=(13,))
def convert_max(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(_chain(b, node, "maximum"))


@converter("Sum", versions=(13,))
def convert_sum(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(_chain(b, node, "add"))


@converter("Mean", versions=(13,))
def convert_mean(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    total = _chain(b, node, "add")
    count = sum(1 for v in node.inputs if v is not None)
    if count == 1:
        return one(total)
    return one(b.op("div", total, b.const(np.array(count, dtype=total.type.dtype.numpy))))


@converter("Dropout", versions=(13, 22))
def convert_dropout(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    """Inference: the identity. A requested mask is all true (nothing dropped)."""
    x = node.require(0)
    training = node.input(2)
    if training is not None and bool(np.any(b.static(training, "training_mode"))):
        raise node.refuse(
            "training_mode=true (random dropout) is not supported; nanograph is inference-only",
            hint="export the model in eval mode",
        )
    mask = b.op("expand", b.const(np.array(True)), shape=x.type.shape) if node.wants(1) else None
    return [x, mask]
