"""Reductions, argmax and matmul vs brute-force Python over indices.

Tolerances: rtol 1e-5, atol 1e-6 for float32; integer results are exact.
"""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from nanograph.ir.errors import DTypeError, ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from tests.ir.ops.op_check import run

RTOL, ATOL = 1e-5, 1e-6


def infer(op, *shapes, dtype="f32", **attrs):
    opdef = get_op(op)
    return opdef.infer([TensorType.of(dtype, s) for s in shapes], opdef.make_attrs(attrs))[0]


def brute_reduce(x, axes, keepdims, fn):
    """Group elements by their kept indices; apply fn to each group's list."""
    axes = range(x.ndim) if axes is None else [a % x.ndim for a in axes]
    groups = {}
    for idx in itertools.product(*(range(n) for n in x.shape)):
        key = tuple(0 if i in axes else v for i, v in enumerate(idx))
        groups.setdefault(key, []).append(x[idx].item())
    shape = [1 if i in axes else n for i, n in enumerate(x.shape)]
    out = np.empty(shape, dtype=np.float64)
    for key, values in groups.items():
        out[key] = fn(values)
    if not keepdims:
        out = out.reshape([n for i, n in enumerate(x.shape) if i not in axes])
    return out


FNS = {"reduce_sum": sum, "reduce_mean": statistics.fmean, "reduce_max": max, "reduce_min": min}


@pytest.mark.parametrize("op", sorted(FNS))
@pytest.mark.parametrize(
    ("axes", "keepdims"),
    [(None, False), (None, True), ((1,), False), ((0, -1), True), ((2, 0), False)],
)
def test_reductions_brute_force(op, axes, keepdims):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    attrs = {"keepdims": keepdims} if axes is None else {"axes": axes, "keepdims": keepdims}
    got = run(op, x, **attrs)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, brute_reduce(x, axes, keepdims, FNS[op]), rtol=RTOL, atol=ATOL)


def test_reductions_int_and_empty_axes():
    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    got = run("reduce_sum", x, axes=(1,))
    assert got.dtype == np.int64
    assert got.tolist() == brute_reduce(x, (1,), False, sum).astype(np.int64).tolist()
    assert run("reduce_max", x, axes=()).tolist() == x.tolist()  # axes=() reduces nothing


def test_reduction_infer_and_errors():
    assert str(infer("reduce_mean", ["N", "S", 64], axes=(1,), keepdims=True)) == "f32[N,1,64]"
    assert str(infer("reduce_sum", ["N", "S", 64])) == "f32[]"
    with pytest.raises(ShapeError, match="out of range") as info:
        infer("reduce_sum", ["N", 4], axes=(2,))
    assert info.value.hint
    with pytest.raises(DTypeError):
        infer("reduce_mean", [4], dtype="i64")
    with pytest.raises(ShapeError, match="length 0"):
        infer("reduce_max", [0, 3], axes=(0,))


@pytest.mark.parametrize(("axis", "keepdims"), [(-1, False), (0, True), (1, False)])
def test_argmax_first_of_ties(axis, keepdims):
    x = np.array([[[1, 3, 3], [2, 2, 0]], [[5, 5, 5], [0, 9, 9]]], np.float32)
    got = run("argmax", x, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64
    want = brute_reduce(x, (axis,), keepdims, lambda v: v.index(max(v)))
    assert got.tolist() == want.astype(np.int64).tolist()
    assert str(infer("argmax", ["N", 10])) == "i64[N]"


# matmul -------------------------------------------------------------------------------------
def brute_matmul(a, b):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, (*batch, *a2.shape[-2:]))
    b2 = np.broadcast_to(b2, (*batch, *b2.shape[-2:]))
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    out = np.zeros((*batch, m, n))
    for idx in itertools.product(*(range(d) for d in batch)):
        for i, j in itertools.product(range(m), range(n)):
            out[(*idx, i, j)] = sum(
                float(a2[(*idx, i, t)]) * float(b2[(*idx, t, j)]) for t in range(k)
            )
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 4), (4, 2)),
        ((4,), (4, 2)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((1, 3, 4), (2, 4, 2)),
    ],
)
def test_matmul_brute_force(sa, sb):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    np.testing.assert_allclose(run("matmul", a, b), brute_matmul(a, b), rtol=RTOL, atol=ATOL)


def test_matmul_ints_exact():
    a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.arange(12, dtype=np.int32).reshape(3, 4)
    got = run("matmul", a, b)
    assert got.dtype == np.int32 and got.tolist() == brute_matmul(a, b).astype(int).tolist()


def test_matmul_symbolic_infer_and_cost():
    assert str(infer("matmul", ["B", "S", 64], [64, "E"])) == "f32[B,S,E]"
    assert str(infer("matmul", ["B", 4, "S", 16], ["B", 4, 16, "S"])) == "f32[B,4,S,S]"
    assert str(infer("matmul", [1, "H", "S", "D"], ["N", 1, "D", 8])) == "f32[N,H,S,8]"
    assert str(infer("matmul", ["K"], ["K"])) == "f32[]"
    op = get_op("matmul")
    ins = [TensorType.of("f32", s) for s in (["B", 3, 64], [64, 32])]
    assert str(op.cost(ins, op.infer(ins, op.make_attrs({})), op.make_attrs({})).flops) == "12288*B"


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ShapeError) as info:
        infer("matmul", ["N", 64], [32, 10])
    assert "inner dims 64 and 32 differ" in info.value.message
    assert "[N,64] @ [32,10]" in info.value.message and info.value.hint
    with pytest.raises(ShapeError, match="are not provably equal"):
        infer("matmul", ["N", "K"], [32, 10])
    with pytest.raises(ShapeError, match=r"batch dims do not broadcast in \[2,3,4\] @ \[5,4,3\]"):
        infer("matmul", [2, 3, 4], [5, 4, 3])
    with pytest.raises(ShapeError, match="rank >= 1"):
        infer("matmul", [], [3])
    with pytest.raises(DTypeError):
        get_op("matmul").infer([TensorType.of("f32", [2, 2]), TensorType.of("f16", [2, 2])], {})
