"""The fast erf and GELU (``kernels/gelu.py``) against float64 math.erf on a dense grid,
across scratch-block boundaries, in place, and inside ``linear``'s activation.

Bounds asserted (float32 in, float64 truth), measured maxima in brackets: erf
absolute error <= 7e-7 [5.4e-7 near x = 0: Abramowitz-Stegun 7.1.26 is 1.5e-7,
the rest is float32 rounding of the 15-pass chain where erfc is near 1];
erf-form GELU absolute error <= |x| * 2.5e-7 + 2 ulp(result) [1.96e-7 |x|], and
below 4e-7 for |x| <= 12 [3.3e-7]: "accurate to 1e-6" with room; the tanh form
matches its float64 formula to 2 ulp + 1e-7.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nanograph.backends.planned.kernels import gelu
from nanograph.backends.planned.kernels.workspace import (
    ELEMENTWISE_BLOCK,
    Carver,
    block_scratch,
    block_scratch_bytes,
)
from tests.backends.planned.test_kernels_harness import check_kernel, run_kernel

GRID = np.linspace(-12.0, 12.0, 240_001).astype(np.float32)  # step 1e-4
_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def _scratch(n: int, arrays: int) -> list[np.ndarray]:
    ws = np.full(block_scratch_bytes(n, arrays), 0xFF, np.uint8)
    return block_scratch(Carver(ws), n, arrays)


def _ulp(x: np.ndarray) -> np.ndarray:
    return np.spacing(np.abs(x).astype(np.float32)).astype(np.float64)


def test_erf_absolute_error_is_below_7e7() -> None:
    out = np.empty_like(GRID)
    gelu.erf_into(GRID, out, _scratch(GRID.size, gelu.ERF_SCRATCH))
    err = np.abs(out - _erf64(GRID.astype(np.float64)))
    assert err.max() <= 7e-7, err.max()


def test_gelu_error_is_below_its_bound_and_1e6() -> None:
    out = np.empty_like(GRID)
    gelu.gelu_into(GRID, out, _scratch(GRID.size, gelu.ERF_SCRATCH))
    x = GRID.astype(np.float64)
    truth = 0.5 * x * (1.0 + _erf64(x / math.sqrt(2.0)))
    err = np.abs(out - truth)
    assert np.all(err <= np.abs(x) * 2.5e-7 + 2 * _ulp(truth)), err.max()
    assert err.max() < 4e-7


def test_gelu_tanh_matches_its_formula() -> None:
    out = np.empty_like(GRID)
    gelu.gelu_tanh_into(GRID, out, _scratch(GRID.size, gelu.TANH_SCRATCH))
    x = GRID.astype(np.float64)
    truth = 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    err = np.abs(out - truth)
    assert np.all(err <= 2 * _ulp(truth) + 1e-7), err.max()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernel_across_blocks_and_in_place(approximate: str) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(ELEMENTWISE_BLOCK * 2 + 77) * 4).astype(np.float32).reshape(-1, 1)
    check_kernel("gelu", [x], {"approximate": approximate}, atol=1e-6)
    check_kernel("gelu", [x], {"approximate": approximate}, atol=1e-6, inplace=0)


def test_erf_kernel_across_blocks() -> None:
    x = np.random.default_rng(1).standard_normal(ELEMENTWISE_BLOCK + 3).astype(np.float32) * 3
    check_kernel("erf", [x], atol=7e-7, rtol=0)


def test_an_inaccurate_erf_would_fail() -> None:
    # the bound is tight enough to see the first coefficient off in its 6th digit
    saved = gelu.A
    gelu.A = (saved[0] * (1 + 3e-6), *saved[1:])
    try:
        out = run_kernel("erf", [GRID])[0]
    finally:
        gelu.A = saved
    assert np.abs(out - _erf64(GRID.astype(np.float64))).max() > 7e-7
