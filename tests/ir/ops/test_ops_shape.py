"""Shape ops: references vs Python indexing and explicit loops; symbolic
inference; errors that name the shapes and carry a hint. All results exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nanograph.ir.errors import AttributeValueError, DTypeError, ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from tests.ir.ops.op_check import run


def infer(op, *shapes, dtype="f32", **attrs):
    opdef = get_op(op)
    outs = opdef.infer([TensorType.of(dtype, s) for s in shapes], opdef.make_attrs(attrs))
    return " ".join(str(t) for t in outs)


X = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


# views ----------------------------------------------------------------------------------------
def test_reshape_row_major_and_minus_one():
    got = run("reshape", X, shape=(4, -1))
    assert got.shape == (4, 6) and list(got.ravel()) == list(range(24))
    assert np.shares_memory(got, X) and get_op("reshape").alias == 0
    assert run("reshape", np.zeros((0, 3), np.float32), shape=(3, 0)).shape == (3, 0)


def test_reshape_symbolic():
    assert infer("reshape", ["N", "S", 64], shape=["N", "S", 4, -1]) == "f32[N,S,4,16]"
    assert infer("reshape", ["N", "S", 64], shape=[-1, 64]) == "f32[N*S,64]"
    assert infer("reshape", ["N", "S", 4, 16], shape=["N", "S", 64]) == "f32[N,S,64]"
    assert infer("reshape", ["N", "S", 64], shape=["N", -1]) == "f32[N,64*S]"


@pytest.mark.parametrize(
    ("src", "target", "needle"),
    [
        ([2, 3, 4], [5, -1], "24 elements are not provably divisible by 5"),
        (["N", 6], [4, -1], "not provably divisible by 4"),
        (["N", 6], ["N", 5], "(6*N elements) to [N,5] (5*N elements)"),
        ([4], [-1, -1], "at most one -1"),
    ],
)
def test_reshape_errors(src, target, needle):
    with pytest.raises(ShapeError) as info:
        infer("reshape", src, shape=target)
    assert needle in info.value.message and info.value.hint


def test_flatten_squeeze_unsqueeze():
    assert run("flatten", X).shape == (2, 12)
    assert run("flatten", X, axis=0).shape == (1, 24)
    assert run("flatten", X, axis=3).shape == (24, 1)
    assert run("flatten", X, axis=-1).shape == (6, 4)
    assert infer("flatten", ["N", 3, "H", "W"]) == "f32[N,3*H*W]"
    y = run("unsqueeze", X, axes=(0, -1))
    assert y.shape == (1, 2, 3, 4, 1) and np.array_equal(y[0, ..., 0], X)
    assert run("squeeze", y, axes=(0, 4)).shape == (2, 3, 4)
    assert infer("unsqueeze", ["N", 3], axes=(1,)) == "f32[N,1,3]"
    assert all(get_op(n).alias == 0 for n in ("flatten", "squeeze", "unsqueeze"))
    with pytest.raises(ShapeError, match=r"dim N is not \(provably\) 1") as info:
        infer("squeeze", ["N", 1], axes=(0,))
    assert info.value.hint


def test_transpose_moves_each_element():
    perm = (2, 0, 1)
    got = run("transpose", X, perm=perm)
    for idx in itertools.product(*(range(n) for n in X.shape)):
        assert got[tuple(idx[p] for p in perm)] == X[idx]
    assert infer("transpose", ["B", "S", 4, 16], perm=(0, 2, 1, 3)) == "f32[B,4,S,16]"
    with pytest.raises(ShapeError, match="not a permutation") as info:
        infer("transpose", [2, 3], perm=(0, 0))
    assert info.value.hint


# concat, split -------------------------------------------------------------------------------
def test_concat_and_split_roundtrip():
    a, b = X, X[:, :2] + 100
    got = run("concat", a, b, axis=1)
    assert got.shape == (2, 5, 4)
    assert np.array_equal(got[:, :3], a) and np.array_equal(got[:, 3:], b)
    parts = run("split", got, axis=1, sizes=(3, 1, 1))
    assert [p.shape for p in parts] == [(2, 3, 4), (2, 1, 4), (2, 1, 4)]
    assert np.array_equal(parts[0], a) and np.array_equal(parts[2], b[:, 1:2])
    assert get_op("split").count_outputs(get_op("split").make_attrs({"sizes": (1, 2)})) == 2


def test_concat_split_symbolic_and_errors():
    assert infer("concat", ["N", "S", 8], ["N", 1, 8], axis=1) == "f32[N,S+1,8]"
    assert infer("split", ["N", "3*E"], axis=-1, sizes=("E", "E", "E")) == (
        "f32[N,E] f32[N,E] f32[N,E]"
    )
    with pytest.raises(ShapeError, match="other dims must be equal") as info:
        infer("concat", ["N", 4], ["M", 4], axis=1)
    assert "f32[N,4], f32[M,4]" in info.value.message and info.value.hint
    with pytest.raises(ShapeError, match=r"sum to 7, not to dim 8") as info:
        infer("split", [2, 8], axis=1, sizes=(3, 4))
    assert info.value.hint
    with pytest.raises(DTypeError):
        get_op("concat").infer(
            [TensorType.of("f32", [2]), TensorType.of("i64", [2])],
            get_op("concat").make_attrs({"axis": 0}),
        )


# slice ------------------------------------------------------------------------------------------
BIG = 2**63 - 1
SLICES = [
    ((1,), (3,), None, None, np.s_[1:3]),
    ((1,), (3,), (1,), None, np.s_[:, 1:3]),
    ((0, 1), (BIG, -1), (0, 2), None, np.s_[0:, :, 1:-1]),
    ((-2,), (BIG,), (2,), None, np.s_[:, :, -2:]),
    ((-1,), (-BIG,), (1,), (-1,), np.s_[:, ::-1]),
    ((10,), (-10,), (2,), (-2,), np.s_[:, :, 10:-10:-2]),
    ((5,), (1,), (1,), None, np.s_[:, 5:1]),
    ((-100,), (100,), (0,), (3,), np.s_[-100:100:3]),
    ((0, 3), (2, 0), (1, 2), (2, -1), np.s_[:, 0:2:2, 3:0:-1]),
]


@pytest.mark.parametrize(("starts", "ends", "axes", "steps", "index"), SLICES)
def test_slice_is_python_indexing(starts, ends, axes, steps, index):
    attrs = {"starts": starts, "ends": ends}
    attrs |= {} if axes is None else {"axes": axes}
    attrs |= {} if steps is None else {"steps": steps}
    assert np.array_equal(run("slice", X, **attrs), X[index])


def test_slice_symbolic():
    assert infer("slice", ["N", "S", 64], starts=[0, -1], ends=[BIG, BIG], axes=[0, 1]) == (
        "f32[N,1,64]"
    )
    assert infer("slice", [512, 64], starts=[0], ends=["S"]) == "f32[S,64]"
    assert infer("slice", ["N", "S"], starts=[1], ends=[-1], axes=[1]) == "f32[N,S-2]"
    assert infer("slice", ["N", "S"], starts=[0], ends=[BIG], axes=[1], steps=[2]) == (
        "f32[N,(S+1)//2]"
    )
    with pytest.raises(ShapeError, match="negative step") as info:
        infer("slice", ["S"], starts=[-1], ends=[-BIG], steps=[-1])
    assert info.value.hint
    with pytest.raises(AttributeValueError, match="non-zero"):
        infer("slice", [4], starts=[0], ends=[4], steps=[0])


# expand, pad, gather ----------------------------------------------------------------------------
def test_expand_bidirectional():
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    got = run("expand", x, shape=(2, 1, 4))
    assert got.shape == (2, 3, 4)
    for i, j, k in itertools.product(range(2), range(3), range(4)):
        assert got[i, j, k] == x[j, 0]
    assert infer("expand", ["N", 1, 8], shape=(1, "S", 1)) == "f32[N,S,8]"
    with pytest.raises(ShapeError, match="do not broadcast"):
        infer("expand", [3, 2], shape=(4, 2))


def pad_index(i, size, before, mode):
    """Source index for output position i of a padded axis (None: constant)."""
    j = i - before
    if 0 <= j < size:
        return j
    if mode == "edge":
        return min(max(j, 0), size - 1)
    if mode == "reflect":
        return -j if j < 0 else 2 * (size - 1) - j
    return None


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_modes(mode):
    pads = (1, 0, 2, 0, 2, 1)
    got = run("pad", X, pads=pads, mode=mode, value=-5.0)
    assert got.shape == (3, 5, 7)
    for out_idx in itertools.product(*(range(n) for n in got.shape)):
        src = [pad_index(i, X.shape[a], pads[a], mode) for a, i in enumerate(out_idx)]
        want = -5.0 if None in src else X[tuple(src)]
        assert got[out_idx] == want


def test_pad_infer_and_errors():
    assert infer("pad", ["N", 3, "H", "W"], pads=(0, 0, 1, 1, 0, 0, 1, 1)) == "f32[N,3,H+2,W+2]"
    with pytest.raises(ShapeError, match="must be 4 non-negative values") as info:
        infer("pad", [2, 2], pads=(1, 1))
    assert info.value.hint
    with pytest.raises(ShapeError, match="must be < its dim 2"):
        infer("pad", [2, 2], pads=(2, 0, 0, 0), mode="reflect")


def test_gather_loops_and_wraps_negative():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    idx = np.array([[0, -1], [3, 1]], np.int64)
    got = run("gather", data, idx, axis=1)
    assert got.shape == (3, 2, 2)
    for r, a, b in itertools.product(range(3), range(2), range(2)):
        assert got[r, a, b] == data[r, idx[a, b] % 4]
    rows = run("gather", data, np.array([2, -3], np.int32))
    assert np.array_equal(rows, data[[2, 0]])
    with pytest.raises(IndexError, match="index 4 is out of range for axis 1 of length 4"):
        run("gather", data, np.array([4]), axis=1)
    types = [TensorType.of("f32", ["V", 64]), TensorType.of("i64", ["N", "S"])]
    assert str(get_op("gather").infer(types, get_op("gather").make_attrs({}))[0]) == "f32[N,S,64]"
    with pytest.raises(DTypeError):
        get_op("gather").infer([types[0], types[0]], get_op("gather").make_attrs({}))


# shape, range -----------------------------------------------------------------------------------
def test_shape_and_range():
    assert run("shape", X).tolist() == [2, 3, 4]
    assert infer("shape", ["N", "S", 64]) == "i64[3]"
    assert run("range", limit=5).tolist() == list(range(5))
    assert run("range", start=2, limit=9, delta=3).tolist() == list(range(2, 9, 3))
    assert run("range", start=5, limit=0, delta=-2).tolist() == list(range(5, 0, -2))
    assert run("range", start=5, limit=2).tolist() == []
    assert infer("range", limit="S") == "i64[S]"
    assert infer("range", start=1, limit="S", delta=2) == "i64[S//2]"
    assert get_op("range").inputs == ()
    with pytest.raises(ShapeError, match="symbolic dims at run time") as info:
        get_op("range").reference([], get_op("range").make_attrs({"limit": "S"}))
    assert "specialize" in info.value.hint
