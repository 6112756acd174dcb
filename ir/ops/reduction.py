"""Reductions: ``reduce_sum``, ``reduce_mean``, ``reduce_max``, ``reduce_min``
and ``argmax``.

``axes`` absent (None) reduces every axis; an explicit empty tuple reduces
none (NumPy's ``axis=()``: the output is the input). ``keepdims`` keeps
reduced axes as 1. Float sums and means accumulate in float64 and return the
input dtype; integer sums stay integer (int64 accumulation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim
from nanograph.ir.errors import ShapeError
from nanograph.ir.ops.inference import normalize_axes, normalize_axis, require_dtype
from nanograph.ir.ops.registry import Cost, OpDef, bytes_moved, register
from nanograph.ir.types import DType, TensorType

NUMERIC = (DType.f32, DType.f16, DType.i64, DType.i32)
FLOATS = (DType.f32, DType.f16)


def reduced_axes(attrs: Attrs, rank: int) -> tuple[int, ...]:
    """The normalized axes a reduction removes (all of them when ``axes`` is absent)."""
    axes = attrs.get("axes")
    return tuple(range(rank)) if axes is None else normalize_axes(axes, rank)


def reduced_shape(shape: Sequence[Dim], axes: tuple[int, ...], keepdims: bool) -> tuple[Dim, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _check_nonempty(t: TensorType, axes: tuple[int, ...], op: str) -> None:
    for a in axes:
        if t.shape[a] == 0:
            raise ShapeError(
                f"{op} over axis {a} of {t}, which has length 0, has no value",
                hint="reduce over non-empty axes (or use reduce_sum, which gives 0)",
            )


def _reduction_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(ins[0].numel, bytes_moved(ins, outs))


def _reduce(
    name: str,
    fn: Callable[..., np.ndarray],
    allowed: tuple[DType, ...],
    *,
    needs_values: bool = False,
    doc: str,
) -> None:
    def infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
        x = types[0]
        require_dtype(x, allowed)
        axes = reduced_axes(attrs, x.rank)
        if needs_values:
            _check_nonempty(x, axes, name)
        return [x.with_shape(reduced_shape(x.shape, axes, attrs["keepdims"]))]

    def reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        x = inputs[0]
        axes = reduced_axes(attrs, x.ndim)
        wide = x.astype(np.float64 if x.dtype.kind == "f" else np.int64)
        out = fn(wide, axis=axes, keepdims=attrs["keepdims"])
        return [np.asarray(out).astype(x.dtype)]

    register(
        OpDef(
            name=name,
            inputs=("x",),
            attrs={
                "axes": AttrSpec("ints", None, doc="axes to reduce; absent: all"),
                "keepdims": AttrSpec("bool", False),
            },
            infer=infer,
            reference=reference,
            cost=_reduction_cost,
            family="reduction",
            doc=doc,
        )
    )


_reduce("reduce_sum", np.sum, NUMERIC, doc="sum over axes (0 for empty axes)")
_reduce("reduce_mean", np.mean, FLOATS, needs_values=True, doc="arithmetic mean over axes")
_reduce("reduce_max", np.max, NUMERIC, needs_values=True, doc="maximum over axes (NaN wins)")
_reduce("reduce_min", np.min, NUMERIC, needs_values=True, doc="minimum over axes (NaN wins)")


# argmax -----------------------------------------------------------------------------
def _argmax_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    require_dtype(x, NUMERIC)
    axis = normalize_axis(attrs["axis"], x.rank)
    _check_nonempty(x, (axis,), "argmax")
    shape = reduced_shape(x.shape, (axis,), attrs["keepdims"])
    return [TensorType(DType.i64, shape)]


def _argmax_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    out = np.argmax(x, axis=normalize_axis(attrs["axis"], x.ndim), keepdims=attrs["keepdims"])
    return [np.asarray(out, dtype=np.int64)]


register(
    OpDef(
        name="argmax",
        inputs=("x",),
        attrs={"axis": AttrSpec("int", -1), "keepdims": AttrSpec("bool", False)},
        infer=_argmax_infer,
        reference=_argmax_reference,
        cost=_reduction_cost,
        family="reduction",
        doc="index (i64) of the largest value along axis; ties give the first index",
    )
)
