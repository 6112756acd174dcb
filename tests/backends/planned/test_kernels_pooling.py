"""Pooling executor kernels against the reference: max and average pools over kernel
sizes, strides, asymmetric pads, dilations, ceil_mode, count_include_pad and both
layouts (windows entirely in padding included); global pools.

Tolerance: max pools are exact (a max selects an input); averages sum in float32
tap by tap and multiply by a float32 reciprocal (the reference sums in float64
and divides): a few ulps, rtol 1e-5 / atol 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.planned.test_kernels_harness import check_kernel, randn

# (kernel, strides, pads [t, l, b, r], dilations, ceil_mode)
WINDOWS = [
    ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((3, 2), (1, 2), (0, 1, 2, 0), (2, 1), False),
    ((2, 3), (3, 2), (1, 0, 1, 2), (1, 2), True),
    ((5, 5), (1, 1), (2, 2, 2, 2), (1, 1), False),
    ((1, 1), (2, 2), (0, 0, 0, 0), (1, 1), True),
    ((3, 3), (3, 3), (2, 2, 2, 2), (1, 1), True),  # corner windows see only padding
]


def _attrs(window: tuple, layout: str) -> dict:
    kernel, strides, pads, dilations, ceil = window
    return {
        "kernel": kernel,
        "strides": strides,
        "pads": pads,
        "dilations": dilations,
        "ceil_mode": ceil,
        "layout": layout,
    }


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's 0/0 for empty windows
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_window_pools(layout: str, window: tuple) -> None:
    rng = np.random.default_rng(0)
    x = randn(rng, 2, 3, 7, 8) if layout == "NCHW" else randn(rng, 2, 7, 8, 3)
    attrs = _attrs(window, layout)
    check_kernel("max_pool2d", [x], attrs, rtol=0, atol=0)
    for include in (False, True):
        check_kernel("avg_pool2d", [x], {**attrs, "count_include_pad": include})


def test_pools_keep_nan_and_infinities() -> None:
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    x[0, 0, 0, 0], x[0, 0, 3, 3], x[1, 0, 1, 1] = np.nan, np.inf, -np.inf
    attrs = _attrs(((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False), "NCHW")
    check_kernel("max_pool2d", [x], attrs, rtol=0, atol=0)
    check_kernel("avg_pool2d", [x], attrs)


@pytest.mark.parametrize("op", ["global_avg_pool2d", "global_max_pool2d"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_global_pools(op: str, layout: str) -> None:
    x = randn(np.random.default_rng(1), 3, 5, 8, 16)
    check_kernel(op, [x], {"layout": layout})


def test_zoo_pools_at_batch_32() -> None:
    rng = np.random.default_rng(2)
    attrs = _attrs(((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False), "NCHW")
    check_kernel("max_pool2d", [randn(rng, 32, 6, 28, 28)], attrs, rtol=0, atol=0)
    check_kernel("global_avg_pool2d", [randn(rng, 32, 64, 8, 8)], {"layout": "NCHW"})
