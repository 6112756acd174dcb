"""The check every target passes before it is timed: its outputs agree with the reference.

Agreement is ``numpy.isclose`` elementwise, ``|out - ref| <= atol + rtol * |ref|``
(default rtol 1e-3, atol 1e-4), on every output, in the graph's output order,
with equal shapes. The tolerance is loose on purpose: peers run float32 with
other accumulation orders (blocked GEMM, fused kernels, Winograd-style
convolutions), which differ from the reference by ~1e-6 relative on these
models; a real bug (a wrong weight layout, a missed mask) is off by far more.
NaN agrees with NaN (a fully masked attention row), nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    """The comparison's verdict: ``ok``, the largest absolute difference, and why not if not."""

    ok: bool
    max_abs_diff: float
    reason: str = ""


def check_agreement(
    outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray], rtol: float, atol: float
) -> Agreement:
    """Compare ``outputs`` with ``reference`` output by output (see the module docstring)."""
    if len(outputs) != len(reference):
        return Agreement(False, float("inf"), f"{len(outputs)} outputs, expected {len(reference)}")
    worst = 0.0
    for index, (got, want) in enumerate(zip(outputs, reference, strict=True)):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            reason = f"output {index}: shape {list(got.shape)}, expected {list(want.shape)}"
            return Agreement(False, float("inf"), reason)
        diff = _abs_diff(got.astype(np.float64), want.astype(np.float64))
        worst = max(worst, float(diff.max(initial=0.0)))
        close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            bad = int((~close).sum())
            reason = (
                f"output {index}: {bad} of {close.size} values differ by more than "
                f"rtol {rtol:g} / atol {atol:g} (max abs diff {worst:.3g})"
            )
            return Agreement(False, worst, reason)
    return Agreement(True, worst)


def _abs_diff(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``|got - want|``, 0 where both are NaN, inf where exactly one is."""
    both = np.isnan(got) & np.isnan(want)
    diff = np.abs(got - want)
    diff[np.isnan(diff)] = np.inf
    diff[both] = 0.0
    return diff
