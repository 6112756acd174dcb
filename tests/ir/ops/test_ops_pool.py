"""Pools: max/avg reference vs a direct loop over windows; global pools.

The loop states the semantics independently: taps in the padding are -inf
(max) or skipped (avg); avg divides by the taps inside the input, or inside
the padded extent with count_include_pad; with ceil_mode the last window must
start inside the input or the begin padding (PyTorch).
Tolerances: rtol 1e-5, atol 1e-6 (float32 output of float64 sums).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nanograph.ir.errors import ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from tests.ir.ops.op_check import run

RTOL, ATOL = 1e-5, 1e-6


def infer(op, shape, **attrs):
    opdef = get_op(op)
    return opdef.infer([TensorType.of("f32", shape)], opdef.make_attrs(attrs))[0]


def out_len(size, k, s, before, after, d, ceil):
    span = d * (k - 1) + 1
    if not ceil:
        return (size + before + after - span) // s + 1
    n = math.ceil((size + before + after - span) / s) + 1
    return n - 1 if (n - 1) * s >= size + before else n


def pool_loop(x, kind, kernel, strides, pads, dil, ceil, include_pad):
    n_, c_, h_, w_ = x.shape
    pt, pl, pb, pr = pads
    ho = out_len(h_, kernel[0], strides[0], pt, pb, dil[0], ceil)
    wo = out_len(w_, kernel[1], strides[1], pl, pr, dil[1], ceil)
    out = np.zeros((n_, c_, ho, wo))
    for n, c, p, q in itertools.product(range(n_), range(c_), range(ho), range(wo)):
        values, count = [], 0
        for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
            r, s = p * strides[0] - pt + i * dil[0], q * strides[1] - pl + j * dil[1]
            inside = 0 <= r < h_ and 0 <= s < w_
            in_padded = -pt <= r < h_ + pb and -pl <= s < w_ + pr
            if inside:
                values.append(float(x[n, c, r, s]))
            count += inside or (include_pad and in_padded)
        if kind == "max":
            out[n, c, p, q] = max(values, default=-math.inf)
        else:
            out[n, c, p, q] = sum(values) / count
    return out


CASES = [
    # (kernel, strides, pads, dilations, ceil_mode)
    ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False),
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    ((3, 2), (2, 3), (1, 0, 0, 1), (1, 1), False),
    ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True),
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((2, 2), (3, 3), (1, 1, 1, 1), (1, 1), True),  # the PyTorch last-window rule fires
    ((2, 3), (2, 2), (1, 1, 1, 1), (2, 1), True),
]


@pytest.mark.parametrize(("kernel", "strides", "pads", "dil", "ceil"), CASES)
def test_max_pool_matches_loop(kernel, strides, pads, dil, ceil):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(np.float32)
    attrs = dict(kernel=kernel, strides=strides, pads=pads, dilations=dil, ceil_mode=ceil)
    got = run("max_pool2d", x, **attrs)
    want = pool_loop(x, "max", kernel, strides, pads, dil, ceil, False)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    nhwc = run("max_pool2d", x.transpose(0, 2, 3, 1), layout="NHWC", **attrs)
    np.testing.assert_allclose(nhwc, want.transpose(0, 2, 3, 1), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("kernel", "strides", "pads", "dil", "ceil"), CASES)
@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool_matches_loop(kernel, strides, pads, dil, ceil, include_pad):
    x = np.random.default_rng(1).standard_normal((1, 2, 7, 8)).astype(np.float32)
    attrs = dict(
        kernel=kernel,
        strides=strides,
        pads=pads,
        dilations=dil,
        ceil_mode=ceil,
        count_include_pad=include_pad,
    )
    got = run("avg_pool2d", x, **attrs)
    want = pool_loop(x, "avg", kernel, strides, pads, dil, ceil, include_pad)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_max_pool_padding_is_minus_infinity_not_zero() -> None:
    x = -np.ones((1, 1, 2, 2), np.float32)
    got = run("max_pool2d", x, kernel=(2, 2), pads=(1, 1, 1, 1))
    assert np.all(got == -1.0)


def test_avg_pool_count_include_pad_corner() -> None:
    x = np.ones((1, 1, 2, 2), np.float32)
    excl = run("avg_pool2d", x, kernel=(2, 2), pads=(1, 1, 1, 1))
    incl = run("avg_pool2d", x, kernel=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True)
    assert excl[0, 0, 0, 0] == 1.0 and incl[0, 0, 0, 0] == 0.25


def test_global_pools() -> None:
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5)).astype(np.float32)
    avg = run("global_avg_pool2d", x)
    mx = run("global_max_pool2d", x)
    for n, c in itertools.product(range(2), range(3)):
        vals = [float(v) for v in x[n, c].ravel()]
        assert math.isclose(avg[n, c, 0, 0], sum(vals) / len(vals), rel_tol=RTOL, abs_tol=ATOL)
        assert mx[n, c, 0, 0] == max(vals)
    nhwc = run("global_avg_pool2d", x.transpose(0, 2, 3, 1), layout="NHWC")
    np.testing.assert_allclose(nhwc, avg.transpose(0, 2, 3, 1), rtol=RTOL, atol=ATOL)
    assert str(infer("global_max_pool2d", ["N", "H", "W", 8], layout="NHWC")) == "f32[N,1,1,8]"


def test_pool_symbolic_dims() -> None:
    t = infer("max_pool2d", ["N", 16, "H", "W"], kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    assert t == TensorType.of("f32", ["N", 16, "(H-1)//2+1", "(W-1)//2+1"])
    t = infer("avg_pool2d", ["N", 16, "H", 9], kernel=(2, 2), strides=(2, 2), ceil_mode=True)
    assert t == TensorType.of("f32", ["N", 16, "(H-1)//2+1", 5])


def test_pool_errors() -> None:
    # with a symbolic size, ceil_mode's last-window rule cannot be decided
    with pytest.raises(ShapeError, match="ceil_mode") as info:
        infer(
            "max_pool2d",
            ["N", 1, "H", 8],
            kernel=(2, 2),
            strides=(3, 3),
            pads=(1, 1, 1, 1),
            ceil_mode=True,
        )
    assert info.value.hint
    with pytest.raises(ShapeError, match="larger than the padded input") as info:
        infer("avg_pool2d", [1, 1, 2, 8], kernel=(3, 3))
    assert "f32[1,1,2,8]" in info.value.message and info.value.hint
