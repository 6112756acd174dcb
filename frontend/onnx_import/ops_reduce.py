"""Converters of ``ReduceSum``/``ReduceMean``/``ReduceMax``/``ReduceMin`` and ``ArgMax``.

Version adapter: the reduced axes are an *input* of ``ReduceSum`` from
version 13 and of the other three from version 18, an *attribute* before.
Absent or empty axes reduce every axis, unless ``noop_with_empty_axes=1``
(then the op is the identity). ``keepdims`` defaults to 1. Boolean inputs
(``ReduceMax``/``ReduceMin`` 20: any/all) reduce as int32. ``ArgMax`` with
``select_last_index=1`` is refused (the IR's argmax picks the first of ties).
"""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.ir.types import DType

_REDUCTIONS = {
    "ReduceSum": ("reduce_sum", (13,), 13),
    "ReduceMean": ("reduce_mean", (13, 18), 18),
    "ReduceMax": ("reduce_max", (13, 18, 20), 18),
    "ReduceMin": ("reduce_min", (13, 18, 20), 18),
}


def reduce_axes(b: Builder, node: OnnxNode, axes_input_since: int) -> tuple[int, ...] | None:
    """The axes to reduce, read where ``node.version`` keeps them; None means all."""
    if node.version >= axes_input_since:
        given = node.input(1)
        axes = () if given is None else b.ints(given, "the axes input")
    else:
        axes = tuple(node.attr("axes", ()))
    return axes or None


def _register(op_type: str, ir_op: str, versions: tuple[int, ...], since: int) -> None:
    @converter(op_type, versions=versions)
    def convert(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
        x = node.require(0)
        axes = reduce_axes(b, node, since)
        if axes is None and node.attr("noop_with_empty_axes", 0):
            return one(x)
        keepdims = bool(node.attr("keepdims", 1))
        if x.type.dtype == DType.bool:  # ReduceMax/Min-20: any/all, through int32
            y = b.op(ir_op, b.op("cast", x, to=DType.i32), axes=axes, keepdims=keepdims)
            return one(b.op("cast", y, to=DType.bool))
        return one(b.op(ir_op, x, axes=axes, keepdims=keepdims))


for _op_type, (_ir_op, _versions, _since) in _REDUCTIONS.items():
    _register(_op_type, _ir_op, _versions, _since)


@converter("ArgMax", versions=(13,))
def convert_argmax(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    if node.attr("select_last_index", 0):
        raise node.refuse(
            "select_last_index=1 is not supported (nanograph's argmax picks the first of ties)"
        )
    axis, keepdims = int(node.attr("axis", 0)), bool(node.attr("keepdims", 1))
    return one(b.op("argmax", node.require(0), axis=axis, keepdims=keepdims))
