"""conv2d and fused_conv2d: reference vs a direct loop over output positions.

Tolerances: float32 outputs of float64 accumulation, compared with a float64
loop: rtol 1e-5, atol 1e-6.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nanograph.ir.errors import AttributeValueError, ShapeError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from tests.ir.ops.op_check import run

RTOL, ATOL = 1e-5, 1e-6


def infer(op: str, *shapes: list[object], dtype: str = "f32", **attrs: object) -> TensorType:
    opdef = get_op(op)
    return opdef.infer([TensorType.of(dtype, s) for s in shapes], opdef.make_attrs(attrs))[0]


def conv_loop(x, w, b, strides, pads, dilations, groups):
    """out[n,o,p,q] = b[o] + sum over c,i,j of x[n, g*Cg+c, p*s - pad + i*d, ...] * w[o,c,i,j]."""
    n_, _, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = strides, dilations, pads
    ho = (h_ + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w_ + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n_, o_, ho, wo))
    per_group = o_ // groups
    for n, o, p, q in itertools.product(range(n_), range(o_), range(ho), range(wo)):
        g = o // per_group
        total = 0.0 if b is None else float(b[o])
        for c, i, j in itertools.product(range(cg), range(kh), range(kw)):
            r, s = p * sh - pt + i * dh, q * sw - pl + j * dw
            if 0 <= r < h_ and 0 <= s < w_:
                total += float(x[n, g * cg + c, r, s]) * float(w[o, c, i, j])
        out[n, o, p, q] = total
    return out


CASES = [
    # (C, O, kernel, strides, pads, dilations, groups)
    (3, 4, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (3, 4, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (2, 3, (3, 2), (2, 1), (1, 0, 2, 1), (1, 1), 1),
    (2, 2, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),
    (4, 6, (3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 2),
    (4, 4, (3, 3), (2, 2), (1, 1, 0, 0), (2, 1), 4),  # depthwise
    (4, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 2),
]


@pytest.mark.parametrize(("c", "o", "k", "strides", "pads", "dil", "groups"), CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_loop(c, o, k, strides, pads, dil, groups, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, c, 7, 6)).astype(np.float32)
    w = rng.standard_normal((o, c // groups, *k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if bias else None
    attrs = dict(strides=strides, pads=pads, dilations=dil, groups=groups)
    got = run("conv2d", *([x, w] if b is None else [x, w, b]), **attrs)
    want = conv_loop(x, w, b, strides, pads, dil, groups)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("c", "o", "k", "strides", "pads", "dil", "groups"), CASES[1::2])
def test_conv2d_nhwc_is_nchw_transposed(c, o, k, strides, pads, dil, groups):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, c, 6, 7)).astype(np.float32)
    w = rng.standard_normal((o, c // groups, *k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    attrs = dict(strides=strides, pads=pads, dilations=dil, groups=groups)
    x_nhwc, w_ohwi = x.transpose(0, 2, 3, 1), w.transpose(0, 2, 3, 1)
    got = run("conv2d", x_nhwc, w_ohwi, b, layout="NHWC", **attrs)
    want = conv_loop(x, w, b, strides, pads, dil, groups).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_conv2d_symbolic_output_dims() -> None:
    t = infer("conv2d", ["N", 3, "H", "W"], [16, 3, 3, 3], strides=(2, 2), pads=(1, 1, 1, 1))
    # Textbook: (H + 2p - k)//s + 1 = (H-1)//2+1, which prints in normal form as (H+1)//2.
    assert t == TensorType.of("f32", ["N", 16, "(H-1)//2+1", "(W-1)//2+1"])
    assert str(t) == "f32[N,16,(H+1)//2,(W+1)//2]"
    t = infer("conv2d", ["N", "H", "W", 8], [8, 3, 3, 1], groups=8, layout="NHWC")
    assert str(t) == "f32[N,H-2,W-2,8]"
    t = infer("conv2d", ["N", 3, "H", 32], [4, 3, 5, 5], dilations=(2, 2), pads=(4, 4, 4, 4))
    assert str(t) == "f32[N,4,H,32]"


def test_conv2d_cost_counts_macs_twice_plus_bias() -> None:
    op = get_op("conv2d")
    ins = [TensorType.of("f32", s) for s in ([1, 4, 8, 8], [6, 2, 3, 3], [6])]
    attrs = op.make_attrs({"groups": 2, "pads": (1, 1, 1, 1)})
    outs = op.infer(ins, attrs)
    assert op.cost(ins, outs, attrs).flops == 2 * (6 * 8 * 8) * (2 * 3 * 3) + 6 * 8 * 8


@pytest.mark.parametrize(
    ("x", "w", "b", "attrs", "needle"),
    [
        ([1, 3, 8, 8], [4, 2, 3, 3], None, {}, "has 3 channels"),
        ([1, 4, 8, 8], [6, 1, 3, 3], None, {"groups": 4}, "not divisible by groups=4"),
        ([1, 3, 8, 8], [4, 3, 3, 3], [5], {}, "bias f32[5] must have shape [4]"),
        ([1, 3, 4, 4], [4, 3, 7, 7], None, {"pads": (1, 1, 1, 1)}, "larger than the padded"),
        ([3, 8, 8], [4, 3, 3, 3], None, {}, "must have rank 4"),
    ],
)
def test_conv2d_errors_name_shapes_and_hint(x, w, b, attrs, needle):
    shapes = [x, w] if b is None else [x, w, b]
    with pytest.raises(ShapeError) as info:
        infer("conv2d", *shapes, **attrs)
    assert needle in info.value.message
    if needle != "must have rank 4":
        assert info.value.hint


def test_conv2d_bad_attribute_lengths() -> None:
    with pytest.raises(AttributeValueError, match="pads must have 4 values"):
        infer("conv2d", [1, 3, 8, 8], [4, 3, 3, 3], pads=(1, 1))


@pytest.mark.parametrize(
    ("activation", "fn"),
    [
        ("none", lambda v: v),
        ("relu", lambda v: max(v, 0.0)),
        ("relu6", lambda v: min(max(v, 0.0), 6.0)),
        ("gelu", lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
        ("silu", lambda v: v / (1 + math.exp(-v))),
    ],
)
def test_fused_conv2d_is_activation_of_conv(activation, fn):
    rng = np.random.default_rng(2)
    x = (3 * rng.standard_normal((1, 4, 6, 6))).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    attrs = dict(strides=(2, 1), pads=(1, 1, 1, 1), groups=2)
    got = run("fused_conv2d", x, w, b, activation=activation, **attrs)
    conv = conv_loop(x, w, b, (2, 1), (1, 1, 1, 1), (1, 1), 2)
    want = np.vectorize(fn)(conv)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_fused_conv2d_infer_and_errors() -> None:
    t = infer("fused_conv2d", ["N", 3, "H", "W"], [8, 3, 3, 3], activation="relu")
    assert str(t) == "f32[N,8,H-2,W-2]"
    with pytest.raises(ShapeError, match="has 4 channels"):
        infer("fused_conv2d", ["N", 4, "H", "W"], [8, 3, 3, 3])
    with pytest.raises(AttributeValueError):
        get_op("fused_conv2d").make_attrs({"activation": "swish"})
