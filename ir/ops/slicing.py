"""Ops that select, repeat or surround elements: slice, expand, pad, gather.

Part of the ``shape`` family (registered with ``register_shape_op``). Slice
bounds may be symbolic dims; ends at or past ``TO_THE_END`` mean "to the end"
(the ONNX INT64_MAX idiom).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim, add, floordiv
from nanograph.ir.errors import AttributeValueError, ShapeError
from nanograph.ir.ops.inference import (
    broadcast_shapes,
    normalize_axes,
    normalize_axis,
    require_dtype,
    static_ints,
    sub_dim,
)
from nanograph.ir.ops.shape import register_shape_op
from nanograph.ir.types import DType, TensorType

TO_THE_END = 2**62  # slice ends at or beyond this mean "to the end" (ONNX INT64_MAX idiom)


# slice --------------------------------------------------------------------------------------
def _slice_params(rank: int, attrs: Attrs) -> list[tuple[int, Dim, Dim, int]]:
    """(axis, start, end, step) per sliced axis, validated."""
    starts, ends = attrs["starts"], attrs["ends"]
    axes = attrs.get("axes", tuple(range(len(starts))))
    steps = attrs.get("steps", (1,) * len(starts))
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise AttributeValueError(
            "slice starts, ends, axes and steps must have the same length, got "
            f"{len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}"
        )
    if 0 in steps:
        raise AttributeValueError("slice steps must be non-zero", hint="use 1 for every element")
    axes = normalize_axes(axes, rank)
    return list(zip(axes, starts, ends, steps, strict=True))


def _static_slice_len(dim: int, start: int, end: int, step: int) -> int:
    return len(range(*slice(start, end, step).indices(dim)))


def _symbolic_slice_len(dim: Dim, start: Dim, end: Dim, step: int, what: str) -> Dim:
    """Length of x[start:end:step] along a symbolic axis; assumes 0 <= start <= end <= dim."""
    if step < 0:
        raise ShapeError(
            f"{what}: a negative step on a symbolic dim is not supported",
            hint="bind the symbol (specialize) first, or reverse with a positive step",
        )
    start = add(dim, start) if isinstance(start, int) and start < 0 else start
    if isinstance(end, int) and end >= TO_THE_END:
        end = dim
    elif isinstance(end, int) and end < 0:
        end = add(dim, end)
    length = sub_dim(end, start)
    if isinstance(length, int):
        return max(0, -(-length // step))
    return floordiv(add(length, step - 1), step)


def _slice_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    shape = list(x.shape)
    for axis, start, end, step in _slice_params(x.rank, attrs):
        dim = shape[axis]
        if isinstance(dim, int) and isinstance(start, int) and isinstance(end, int):
            shape[axis] = _static_slice_len(dim, start, end, step)
        else:
            what = f"slice [{start}:{end}:{step}] of axis {axis} of {x}"
            shape[axis] = _symbolic_slice_len(dim, start, end, step, what)
    return [x.with_shape(shape)]


def _slice_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    index = [slice(None)] * x.ndim
    for axis, start, end, step in _slice_params(x.ndim, attrs):
        lo, hi = static_ints((start, end), "slice bounds")
        index[axis] = slice(lo, hi, step)
    return [x[tuple(index)].copy()]


register_shape_op(
    "slice",
    _slice_infer,
    _slice_reference,
    "x[starts:ends:steps] on axes (Python/ONNX semantics: negative from the end, clamped)",
    {
        "starts": AttrSpec("dims"),
        "ends": AttrSpec("dims", doc=f">= {TO_THE_END} means to the end"),
        "axes": AttrSpec("ints", None, doc="absent: 0..len(starts)-1"),
        "steps": AttrSpec("ints", None, doc="absent: all 1"),
    },
)


# expand, pad, gather ------------------------------------------------------------------------
def _expand_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    return [x.with_shape(broadcast_shapes(x.shape, attrs["shape"]))]


def _expand_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    shape = np.broadcast_shapes(x.shape, static_ints(attrs["shape"], "expand shape"))
    return [np.broadcast_to(x, shape).copy()]


register_shape_op(
    "expand",
    _expand_infer,
    _expand_reference,
    "broadcast x and shape together (ONNX Expand: a 1 in shape keeps x's dim)",
    {"shape": AttrSpec("dims")},
)


def _pad_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, pads, mode = types[0], attrs["pads"], attrs["mode"]
    if len(pads) != 2 * x.rank or min(pads, default=0) < 0:
        raise ShapeError(
            f"pads {list(pads)} must be {2 * x.rank} non-negative values for {x}",
            hint="give all begins then all ends, one per axis; use slice to crop",
        )
    shape = []
    for i, d in enumerate(x.shape):
        before, after = pads[i], pads[i + x.rank]
        if mode == "reflect" and isinstance(d, int) and max(before, after) >= d:
            raise ShapeError(
                f"reflect pads ({before}, {after}) on axis {i} of {x} must be < its dim {d}",
                hint="use mode='edge' or 'constant', or smaller pads",
            )
        if mode == "edge" and d == 0 and before + after > 0:
            raise ShapeError(f"edge padding of the empty axis {i} of {x} has no edge")
        shape.append(add(d, before + after))
    return [x.with_shape(shape)]


def _pad_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x, pads, mode = inputs[0], attrs["pads"], attrs["mode"]
    width = [(pads[i], pads[i + x.ndim]) for i in range(x.ndim)]
    if mode == "constant":
        return [np.pad(x, width, constant_values=np.asarray(attrs["value"]).astype(x.dtype))]
    return [np.pad(x, width, mode=mode)]


register_shape_op(
    "pad",
    _pad_infer,
    _pad_reference,
    "pad each axis (pads: all begins, then all ends); constant, reflect or edge",
    {
        "pads": AttrSpec("ints"),
        "mode": AttrSpec("str", "constant", choices=("constant", "reflect", "edge")),
        "value": AttrSpec("float", 0.0),
    },
)


def _gather_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    data, indices = types
    require_dtype(indices, (DType.i64, DType.i32), "indices")
    axis = normalize_axis(attrs["axis"], data.rank)
    return [data.with_shape((*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :]))]


def _gather_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    data, indices = inputs
    axis = normalize_axis(attrs["axis"], data.ndim)
    dim = data.shape[axis]
    bad = (indices < -dim) | (indices >= dim)
    if np.any(bad):
        index = int(indices[bad].flat[0])
        raise IndexError(f"gather: index {index} is out of range for axis {axis} of length {dim}")
    return [np.take(data, np.where(indices < 0, indices + dim, indices), axis=axis)]


register_shape_op(
    "gather",
    _gather_infer,
    _gather_reference,
    "pick slices of data along axis by indices (negative wrap; out of range raises)",
    {"axis": AttrSpec("int", 0)},
    inputs=("data", "indices"),
)
