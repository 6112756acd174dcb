"""Lowering of reductions and ``argmax``.

- ``axes`` absent: reduce every axis (the ONNX default; no axes given).
- ``axes=()``: our reductions then reduce *nothing* (NumPy's ``axis=()``),
  while ONNX's empty axes mean "all" (or, with ``noop_with_empty_axes``, an
  identity that ignores ``keepdims``): exported as ``Identity``, explicitly.
- otherwise ``axes`` go where the opset wants them: an input for
  ``ReduceSum`` (opset 13+) and for ``ReduceMean/Max/Min`` from opset 18, an
  attribute before.
- ``argmax`` -> ``ArgMax(axis, keepdims)`` (first index on ties, as NumPy).
"""

from __future__ import annotations

from nanograph.backends.onnx_export.context import ExportContext
from nanograph.backends.onnx_export.lowering import LowerFn
from nanograph.ir.graph import Node

_ONNX_REDUCE = {
    "reduce_sum": "ReduceSum",
    "reduce_mean": "ReduceMean",
    "reduce_max": "ReduceMax",
    "reduce_min": "ReduceMin",
}


def lower_reduce(ctx: ExportContext, node: Node) -> None:
    onnx_op = _ONNX_REDUCE[node.op]
    x, out = node.inputs[0].name, node.output.name
    axes, keepdims = node.attrs.get("axes"), int(node.attrs["keepdims"])
    if axes is None:
        ctx.emit1(onnx_op, [x], out, keepdims=keepdims)
    elif len(axes) == 0:
        ctx.emit1("Identity", [x], out)
    elif onnx_op == "ReduceSum" or ctx.opset >= 18:
        ctx.emit1(onnx_op, [x, ctx.i64s(axes, "axes")], out, keepdims=keepdims)
    else:
        ctx.emit1(onnx_op, [x], out, axes=list(axes), keepdims=keepdims)


def lower_argmax(ctx: ExportContext, node: Node) -> None:
    a = node.attrs
    ctx.emit1(
        "ArgMax",
        [node.inputs[0].name],
        node.output.name,
        axis=a["axis"],
        keepdims=int(a["keepdims"]),
    )


reduction_lowerings: dict[str, LowerFn] = {
    **{op: lower_reduce for op in _ONNX_REDUCE},
    "argmax": lower_argmax,
}

__all__ = ["reduction_lowerings"]
