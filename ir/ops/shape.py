"""Shape and data-movement ops: reshape, transpose, flatten, squeeze, unsqueeze,
concat, split, slice, expand, pad, gather, shape and range.

Inference works on symbolic dims and proves what it needs (element counts,
equal dims) or raises ``ShapeError``. Dims in attributes (``reshape.shape``,
``slice.starts``, ``range.limit``, ...) may be symbolic; references run on
specialized graphs, where they are ints. ``reshape``, ``flatten``,
``squeeze`` and ``unsqueeze`` are views of their input (``alias=0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim, add, exact_div, floordiv
from nanograph.ir.errors import AttributeValueError, ShapeError
from nanograph.ir.ops.inference import (
    broadcast_shapes,
    normalize_axes,
    normalize_axis,
    prod_dims,
    require_dtype,
    require_same_dtype,
    static_ints,
    sub_dim,
)
from nanograph.ir.ops.registry import (
    Cost,
    InferFn,
    OpDef,
    ReferenceFn,
    bytes_moved,
    data_movement_cost,
    register,
)
from nanograph.ir.types import DType, TensorType, shape_str

TO_THE_END = 2**62  # slice ends at or beyond this mean "to the end" (ONNX INT64_MAX idiom)


def _view_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(0, 0)


def _output_only_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(0, bytes_moved((), outs))


def _register(
    name: str,
    infer: InferFn,
    reference: ReferenceFn,
    doc: str,
    attrs: dict[str, AttrSpec],
    inputs: tuple[str, ...] = ("x",),
    **extra: object,
) -> None:
    extra.setdefault("cost", data_movement_cost)
    register(
        OpDef(
            name=name,
            inputs=inputs,
            attrs=attrs,
            infer=infer,
            reference=reference,
            family="shape",
            doc=doc,
            **extra,  # type: ignore[arg-type]
        )
    )


# reshape, flatten, squeeze, unsqueeze: views ---------------------------------------------
def reshape_target(src: Sequence[Dim], target: Sequence[Dim]) -> tuple[Dim, ...]:
    """``target`` with its -1 resolved; element counts must be provably equal."""
    holes = [i for i, d in enumerate(target) if d == -1]
    bad = [d for d in target if isinstance(d, int) and d < -1]
    if len(holes) > 1 or bad:
        raise ShapeError(
            f"reshape target {shape_str(target)} must have dims >= 0 and at most one -1",
            hint="use -1 for the one dim to infer; 0 means a dim of length 0",
        )
    total = prod_dims(src)
    known = prod_dims(d for d in target if d != -1)
    if holes:
        inferred = exact_div(total, known)
        if inferred is None:
            raise ShapeError(
                f"cannot reshape {shape_str(src)} to {shape_str(target)}: "
                f"{total} elements are not provably divisible by {known}",
                hint="give the target dims explicitly (symbolic where needed)",
            )
        return tuple(inferred if d == -1 else d for d in target)
    if total != known:
        raise ShapeError(
            f"cannot reshape {shape_str(src)} ({total} elements) to {shape_str(target)} "
            f"({known} elements)",
            hint="the element counts must be equal (provably, for symbolic dims)",
        )
    return tuple(target)


def _reshape_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    return [types[0].with_shape(reshape_target(types[0].shape, attrs["shape"]))]


def _reshape_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    return [inputs[0].reshape(static_ints(attrs["shape"], "reshape shape"))]


_register(
    "reshape",
    _reshape_infer,
    _reshape_reference,
    "same elements in a new shape (row-major); one dim may be -1; 0 is a literal 0",
    {"shape": AttrSpec("dims")},
    cost=_view_cost,
    alias=0,
)


def _flatten_axis(axis: int, rank: int) -> int:
    if not -rank <= axis <= rank:
        raise ShapeError(
            f"flatten axis {axis} is out of range for rank {rank}",
            hint=f"use an axis in [{-rank}, {rank}]",
        )
    return axis + rank if axis < 0 else axis


def _flatten_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    axis = _flatten_axis(attrs["axis"], x.rank)
    return [x.with_shape((prod_dims(x.shape[:axis]), prod_dims(x.shape[axis:])))]


def _flatten_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    axis = _flatten_axis(attrs["axis"], x.ndim)
    return [x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))]


_register(
    "flatten",
    _flatten_infer,
    _flatten_reference,
    "2-D view [prod(dims before axis), prod(dims from axis)] (ONNX Flatten)",
    {"axis": AttrSpec("int", 1)},
    cost=_view_cost,
    alias=0,
)


def _squeeze_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    axes = normalize_axes(attrs["axes"], x.rank)
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(
                f"cannot squeeze axis {a} of {x}: its dim {x.shape[a]} is not (provably) 1",
                hint="squeeze only axes of length 1",
            )
    return [x.with_shape(d for i, d in enumerate(x.shape) if i not in axes)]


def _unsqueeze_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    rank = x.rank + len(attrs["axes"])
    axes = normalize_axes(attrs["axes"], rank)
    dims = iter(x.shape)
    return [x.with_shape(1 if i in axes else next(dims) for i in range(rank))]


def _reshape_to_inferred(infer: InferFn) -> ReferenceFn:
    """Reference of a view op whose output shape follows from the input shape alone."""

    def reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        x = inputs[0]
        (out,) = infer([TensorType(DType.parse(x.dtype), x.shape)], attrs)
        return [x.reshape(static_ints(out.shape, "shape"))]

    return reference


for _name, _infer, _doc in (
    ("squeeze", _squeeze_infer, "remove the given axes, each of length 1"),
    ("unsqueeze", _unsqueeze_infer, "insert length-1 axes at the given output positions"),
):
    _register(
        _name,
        _infer,
        _reshape_to_inferred(_infer),
        _doc,
        {"axes": AttrSpec("ints")},
        cost=_view_cost,
        alias=0,
    )


# transpose, concat, split ----------------------------------------------------------------
def _transpose_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, perm = types[0], attrs["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(
            f"perm {list(perm)} is not a permutation of the {x.rank} axes of {x}",
            hint=f"list each of 0..{x.rank - 1} exactly once",
        )
    return [x.with_shape(x.shape[p] for p in perm)]


_register(
    "transpose",
    _transpose_infer,
    lambda ins, a: [np.ascontiguousarray(np.transpose(ins[0], a["perm"]))],
    "permute axes: output axis i is input axis perm[i]",
    {"perm": AttrSpec("ints")},
)


def _concat_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    first = types[0]
    dtype = require_same_dtype(types)
    axis = normalize_axis(attrs["axis"], first.rank)
    for t in types[1:]:
        same = t.rank == first.rank and all(
            a == b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True)) if i != axis
        )
        if not same:
            shown = ", ".join(str(x) for x in types)
            raise ShapeError(
                f"cannot concat {shown} on axis {axis}: other dims must be equal",
                hint="all inputs need the same rank and equal dims except on the concat axis",
            )
    size: Dim = 0
    for t in types:
        size = add(size, t.shape[axis])
    shape = list(first.shape)
    shape[axis] = size
    return [TensorType(dtype, tuple(shape))]


_register(
    "concat",
    _concat_infer,
    lambda ins, a: [np.concatenate(list(ins), axis=a["axis"])],
    "join inputs along axis",
    {"axis": AttrSpec("int")},
    inputs=("*inputs",),
)


def _split_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, sizes = types[0], attrs["sizes"]
    axis = normalize_axis(attrs["axis"], x.rank)
    total: Dim = 0
    for s in sizes:
        total = add(total, s)
    if total != x.shape[axis]:
        raise ShapeError(
            f"split sizes {shape_str(sizes)} sum to {total}, not to dim {x.shape[axis]} "
            f"of {x} on axis {axis}",
            hint="sizes must add up to the length of the split axis",
        )
    return [x.with_shape((*x.shape[:axis], s, *x.shape[axis + 1 :])) for s in sizes]


def _split_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    cuts = np.cumsum(static_ints(attrs["sizes"], "split sizes"))[:-1]
    return [p.copy() for p in np.split(x, cuts, axis=normalize_axis(attrs["axis"], x.ndim))]


_register(
    "split",
    _split_infer,
    _split_reference,
    "cut x along axis into pieces of the given sizes; one output per size",
    {"axis": AttrSpec("int", 0), "sizes": AttrSpec("dims")},
    num_outputs=lambda a: len(a["sizes"]),
)


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


_register(
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


_register(
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


_register(
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


_register(
    "gather",
    _gather_infer,
    _gather_reference,
    "pick slices of data along axis by indices (negative wrap; out of range raises)",
    {"axis": AttrSpec("int", 0)},
    inputs=("data", "indices"),
)


# shape and range ----------------------------------------------------------------------------
_register(
    "shape",
    lambda ts, a: [TensorType(DType.i64, (ts[0].rank,))],
    lambda ins, a: [np.array(ins[0].shape, dtype=np.int64)],
    "the shape of x as i64[rank] (reads no data)",
    {},
    cost=_output_only_cost,
)


def _range_len(start: Dim, limit: Dim, delta: int) -> Dim:
    if delta == 0:
        raise AttributeValueError("range delta must be non-zero")
    span = sub_dim(limit, start) if delta > 0 else sub_dim(start, limit)
    step = abs(delta)
    if isinstance(span, int):
        return max(0, -(-span // step))
    return floordiv(add(span, step - 1), step)  # assumes a non-negative span


def _range_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    start, limit = static_ints((attrs["start"], attrs["limit"]), "range bounds")
    return [np.arange(start, limit, attrs["delta"], dtype=np.int64)]


_register(
    "range",
    lambda ts, a: [TensorType(DType.i64, (_range_len(a["start"], a["limit"], a["delta"]),))],
    _range_reference,
    "i64 [start, start+delta, ...) up to limit (np.arange); symbols give runtime sizes",
    {"start": AttrSpec("dim", 0), "limit": AttrSpec("dim"), "delta": AttrSpec("int", 1)},
    inputs=(),
    cost=_output_only_cost,
)
