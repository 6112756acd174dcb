"""attention: the decomposition vs the per-vector formulas of the seed notes.

For each query i: alpha_ij = q_i . k_j * scale (+ additive mask), keys hidden by
a bool mask, causality (j > i) or the window (|i-j| > w) are left out,
alpha'_ij = exp(alpha_ij) / sum_j exp(alpha_ij), b_i = sum_j alpha'_ij v_j.
A query with no visible key has no softmax: its output is NaN by definition.
Tolerances: rtol 1e-5, atol 1e-6 (float32 vs a float64 loop).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nanograph.ir.dims import substitute
from nanograph.ir.errors import DTypeError, ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType, type_of_array

RTOL, ATOL = 1e-5, 1e-6


def run(*arrays, **attrs):
    opdef = get_op("attention")
    norm = opdef.make_attrs(attrs)
    (out,) = opdef.reference(list(arrays), norm)
    assert opdef.infer([type_of_array(a) for a in arrays], norm) == [type_of_array(out)]
    return out


def per_vector(q, k, v, mask=None, scale=None, causal=False, window=-1):
    b_, h_, sq, d = q.shape
    skv, dv = k.shape[2], v.shape[3]
    scale = 1 / math.sqrt(d) if scale is None else scale
    if mask is not None:
        mask = np.broadcast_to(mask, (b_, h_, sq, skv))
    out = np.zeros((b_, h_, sq, dv))
    for b in range(b_):
        for h in range(h_):
            for i in range(sq):
                alpha = {}
                for j in range(skv):
                    if causal and j > i:
                        continue
                    if window >= 0 and abs(i - j) > window:
                        continue
                    if mask is not None and mask.dtype == bool and not mask[b, h, i, j]:
                        continue
                    a = sum(float(q[b, h, i, t]) * float(k[b, h, j, t]) for t in range(d)) * scale
                    if mask is not None and mask.dtype != bool:
                        a += float(mask[b, h, i, j])
                    alpha[j] = a
                if not alpha:
                    out[b, h, i] = math.nan
                    continue
                top = max(alpha.values())
                denom = sum(math.exp(a - top) for a in alpha.values())
                for j, a in alpha.items():
                    out[b, h, i] += math.exp(a - top) / denom * v[b, h, j].astype(np.float64)
    return out


def qkv(b=2, h=2, sq=5, skv=5, d=4, dv=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((b, h, sq, d)).astype(np.float32),
        rng.standard_normal((b, h, skv, d)).astype(np.float32),
        rng.standard_normal((b, h, skv, dv)).astype(np.float32),
    )


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"causal": True},
        {"window": 1},
        {"window": 0},
        {"causal": True, "window": 2},
        {"scale": 0.3},
        {"scale": 0.7, "causal": True},
    ],
)
@pytest.mark.parametrize(("sq", "skv"), [(5, 5), (3, 6), (6, 3)])
def test_attention_matches_per_vector_formulas(attrs, sq, skv):
    q, k, v = qkv(sq=sq, skv=skv)
    got = run(q, k, v, **attrs)
    want = per_vector(q, k, v, **attrs)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mask_shape", [(2, 2, 4, 6), (4, 6), (2, 1, 1, 6), (1, 6)])
def test_attention_bool_mask_hides_false(mask_shape):
    q, k, v = qkv(sq=4, skv=6)
    mask = np.random.default_rng(3).random(mask_shape) < 0.7
    mask[..., 0] = True  # every query sees at least one key
    got = run(q, k, v, mask, causal=False)
    np.testing.assert_allclose(got, per_vector(q, k, v, mask), rtol=RTOL, atol=ATOL)


def test_attention_additive_mask_and_causal():
    q, k, v = qkv(sq=4, skv=4)
    mask = np.random.default_rng(4).standard_normal((1, 2, 4, 4)).astype(np.float32)
    got = run(q, k, v, mask, causal=True)
    np.testing.assert_allclose(got, per_vector(q, k, v, mask, causal=True), rtol=RTOL, atol=ATOL)


def test_attention_fully_hidden_row_is_nan():
    q, k, v = qkv(sq=3, skv=3)
    mask = np.ones((3, 3), bool)
    mask[1] = False  # query 1 sees nothing
    got = run(q, k, v, mask)
    assert np.all(np.isnan(got[:, :, 1])) and np.all(np.isfinite(got[:, :, [0, 2]]))
    np.testing.assert_allclose(got, per_vector(q, k, v, mask), rtol=RTOL, atol=ATOL)
    # an additive mask of -inf over a whole row gives NaN as well
    additive = np.zeros((3, 3), np.float32)
    additive[2] = -np.inf
    got = run(q, k, v, additive)
    assert np.all(np.isnan(got[:, :, 2])) and np.all(np.isfinite(got[:, :, :2]))


def test_attention_symbolic_infer_and_cost():
    op = get_op("attention")
    types = [
        TensorType.of("f32", s)
        for s in (["B", 4, "S", 16], ["B", 4, "T", 16], ["B", 4, "T", 8], ["B", 1, 1, "T"])
    ]
    attrs = op.make_attrs({"causal": True, "window": 4})
    (out,) = op.infer(types, attrs)
    assert str(out) == "f32[B,4,S,8]"
    flops = substitute(op.cost(types, [out], attrs).flops, {"B": 2, "S": 3, "T": 5})
    matmuls = 2 * (2 * 4 * 3 * 5) * (16 + 8)  # q @ k^T and p @ v dominate
    assert isinstance(flops, int) and matmuls < flops < 1.5 * matmuls


@pytest.mark.parametrize(
    ("shapes", "dtypes", "attrs", "error", "needle"),
    [
        ([[1, 2, 4, 8], [1, 2, 4, 4], [1, 2, 4, 8]], "fff", {}, ShapeError, "same head dim"),
        ([[1, 2, 4, 8], [1, 2, 5, 8], [1, 2, 4, 8]], "fff", {}, ShapeError, "same length Skv"),
        ([[1, 2, 4, 8], [1, 3, 4, 8], [1, 3, 4, 8]], "fff", {}, ShapeError, "share [B, H]"),
        ([[1, 2, 4, 8]] * 3 + [[1, 2, 5, 4]], "ffff", {}, ShapeError, "does not broadcast"),
        ([[1, 2, 4, 8]] * 3 + [[4, 4]], "fffi", {}, DTypeError, "bool (False = hidden)"),
        ([[1, 2, 4, "D"]] * 3, "fff", {}, ShapeError, "pass scale="),
        ([[1, 2, 4, 8]] * 2, "ff", {}, ShapeError, "takes 3 to 4 inputs"),
    ],
)
def test_attention_errors(shapes, dtypes, attrs, error, needle):
    op = get_op("attention")
    names = {"f": "f32", "i": "i64"}
    types = [TensorType.of(names[d], s) for d, s in zip(dtypes, shapes, strict=True)]
    with pytest.raises(error) as info:
        op.check_arity(len(types))
        op.infer(types, op.make_attrs(attrs))
    assert needle in str(info.value)
    assert info.value.hint or needle.startswith("takes")
