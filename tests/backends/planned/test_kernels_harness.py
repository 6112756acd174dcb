"""The harness the executor-kernel tests share, and tests that it catches broken kernels.

``run_kernel`` calls a kernel the way the planned executor does: C-contiguous
inputs, outputs preallocated from the op's inference, a workspace of exactly
``workspace_bytes`` bytes. To make mistakes visible, outputs start as NaN (or a
sentinel for integers) so an unwritten element shows, and the workspace starts as
0xFF bytes (NaN as float32) so a read of scratch the kernel did not write first
poisons the result. ``inplace=i`` runs the node in place over input ``i`` as the
plan would (output 0 is that input's buffer).

``check_kernel`` compares with the op's reference (float64 inside, rounded to the
input dtype) by ``np.testing.assert_allclose(rtol, atol, equal_nan=True)`` after
checking dtypes and shapes, and checks that inputs not run in place are left
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels import EXECUTOR_KERNELS
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType, TensorType

INT_SENTINEL = -12345


def _blank(t: TensorType) -> np.ndarray:
    dtype = t.dtype.numpy
    shape = tuple(int(d) for d in t.shape)
    if np.issubdtype(dtype, np.floating):
        return np.full(shape, np.nan, dtype)
    if dtype == np.bool_:
        return np.zeros(shape, dtype)
    return np.full(shape, INT_SENTINEL, dtype)


def run_kernel(
    op: str,
    inputs: Sequence[np.ndarray],
    attrs: Mapping[str, Any] | None = None,
    *,
    inplace: int | None = None,
    kernel: Kernel | None = None,
) -> list[np.ndarray]:
    """The outputs of ``op``'s executor kernel on ``inputs`` (see the module docstring)."""
    opdef = get_op(op)
    norm = opdef.make_attrs(attrs or {})
    kernel = kernel or EXECUTOR_KERNELS[op]
    # not copied, so check_kernel sees writes; np.require keeps 0-d arrays 0-d
    ins = [np.require(x, requirements="C") for x in inputs]
    types = [TensorType(DType.parse(x.dtype), x.shape) for x in ins]
    out_types = opdef.infer(types, norm)
    nbytes = kernel.workspace_bytes(types, out_types, norm)
    workspace = np.full(nbytes, 0xFF, np.uint8) if nbytes else None
    outs = [_blank(t) for t in out_types]
    if inplace is not None:
        assert kernel.inplace_safe and inplace in opdef.inplace, f"{op} is not in place"
        assert ins[inplace].shape == outs[0].shape or ins[inplace].size == outs[0].size
        ins[inplace] = ins[inplace].copy()
        outs[0] = ins[inplace].reshape(outs[0].shape)
    kernel.run(ins, norm, outs, workspace)
    return outs


def check_kernel(
    op: str,
    inputs: Sequence[np.ndarray],
    attrs: Mapping[str, Any] | None = None,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    inplace: int | None = None,
    kernel: Kernel | None = None,
) -> list[np.ndarray]:
    """Assert the kernel matches ``op``'s reference on ``inputs``; return its outputs."""
    opdef = get_op(op)
    norm = opdef.make_attrs(attrs or {})
    originals = [np.array(x, copy=True) for x in inputs]
    want = opdef.reference([x.copy() for x in inputs], norm)
    got = run_kernel(op, inputs, attrs, inplace=inplace, kernel=kernel)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if g.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True, err_msg=op)
        else:
            np.testing.assert_array_equal(g, w, err_msg=op)
    for x, original in zip(inputs, originals, strict=True):
        np.testing.assert_array_equal(x, original, err_msg=f"{op} changed an input")
    return got


def randn(rng: np.random.Generator, *shape: int, dtype: Any = np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


# the harness catches broken kernels --------------------------------------------------------
def _kernel_like(op: str, run: Any, workspace: Any = None) -> Kernel:
    good = EXECUTOR_KERNELS[op]
    return Kernel(op, run, workspace or good.workspace_bytes, good.inplace_safe)


def test_a_kernel_that_skips_an_element_fails() -> None:
    def run(ins: Any, attrs: Any, outs: Any, ws: Any) -> None:
        np.maximum(ins[0][1:], 0, out=outs[0][1:])

    x = np.arange(-3, 3, dtype=np.float32)
    with pytest.raises(AssertionError):
        check_kernel("relu", [x], kernel=_kernel_like("relu", run))


def test_a_kernel_reading_scratch_it_never_wrote_fails() -> None:
    def run(ins: Any, attrs: Any, outs: Any, ws: Any) -> None:
        scratch = ws[: ins[0].nbytes].view(np.float32).reshape(ins[0].shape)
        np.add(ins[0], scratch, out=outs[0])

    x = np.ones(4, np.float32)
    broken = _kernel_like("relu", run, lambda i, o, a: 16)
    with pytest.raises(AssertionError):
        check_kernel("relu", [x], kernel=broken)


def test_a_kernel_that_is_wrong_in_place_fails() -> None:
    def run(ins: Any, attrs: Any, outs: Any, ws: Any) -> None:
        a, b = ins
        np.copyto(outs[0], 0)  # clobbers `a` first when run in place over it
        np.add(outs[0], a, out=outs[0])
        np.add(outs[0], b, out=outs[0])

    rng = np.random.default_rng(0)
    a, b = randn(rng, 3, 4), randn(rng, 3, 4)
    broken = _kernel_like("add", run)
    check_kernel("add", [a, b], kernel=broken)  # right out of place
    with pytest.raises(AssertionError):
        check_kernel("add", [a, b], kernel=broken, inplace=0)


def test_a_kernel_that_writes_its_input_fails() -> None:
    def run(ins: Any, attrs: Any, outs: Any, ws: Any) -> None:
        np.maximum(ins[0], 0, out=ins[0])
        np.copyto(outs[0], ins[0])

    x = np.arange(-3, 3, dtype=np.float32)
    with pytest.raises(AssertionError, match="changed an input"):
        check_kernel("relu", [x], kernel=_kernel_like("relu", run))
