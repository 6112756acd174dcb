"""Lowering of shape and data-movement ops.

| op | ONNX |
|---|---|
| reshape | Reshape(x, shape): the simplest correct target (see ``reshape_target``) |
| transpose, flatten, concat, gather | Transpose, Flatten, Concat, Gather |
| squeeze, unsqueeze | Squeeze/Unsqueeze with axes as an input |
| split | Split with the sizes as an input |
| slice | Slice(x, starts, ends, axes, steps) as inputs |
| expand | Expand(x, shape); a symbolic dim x already has becomes 1 |
| pad | Pad(x, pads, constant_value) with mode constant/reflect/edge |
| shape | Shape |
| range | Range on 0-d i64 start, limit, delta |

Dims in attributes that are symbolic are computed at run time from the
inputs' shapes (``dims.DimMaterializer``), so one file runs at every size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.backends.onnx_export.context import ExportContext
from nanograph.backends.onnx_export.lowering import LowerFn, one_to_one
from nanograph.ir.dims import Dim
from nanograph.ir.graph import Node


def reshape_target(src: Sequence[Dim], target: Sequence[Dim]) -> tuple[list[Dim], bool]:
    """The ONNX ``Reshape`` shape for ``src -> target`` and whether it copies dims.

    Returns (dims, copies): with ``copies`` True, a 0 means "the input's dim
    here" (ONNX ``allowzero=0``); else every dim is literal (``allowzero=1``
    when a literal 0 is present). Preference, each step only when correct:
    all static as is; one symbolic dim (no -1) becomes -1; symbolic dims equal
    to the input's dim at the same position become 0 (when no literal 0
    exists), then a single remaining symbolic dim becomes -1. What stays
    symbolic is computed at run time by the caller.
    """
    dims = list(target)
    symbolic = [i for i, d in enumerate(dims) if not isinstance(d, int)]
    has_zero = any(d == 0 for d in dims)
    if not symbolic:
        return dims, False
    if len(symbolic) == 1 and -1 not in dims and not has_zero:
        dims[symbolic[0]] = -1
        return dims, False
    if has_zero:
        return dims, False
    copies = False
    for i in symbolic:
        if i < len(src) and src[i] == dims[i]:
            dims[i], copies = 0, True
    left = [i for i, d in enumerate(dims) if not isinstance(d, int)]
    if len(left) == 1 and -1 not in dims:
        dims[left[0]] = -1
    return dims, copies


def lower_reshape(ctx: ExportContext, node: Node) -> None:
    x = node.inputs[0]
    dims, copies = reshape_target(x.type.shape, node.attrs["shape"])
    literal_zero = not copies and any(d == 0 for d in dims)
    ctx.emit1(
        "Reshape",
        [x.name, ctx.shape(dims)],
        node.output.name,
        allowzero=1 if literal_zero else None,
    )


def _axes_input(onnx_op: str) -> LowerFn:
    def lower(ctx: ExportContext, node: Node) -> None:
        axes = ctx.i64s(node.attrs["axes"], "axes")
        ctx.emit1(onnx_op, [node.inputs[0].name, axes], node.output.name)

    return lower


def lower_transpose(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Transpose", [node.inputs[0].name], node.output.name, perm=list(node.attrs["perm"]))


def lower_flatten(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Flatten", [node.inputs[0].name], node.output.name, axis=node.attrs["axis"])


def lower_concat(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Concat", ctx.names(node.inputs), node.output.name, axis=node.attrs["axis"])


def lower_gather(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Gather", ctx.names(node.inputs), node.output.name, axis=node.attrs["axis"])


def lower_split(ctx: ExportContext, node: Node) -> None:
    sizes = ctx.shape(node.attrs["sizes"], "sizes")
    outs = ctx.names(node.outputs)
    ctx.emit("Split", [node.inputs[0].name, sizes], outs, axis=node.attrs["axis"])


def lower_slice(ctx: ExportContext, node: Node) -> None:
    a = node.attrs
    n = len(a["starts"])
    axes = a.get("axes") or tuple(range(n))
    steps = a.get("steps") or (1,) * n
    inputs = [
        node.inputs[0].name,
        ctx.shape(a["starts"], "starts"),
        ctx.shape(a["ends"], "ends"),
        ctx.i64s(axes, "axes"),
        ctx.i64s(steps, "steps"),
    ]
    ctx.emit1("Slice", inputs, node.output.name)


def lower_expand(ctx: ExportContext, node: Node) -> None:
    """Expand; a symbolic target dim that x already has (aligned from the right) becomes 1."""
    x = node.inputs[0]
    shape = list(node.attrs["shape"])
    offset = len(shape) - x.type.rank
    for i, d in enumerate(shape):
        j = i - offset
        if not isinstance(d, int) and 0 <= j < x.type.rank and x.type.shape[j] == d:
            shape[i] = 1
    ctx.emit1("Expand", [x.name, ctx.shape(shape)], node.output.name)


def lower_pad(ctx: ExportContext, node: Node) -> None:
    x = node.inputs[0]
    mode = node.attrs["mode"]
    inputs = [x.name, ctx.i64s(node.attrs["pads"], "pads")]
    if mode == "constant":
        value = np.asarray(node.attrs["value"]).astype(x.type.dtype.numpy)
        inputs.append(ctx.const(value, "value"))
    ctx.emit1("Pad", inputs, node.output.name, mode=mode)


def lower_range(ctx: ExportContext, node: Node) -> None:
    """Range(start, limit, delta) on 0-d i64 tensors; symbolic bounds computed at run time."""
    a = node.attrs
    bounds = [ctx.dims.scalar(a["start"]), ctx.dims.scalar(a["limit"])]
    ctx.emit1("Range", [*bounds, ctx.dims.scalar(a["delta"])], node.output.name)


shape_lowerings: dict[str, LowerFn] = {
    "reshape": lower_reshape,
    "transpose": lower_transpose,
    "flatten": lower_flatten,
    "squeeze": _axes_input("Squeeze"),
    "unsqueeze": _axes_input("Unsqueeze"),
    "concat": lower_concat,
    "split": lower_split,
    "slice": lower_slice,
    "expand": lower_expand,
    "pad": lower_pad,
    "gather": lower_gather,
    "shape": one_to_one("Shape"),
    "range": lower_range,
}

__all__ = ["reshape_target", "shape_lowerings"]
