"""softmax, layer_norm and batch_norm executor kernels against the reference: axes,
row blocks, broadcast scale/bias, -inf rows, layouts, in place.

Tolerances: softmax rtol 1e-5 / atol 1e-7 (float32 exp and pairwise sums against
float64; probabilities <= 1); layer_norm rtol 1e-5 / atol 1e-5 (outputs are
O(1)-O(3) standard scores times scale: float32 mean and variance give a few ulps
of that); batch_norm folds its statistics into x * a + c in float32, whose
rounding is a few ulps of |x * a| + |c|: atol 1e-5 at the magnitudes drawn.
"""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.backends.planned.kernels.workspace import ELEMENTWISE_BLOCK
from tests.backends.planned.test_kernels_harness import check_kernel, randn


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
@pytest.mark.parametrize("inplace", [None, 0])
def test_softmax_axes(axis: int, inplace: int | None) -> None:
    x = randn(np.random.default_rng(0), 3, 4, 17) * 4
    check_kernel("softmax", [x], {"axis": axis}, atol=1e-7, inplace=inplace)


def test_softmax_rows_of_minus_infinity_and_large_values() -> None:
    x = randn(np.random.default_rng(1), 4, 9) * 30
    x[0] = -np.inf  # all hidden: NaN, as the reference
    x[1, :5] = -np.inf
    x[2, 3] = 1e30
    out = check_kernel("softmax", [x], atol=1e-7)[0]
    assert np.isnan(out[0]).all()


def test_softmax_over_several_row_blocks() -> None:
    x = randn(np.random.default_rng(2), ELEMENTWISE_BLOCK // 65 * 3 + 5, 65) * 3
    check_kernel("softmax", [x], atol=1e-7)
    check_kernel("softmax", [x], atol=1e-7, inplace=0)


def test_softmax_attention_scores_at_batch_32() -> None:
    check_kernel("softmax", [randn(np.random.default_rng(3), 32, 4, 65, 65) * 3], atol=1e-7)


PARAMS = [(), ("scale",), ("scale", "bias")]


@pytest.mark.parametrize("params", PARAMS, ids=str)
@pytest.mark.parametrize(("shape", "axis"), [((3, 5, 64), -1), ((3, 5, 6, 4), 2), ((4, 7), 0)])
@pytest.mark.parametrize("inplace", [None, 0])
def test_layer_norm(params: tuple, shape: tuple, axis: int, inplace: int | None) -> None:
    rng = np.random.default_rng(4)
    x = randn(rng, *shape) * 3 + 2
    norm = shape[axis % len(shape) :]
    ins = [x] + [randn(rng, *norm) for _ in params]
    check_kernel("layer_norm", ins, {"axis": axis, "epsilon": 1e-5}, atol=1e-5, inplace=inplace)


def test_layer_norm_broadcast_scale_and_blocks() -> None:
    rng = np.random.default_rng(5)
    x = randn(rng, ELEMENTWISE_BLOCK // 64 * 2 + 3, 4, 16)
    scale, bias = randn(rng, 16), randn(rng, 1, 1)  # broadcast to the normalized [4, 16]
    check_kernel("layer_norm", [x, scale, bias], {"axis": 1}, atol=1e-5)
    check_kernel("layer_norm", [randn(rng, 32, 65, 64), scale.repeat(4), bias.ravel()], atol=1e-5)


def test_layer_norm_of_a_constant_row_is_bias() -> None:
    x = np.full((2, 8), 3.0, np.float32)
    out = check_kernel("layer_norm", [x, np.ones(8, np.float32), np.full(8, 0.5, np.float32)])[0]
    np.testing.assert_array_equal(out, 0.5)


@pytest.mark.parametrize("params", PARAMS, ids=str)
@pytest.mark.parametrize("inplace", [None, 0])
def test_layer_norm_of_huge_or_non_finite_rows_is_the_references(
    params: tuple, inplace: int | None
) -> None:
    """Rows whose float32 sum of squares (|x - mean| > 1.8e19) or mean overflows are
    redone in float64 as the reference does, not normalized to 0 or NaN; NaN/Inf rows
    give the reference's NaN. Ordinary rows in the same block are unaffected."""
    rng = np.random.default_rng(8)
    x = randn(rng, 6, 4)
    x[1] = [1.0, 2.0, 3.4e38, -3.4e38]  # squares overflow
    x[2] = [3e38, 3e38, 3e38, 1.0]  # the sum overflows
    x[3] = [1e20, -1e20, 5.0, 0.0]
    x[4, 2] = np.nan
    x[5, 0] = np.inf
    ins = [x] + [randn(rng, 4) for _ in params]
    with np.errstate(all="ignore"):
        out = check_kernel("layer_norm", ins, {"epsilon": 1e-5}, atol=1e-5, inplace=inplace)[0]
    assert np.isfinite(out[:4]).all() and np.isnan(out[4:]).all()
    assert out[1, 2] != 0.0 and out[3, 0] != 0.0  # normalized, not flattened to 0


@pytest.mark.parametrize(
    ("layout", "shape"),
    [("NCHW", (2, 5, 4, 3)), ("NCHW", (6, 5)), ("NCHW", (2, 5, 7)), ("NHWC", (2, 4, 3, 5))],
)
@pytest.mark.parametrize("inplace", [None, 0])
def test_batch_norm(layout: str, shape: tuple, inplace: int | None) -> None:
    rng = np.random.default_rng(6)
    x = randn(rng, *shape) * 2 + 1
    params = [randn(rng, 5), randn(rng, 5), randn(rng, 5), np.abs(randn(rng, 5)) + 0.1]
    attrs = {"layout": layout, "epsilon": 1e-3}
    check_kernel("batch_norm", [x, *params], attrs, atol=1e-5, inplace=inplace)


def test_float16_runs_the_reference() -> None:
    x = randn(np.random.default_rng(7), 3, 8, dtype=np.float16)
    check_kernel("softmax", [x], rtol=0, atol=0)
    check_kernel("layer_norm", [x], rtol=0, atol=0)
