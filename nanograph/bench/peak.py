"""The machine's float32 GEMM peak through NumPy's BLAS: the physical limit in the same run.

``measure_gemm_peak(budget_s)`` multiplies square float32 matrices of the
sizes in ``SIZES`` (each gets a third of the budget) and keeps, per size, the
fastest call; the peak is the best GFLOP/s over sizes (``2 n^3`` FLOPs per
product). It runs inside a worker pinned to the thread count being reported,
so ``% of peak`` compares like with like. Small sizes are included because
the zoo's GEMMs are small; large ones because BLAS needs them to reach its peak.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SIZES = (256, 512, 1024)


@dataclass(frozen=True)
class GemmPeak:
    """Best GFLOP/s and the size that reached it; ``by_size`` maps each size to its best."""

    gflops: float
    size: int
    by_size: dict[int, float]


def measure_gemm_peak(budget_s: float, sizes: tuple[int, ...] = SIZES) -> GemmPeak:
    """Time ``a @ b`` (float32, n x n) per size; fastest call per size; best over sizes."""
    rng = np.random.default_rng(0)
    by_size: dict[int, float] = {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), dtype=np.float32)
        np.matmul(a, b, out=out)  # warm-up: BLAS buffers and threads
        best = _fastest_ns(lambda: np.matmul(a, b, out=out), budget_s / len(sizes))  # noqa: B023
        by_size[n] = 2.0 * n**3 / best  # FLOPs per ns = GFLOP/s
    size = max(by_size, key=lambda n: by_size[n])
    return GemmPeak(by_size[size], size, by_size)


def _fastest_ns(call: Callable[[], object], seconds: float, min_calls: int = 3) -> int:
    clock = time.perf_counter_ns
    deadline = clock() + int(seconds * 1e9)
    best, calls = None, 0
    while calls < min_calls or clock() < deadline:
        start = clock()
        call()
        elapsed = clock() - start
        best = elapsed if best is None else min(best, elapsed)
        calls += 1
    assert best is not None
    return max(best, 1)
