"""``matmul`` and ``linear`` executor kernels against their references.

Tolerance: float32 GEMMs (BLAS, float32 accumulation) against the float64
reference: the error of a length-K dot product, about sqrt(K) * 6e-8 of the
terms' size; with K <= 300 and unit-normal inputs, rtol 1e-5 plus atol 1e-5
covers it with room (measured worst: a few 1e-6). Activations add their own
(``test_kernels_gelu.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.backends.planned.kernels.workspace import ELEMENTWISE_BLOCK
from nanograph.ir.ops.fused import ACTIVATIONS
from tests.backends.planned.test_kernels_harness import check_kernel, randn

MATMUL_SHAPES = [
    ((5, 7), (7, 3)),
    ((7,), (7, 3)),
    ((5, 7), (7,)),
    ((7,), (7,)),
    ((2, 5, 7), (7, 3)),
    ((2, 1, 5, 7), (3, 7, 4)),
    ((5, 7), (2, 7, 3)),
]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul(sa: tuple, sb: tuple) -> None:
    rng = np.random.default_rng(0)
    check_kernel("matmul", [randn(rng, *sa), randn(rng, *sb)], atol=1e-5)


def test_integer_and_float16_matmul() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(-5, 5, (3, 4)), rng.integers(-5, 5, (4, 2))
    check_kernel("matmul", [a, b])
    check_kernel("matmul", [a.astype(np.float16), b.astype(np.float16)], rtol=0, atol=0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_activations(activation: str, bias: bool) -> None:
    rng = np.random.default_rng(2)
    x, w = randn(rng, 2, 9, 64), randn(rng, 64, 48) / 8
    ins = [x, w, randn(rng, 48)] if bias else [x, w]
    check_kernel("linear", ins, {"activation": activation}, atol=1e-5)


@pytest.mark.parametrize("x_shape", [(64,), (3, 64), (2, 3, 5, 64)])
def test_linear_ranks(x_shape: tuple) -> None:
    rng = np.random.default_rng(3)
    check_kernel("linear", [randn(rng, *x_shape), randn(rng, 64, 10), randn(rng, 10)], atol=1e-5)


def test_linear_over_several_row_blocks() -> None:
    rng = np.random.default_rng(4)
    rows = ELEMENTWISE_BLOCK // 32 * 2 + 13  # three blocks of rows, the last one short
    x, w, b = randn(rng, rows, 16), randn(rng, 16, 32) / 4, randn(rng, 32)
    check_kernel("linear", [x, w, b], {"activation": "gelu"}, atol=1e-5)


def test_linear_zoo_shapes_at_batch_32() -> None:
    rng = np.random.default_rng(5)
    for n_in, n_out, activation in [(64, 192, "none"), (64, 128, "gelu"), (128, 64, "none")]:
        ins = [randn(rng, 32, 65, n_in), randn(rng, n_in, n_out) / 8, randn(rng, n_out)]
        check_kernel("linear", ins, {"activation": activation}, atol=1e-5)


def test_float16_linear_runs_the_reference() -> None:
    rng = np.random.default_rng(6)
    ins = [randn(rng, 3, 8, dtype=np.float16), randn(rng, 8, 4, dtype=np.float16)]
    check_kernel("linear", ins, {"activation": "relu"}, rtol=0, atol=0)
