"""Data-movement executor kernels (transpose, concat, split, slice, expand, pad,
gather, cast, where, shape, range) and reductions against the reference. All are
exact: they copy, select or (reductions) sum with stated float32 error.

Reductions: float32 pairwise sums against float64, rtol 1e-5 plus atol 1e-5 on
sums of up to 200 unit-normal terms (error ~ log2(n) ulps of the magnitudes).
"""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir.ops.slicing import TO_THE_END
from tests.backends.planned.test_kernels_harness import check_kernel, randn, run_kernel

EXACT = {"rtol": 0, "atol": 0}


@pytest.mark.parametrize("perm", [(1, 0, 2), (0, 2, 1), (2, 1, 0), (0, 1, 2)])
def test_transpose(perm: tuple) -> None:
    check_kernel("transpose", [randn(np.random.default_rng(0), 3, 4, 5)], {"perm": perm}, **EXACT)
    x = randn(np.random.default_rng(0), 2, 3, 4, 5)
    check_kernel("transpose", [x], {"perm": (0, 2, 3, 1)}, **EXACT)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_and_split(axis: int) -> None:
    rng = np.random.default_rng(1)
    parts = [randn(rng, 2, 3, 4) for _ in range(3)]
    shape = list(parts[1].shape)
    shape[axis] = 1
    parts[1] = randn(rng, *shape)
    check_kernel("concat", parts, {"axis": axis}, **EXACT)
    whole = np.concatenate(parts, axis=axis)
    sizes = [p.shape[axis] for p in parts]
    check_kernel("split", [whole], {"axis": axis, "sizes": sizes}, **EXACT)


SLICES = [
    {"starts": (1,), "ends": (3,)},
    {"starts": (0, -3), "ends": (TO_THE_END, -1), "axes": (0, 2)},
    {"starts": (-1,), "ends": (-TO_THE_END,), "axes": (1,), "steps": (-2,)},
    {"starts": (0,), "ends": (TO_THE_END,), "axes": (-1,), "steps": (3,)},
    {"starts": (5,), "ends": (9,), "axes": (1,)},
]


@pytest.mark.parametrize("attrs", SLICES, ids=str)
def test_slice(attrs: dict) -> None:
    check_kernel("slice", [randn(np.random.default_rng(2), 4, 6, 7)], attrs, **EXACT)


def test_expand_and_pad() -> None:
    rng = np.random.default_rng(3)
    check_kernel("expand", [randn(rng, 1, 3, 1)], {"shape": (2, 1, 3, 4)}, **EXACT)
    x = randn(rng, 2, 3, 4)
    pads = {"pads": (0, 1, 2, 1, 0, 3)}
    check_kernel("pad", [x], {**pads, "value": -1.5}, **EXACT)
    check_kernel("pad", [x], {**pads, "mode": "reflect"}, **EXACT)
    check_kernel("pad", [x], {**pads, "mode": "edge"}, **EXACT)
    check_kernel("pad", [np.arange(6).reshape(2, 3)], {"pads": (1, 0, 0, 2), "value": 7.0}, **EXACT)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather(axis: int) -> None:
    rng = np.random.default_rng(4)
    data = randn(rng, 5, 6, 7)
    dim = data.shape[axis]
    indices = rng.integers(-dim, dim, (3, 4))
    check_kernel("gather", [data, indices], {"axis": axis}, **EXACT)
    check_kernel("gather", [data, indices.astype(np.int32)], {"axis": axis}, **EXACT)


def test_gather_out_of_range_raises_like_the_reference() -> None:
    data = np.zeros((5, 2), np.float32)
    for bad in (5, -6):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for axis 0"):
            run_kernel("gather", [data, np.array([0, bad])])


def test_cast() -> None:
    x = np.float32([-2.7, -0.5, 0.0, 0.5, 2.7, 3e4])
    for to in ("i64", "i32", "bool", "f16", "f32"):
        check_kernel("cast", [x], {"to": to}, **EXACT)
    check_kernel("cast", [np.array([True, False])], {"to": "f32"}, **EXACT)


@pytest.mark.parametrize("inplace", [None, 1, 2])
def test_where(inplace: int | None) -> None:
    rng = np.random.default_rng(5)
    cond = rng.random((4, 1, 6)) > 0.5
    a, b = randn(rng, 4, 5, 6), randn(rng, 4, 5, 6)
    check_kernel("where", [cond, a, b], inplace=inplace, **EXACT)
    check_kernel("where", [cond, a, np.float32(-np.inf)], **EXACT)


def test_shape_and_range() -> None:
    check_kernel("shape", [np.zeros((2, 0, 3), np.float32)], **EXACT)
    check_kernel("range", [], {"start": 2, "limit": 11, "delta": 3}, **EXACT)
    check_kernel("range", [], {"start": 5, "limit": -1, "delta": -2}, **EXACT)


REDUCE_AXES = [None, (), (0,), (1, 2), (-1,), (0, 2)]


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
@pytest.mark.parametrize("axes", REDUCE_AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(op: str, axes: tuple | None, keepdims: bool) -> None:
    rng = np.random.default_rng(6)
    attrs = {"axes": axes, "keepdims": keepdims}
    check_kernel(op, [randn(rng, 4, 5, 10)], attrs, rtol=1e-5, atol=1e-5)
    if op != "reduce_mean":
        check_kernel(op, [rng.integers(-9, 9, (4, 5, 10))], attrs)


def test_argmax() -> None:
    rng = np.random.default_rng(7)
    x = np.round(randn(rng, 4, 5, 6))  # ties: the first index, as the reference
    for axis in (0, 1, -1):
        for keepdims in (False, True):
            check_kernel("argmax", [x], {"axis": axis, "keepdims": keepdims})
