"""Optional second oracle: PyTorch (an optional extra) on conv, pools and
attention, where the semantics have corner cases (ceil_mode, count_include_pad,
grouped and dilated conv, causal SDPA). Skipped when torch is not installed.
Tolerances: rtol 1e-5, atol 1e-5 (two float32 implementations).
"""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir.ops import get_op

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = {"rtol": 1e-5, "atol": 1e-5}


def ref(op, *arrays, **attrs):
    opdef = get_op(op)
    return opdef.reference(list(arrays), opdef.make_attrs(attrs))[0]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    ("stride", "pad", "dil", "groups"), [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 4), (3, 1, 1, 1)]
)
def test_conv2d_vs_torch(stride, pad, dil, groups):
    x, w, b = rand(2, 4, 9, 8), rand(8, 4 // groups, 3, 3, seed=1), rand(8, seed=2)
    got = ref(
        "conv2d",
        x,
        w,
        b,
        strides=(stride,) * 2,
        pads=(pad,) * 4,
        dilations=(dil,) * 2,
        groups=groups,
    )
    want = F.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride, pad, dil, groups
    )
    np.testing.assert_allclose(got, want.numpy(), **TOL)


@pytest.mark.parametrize(
    ("k", "s", "p", "ceil"), [(3, 2, 1, True), (2, 3, 1, True), (3, 2, 0, True), (3, 1, 1, False)]
)
@pytest.mark.parametrize("include_pad", [False, True])
def test_pools_vs_torch(k, s, p, ceil, include_pad):
    x = rand(1, 2, 8, 7)
    t = torch.from_numpy(x)
    common = dict(kernel=(k, k), strides=(s, s), pads=(p,) * 4, ceil_mode=ceil)
    got = ref("avg_pool2d", x, count_include_pad=include_pad, **common)
    want = F.avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=include_pad)
    np.testing.assert_allclose(got, want.numpy(), **TOL)
    got = ref("max_pool2d", x, **common)
    np.testing.assert_allclose(got, F.max_pool2d(t, k, s, p, ceil_mode=ceil).numpy(), **TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_vs_torch_sdpa(causal):
    q, k, v = rand(2, 3, 5, 8), rand(2, 3, 5, 8, seed=1), rand(2, 3, 5, 4, seed=2)
    mask = np.random.default_rng(3).random((5, 5)) < 0.8
    np.fill_diagonal(mask, True)
    got = ref("attention", q, k, v, mask, causal=causal)
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    tmask = torch.from_numpy(mask)
    if causal:
        tmask = tmask & torch.ones(5, 5, dtype=torch.bool).tril()
    want = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask)
    np.testing.assert_allclose(got, want.numpy(), **TOL)
