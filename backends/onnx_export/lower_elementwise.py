"""Lowering of elementwise ops: math, activations, comparisons, logic, where, cast, clip.

Most ops are one ONNX node of the same meaning (``relu`` -> ``Relu``). The
others:

- ``gelu``: ``Gelu`` (with ``approximate``) from opset 20; below, its erf
  form ``0.5*x*(1+erf(x/sqrt(2)))`` or, for ``approximate="tanh"``,
  ``0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))``, constants in x's dtype;
- ``silu``: ``x * Sigmoid(x)`` at every opset;
- ``clip``: ``Clip`` with ``min``/``max`` as inputs of x's dtype (an infinite
  bound is left out);
- ``cast``: ``Cast(to=...)``; ``maximum``/``minimum``: ``Max``/``Min``;
- ``add``: ``Add``, except an add whose only use is the input of a
  ``layer_norm`` (a residual connection before a norm; float, as layer_norm
  requires), which is ``Sum`` (the same meaning, broadcasting included).
  onnxruntime fuses Add + LayerNormalization into
  ``com.microsoft.SkipLayerNormalization`` where it can prove both operands
  [B, S, H], and that CPU kernel (onnxruntime 1.32) took 2-3x the time of the
  two ops it replaces (0.45 ms against 0.13 ms on [32, 32, 64]; pos_tagger's
  O2 export at batch 32: 4.5 -> 3.5 ms). ``Sum`` is not matched by that fusion.
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


def lower_add(ctx: ExportContext, node: Node) -> None:
    """``Add``; ``Sum`` for an add feeding only a layer_norm's input (see the module docstring)."""
    uses = node.output.uses
    before_norm = len(uses) == 1 and uses[0][0].op == "layer_norm" and uses[0][1] == 0
    op = "Sum" if before_norm else "Add"
    ctx.emit(op, ctx.names(node.inputs), ctx.names(node.outputs))


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
    "add": lower_add,
    "gelu": lower_gelu,
    "silu": lower_silu,
    "clip": lower_clip,
    "cast": lower_cast,
}

__all__ = ["elementwise_lowerings"]
