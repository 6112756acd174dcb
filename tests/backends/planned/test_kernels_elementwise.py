"""Elementwise executor kernels against the op references: unary ops and activations on
random and special values, broadcasting binary ops, comparisons, logic; in place where
the op allows it; the float16 and integer fallbacks.

Tolerances: rtol 1e-5 / atol 1e-6 (float32 against the float64 reference rounded
to float32); sigmoid/silu use 0.5 tanh(x/2) + 0.5 (a few float32 ulps, absolute
1e-7 in the tails, inside atol); erf and the erf-form GELU are the approximations
tested in ``test_kernels_gelu.py`` (absolute <= 7e-7, and |x| 2.5e-7 + 2 ulp:
atol 1e-6 holds for the values drawn here). float16: the reference itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.planned.test_kernels_harness import check_kernel, randn, run_kernel

SPECIAL = np.array(
    [0.0, -0.0, 1.0, -1.0, 1e-30, 88.0, -88.0, 100.0, -100.0, 1e30, -1e30, np.inf, np.nan],
    np.float32,
)
UNARY = [
    ("relu", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("exp", {}),
    ("log", {}),
    ("sqrt", {}),
    ("reciprocal", {}),
    ("silu", {}),
    ("erf", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("neg", {}),
    ("abs", {}),
    ("identity", {}),
    ("clip", {"min": -0.5, "max": 2.0}),
    ("clip", {"min": 0.0}),
]


def _values(rng: np.random.Generator, with_minus_inf: bool = True) -> np.ndarray:
    extra = [-np.inf] if with_minus_inf else []
    x = np.concatenate([randn(rng, 5, 37).ravel() * 3, SPECIAL, np.float32(extra)])
    return x.reshape(-1, 2) if x.size % 2 == 0 else x


# NumPy warns on inf/NaN arithmetic the reference silences; whether a run warns is the
# executor's policy (one np.errstate per call), not a kernel's
QUIET = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@QUIET
@pytest.mark.parametrize(("op", "attrs"), UNARY, ids=lambda v: str(v))
@pytest.mark.parametrize("inplace", [None, 0])
def test_unary(op: str, attrs: dict, inplace: int | None) -> None:
    rng = np.random.default_rng(1)
    x = _values(rng)
    check_kernel(op, [x], attrs, inplace=inplace, atol=1e-6)


@QUIET
@pytest.mark.parametrize("attrs", [{}, {"approximate": "tanh"}], ids=["erf", "tanh"])
def test_gelu_at_infinities_is_ieee_x_times_phi(attrs: dict) -> None:
    """gelu(-inf) = -inf * Phi(-inf) = -inf * 0 = NaN, as the reference, onnxruntime and
    PyTorch's F.gelu give (not the limit 0); gelu(inf) = inf; NaN stays NaN."""
    out = run_kernel("gelu", [np.float32([-np.inf, np.inf, np.nan])], attrs)[0]
    np.testing.assert_array_equal(out, [np.nan, np.inf, np.nan])


@pytest.mark.parametrize("op", ["gelu", "silu", "erf", "sigmoid"])
def test_float16_runs_the_reference(op: str) -> None:
    x = randn(np.random.default_rng(2), 4, 9, dtype=np.float16)
    check_kernel(op, [x], rtol=0, atol=0)


def test_not() -> None:
    x = np.random.default_rng(3).random((3, 5)) > 0.5
    check_kernel("not", [x])
    check_kernel("not", [x], inplace=0)


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize(("sa", "sb"), SHAPES)
def test_binary(op: str, sa: tuple, sb: tuple) -> None:
    rng = np.random.default_rng(4)
    a, b = randn(rng, *sa), randn(rng, *sb)
    if op == "pow":
        a = np.abs(a) + np.float32(0.1)
    if op == "div":
        b[np.abs(b) < 0.1] = 1  # keep quotients moderate (rtol) but keep signs mixed
    check_kernel(op, [a, b])
    out_shape = np.broadcast_shapes(sa, sb)
    for index, shape in enumerate((sa, sb)):
        if shape == out_shape:
            check_kernel(op, [a, b], inplace=index)


@QUIET
def test_binary_special_values() -> None:
    a = np.tile(SPECIAL, (SPECIAL.size, 1))
    b = a.T.copy()
    for op in BINARY:
        check_kernel(op, [a, b], atol=0)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "maximum", "minimum"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_binary(op: str, dtype: type) -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(-50, 50, (4, 6)).astype(dtype), rng.integers(-50, 50, (6,)).astype(dtype)
    check_kernel(op, [a, b])
    check_kernel(op, [a, b], inplace=0)


def test_integer_division_truncates_and_checks_zero() -> None:
    a = np.array([7, -7, 7, -7, 0], np.int64)
    b = np.array([2, 2, -2, -2, 3], np.int64)
    out = check_kernel("div", [a, b])[0]
    np.testing.assert_array_equal(out, [3, -3, -3, 3, 0])
    with pytest.raises(ZeroDivisionError):
        run_kernel("div", [a, np.zeros(5, np.int64)])


@pytest.mark.parametrize("op", ["equal", "less", "less_equal", "greater", "greater_equal"])
def test_comparisons(op: str) -> None:
    rng = np.random.default_rng(6)
    a = np.round(randn(rng, 4, 5))
    b = np.round(randn(rng, 5))
    a[0, 0] = np.nan
    check_kernel(op, [a, b])
    check_kernel(op, [rng.integers(0, 3, (4, 5)), rng.integers(0, 3, (5,))])


@pytest.mark.parametrize("op", ["and", "or"])
def test_logic(op: str) -> None:
    rng = np.random.default_rng(7)
    check_kernel(op, [rng.random((3, 4)) > 0.5, rng.random((4,)) > 0.5])


@pytest.mark.parametrize("op", ["neg", "abs", "identity"])
def test_integer_unary(op: str) -> None:
    x = np.random.default_rng(8).integers(-9, 9, (3, 4))
    check_kernel(op, [x])
    check_kernel(op, [x], inplace=0)
