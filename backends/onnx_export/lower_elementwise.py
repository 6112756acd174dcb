"""Lowering of elementwise ops: math, activations, comparisons, logic, where, cast, clip.

Most ops are one ONNX node of the same meaning (``relu`` -> ``Relu``). The
others:

- ``gelu``: ``Gelu`` (with ``approximate``) from opset 20; below, its erf
  form ``0.5*x*(1+erf(x/sqrt(2)))`` or, for ``approximate="tanh"``,
  ``0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))``, constants in x's dtype;
- ``silu``: ``x * Sigmoid(x)`` at every opset;
- ``clip``: ``Clip`` with ``min``/``max`` as inputs of x's dtype (an infinite
  bound is left out);
- ``cast``: ``Cast(to=...)``; ``maximum``/``minimum``: ``Max``/``Min``.
"""

from __future__ import annotations

import math

from nanograph.backends.onnx_export.context import ONNX_DTYPES, ExportContext
from nanograph.backends.onnx_export.lowering import LowerFn, one_to_one
from nanograph.ir.graph import Node

_SAME_MEANING = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "erf": "Erf",
    "reciprocal": "Reciprocal",
    "neg": "Neg",
    "abs": "Abs",
    "identity": "Identity",
    "not": "Not",
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "maximum": "Max",
    "minimum": "Min",
    "equal": "Equal",
    "less": "Less",
    "less_equal": "LessOrEqual",
    "greater": "Greater",
    "greater_equal": "GreaterOrEqual",
    "and": "And",
    "or": "Or",
    "where": "Where",
}


def lower_gelu(ctx: ExportContext, node: Node) -> None:
    """``Gelu`` from opset 20; its erf or tanh form below."""
    (x,) = node.inputs
    out, approximate = node.output.name, node.attrs["approximate"]
    if ctx.opset >= 20:
        ctx.emit1("Gelu", [x.name], out, approximate=approximate)
        return
    dt = x.type.dtype
    if approximate == "tanh":
        cube = ctx.emit1("Mul", [x.name, ctx.emit1("Mul", [x.name, x.name])])
        inner = ctx.emit1("Add", [x.name, ctx.emit1("Mul", [cube, ctx.scalar(0.044715, dt)])])
        scaled = ctx.emit1("Mul", [inner, ctx.scalar(math.sqrt(2.0 / math.pi), dt)])
        phi = ctx.emit1("Tanh", [scaled])
    else:
        phi = ctx.emit1("Erf", [ctx.emit1("Div", [x.name, ctx.scalar(math.sqrt(2.0), dt)])])
    half_x = ctx.emit1("Mul", [x.name, ctx.scalar(0.5, dt)])
    ctx.emit1("Mul", [half_x, ctx.emit1("Add", [phi, ctx.scalar(1.0, dt)])], out)


def lower_silu(ctx: ExportContext, node: Node) -> None:
    """x * Sigmoid(x)."""
    x = node.inputs[0].name
    ctx.emit1("Mul", [x, ctx.emit1("Sigmoid", [x])], node.output.name)


def lower_clip(ctx: ExportContext, node: Node) -> None:
    """Clip(x, min, max); infinite bounds are omitted (an empty input name)."""
    x = node.inputs[0]
    bounds = [
        "" if math.isinf(node.attrs[k]) else ctx.scalar(node.attrs[k], x.type.dtype, k)
        for k in ("min", "max")
    ]
    while bounds and not bounds[-1]:
        bounds.pop()
    ctx.emit1("Clip", [x.name, *bounds], node.output.name)


def lower_cast(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Cast", [node.inputs[0].name], node.output.name, to=ONNX_DTYPES[node.attrs["to"]])


elementwise_lowerings: dict[str, LowerFn] = {
    **{op: one_to_one(onnx_op) for op, onnx_op in _SAME_MEANING.items()},
    "gelu": lower_gelu,
    "silu": lower_silu,
    "clip": lower_clip,
    "cast": lower_cast,
}

__all__ = ["elementwise_lowerings"]
