"""Shape ops: reshape, transpose, flatten, squeeze, unsqueeze, concat, split,
shape and range (slice, expand, pad and gather are in ``slicing``).

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
    normalize_axes,
    normalize_axis,
    prod_dims,
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


def _view_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(0, 0)


def _output_only_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(0, bytes_moved((), outs))


def register_shape_op(
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


register_shape_op(
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


register_shape_op(
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
    register_shape_op(
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


register_shape_op(
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


register_shape_op(
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


register_shape_op(
    "split",
    _split_infer,
    _split_reference,
    "cut x along axis into pieces of the given sizes; one output per size",
    {"axis": AttrSpec("int", 0), "sizes": AttrSpec("dims")},
    num_outputs=lambda a: len(a["sizes"]),
)


# shape and range ----------------------------------------------------------------------------
register_shape_op(
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


register_shape_op(
    "range",
    lambda ts, a: [TensorType(DType.i64, (_range_len(a["start"], a["limit"], a["delta"]),))],
    _range_reference,
    "i64 [start, start+delta, ...) up to limit (np.arange); symbols give runtime sizes",
    {"start": AttrSpec("dim", 0), "limit": AttrSpec("dim"), "delta": AttrSpec("int", 1)},
    inputs=(),
    cost=_output_only_cost,
)
