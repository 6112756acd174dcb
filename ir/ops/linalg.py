"""``matmul`` with NumPy semantics.

Both operands have rank >= 1. A 1-D ``a`` is a row vector and a 1-D ``b`` a
column vector, and that axis is dropped from the result; leading (batch) dims
broadcast. The inner dims must be provably equal (same int, or the same
symbolic expression). Float products accumulate in float64 and return the
input dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.dims import Dim, mul
from nanograph.ir.errors import ShapeError
from nanograph.ir.ops.inference import (
    broadcast_shapes,
    prod_dims,
    require_dtype,
    require_same_dtype,
)
from nanograph.ir.ops.registry import Cost, OpDef, bytes_moved, register
from nanograph.ir.types import DType, TensorType, shape_str

NUMERIC = (DType.f32, DType.f16, DType.i64, DType.i32)


def matmul_dims(
    a: Sequence[Dim], b: Sequence[Dim]
) -> tuple[tuple[Dim, ...], Dim, Dim, Dim, tuple[Dim, ...]]:
    """(batch, M, K, N, output shape) of ``a @ b``; raises ShapeError naming both shapes."""
    shown = f"{shape_str(a)} @ {shape_str(b)}"
    if not a or not b:
        raise ShapeError(
            f"matmul needs operands of rank >= 1, got {shown}",
            hint="use mul for scalars",
        )
    a2 = (1, *a) if len(a) == 1 else tuple(a)
    b2 = (*b, 1) if len(b) == 1 else tuple(b)
    m, k = a2[-2], a2[-1]
    k2, n = b2[-2], b2[-1]
    if k != k2:
        why = "differ" if isinstance(k, int) and isinstance(k2, int) else "are not provably equal"
        raise ShapeError(
            f"inner dims {k} and {k2} {why}: {shown}",
            hint="a's last dim must equal b's second-to-last (transpose or reshape one side)",
        )
    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except ShapeError as err:
        raise ShapeError(
            f"batch dims do not broadcast in {shown}: {err.message}", hint=err.hint
        ) from None
    out = (*batch, *((m,) if len(a) > 1 else ()), *((n,) if len(b) > 1 else ()))
    return batch, m, k, n, out


def _infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    dtype = require_same_dtype(types)
    require_dtype(types[0], NUMERIC)
    *_, out = matmul_dims(types[0].shape, types[1].shape)
    return [TensorType(dtype, out)]


def _reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    a, b = inputs
    if a.dtype.kind == "f":
        return [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)]
    return [np.matmul(a, b).astype(a.dtype)]


def _cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    batch, m, k, n, _ = matmul_dims(ins[0].shape, ins[1].shape)
    flops = mul(mul(mul(mul(2, m), n), k), prod_dims(batch))
    return Cost(flops, bytes_moved(ins, outs))


register(
    OpDef(
        name="matmul",
        inputs=("a", "b"),
        infer=_infer,
        reference=_reference,
        cost=_cost,
        family="linalg",
        doc="a @ b with NumPy semantics (1-D operands, broadcast batch dims)",
    )
)
