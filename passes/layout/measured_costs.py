"""Measured figures the layout cost model reads (generated: do not edit by hand).

Regenerate on an idle machine, from the repository root:

    python benchmarks/layout_costs.py --batch 1,32 --reps 25 --threads 1 --write --end-to-end

Measured 2026-11-23 04:13 UTC on x86_64, 2 CPUs, Python
3.11.7, NumPy 2.4.6, BLAS threads: 1.
Conv kernels: the planned executor's conv2d kernel
(``benchmarks/layout_costs.py`` says what they do).

``CONV_US`` maps a conv's geometry to the median microseconds of one call in
(NCHW, NHWC), float32, weights already laid out for the layout;
``TRANSPOSE_US_FIXED`` + ``TRANSPOSE_US_PER_KIB`` * KiB is the fitted time of
one NCHW <-> NHWC copy. ``BATCHES`` are the batch sizes measured.
"""

from __future__ import annotations

from nanograph.passes.layout.conv_geometry import ConvGeometry

COMMAND = (
    "python benchmarks/layout_costs.py --batch 1,32 --reps 25 --threads 1 --write --end-to-end"
)
KERNELS = "the planned executor's conv2d kernel"
BATCHES: tuple[int, ...] = (1, 32)
TRANSPOSE_US_FIXED = 0.000
TRANSPOSE_US_PER_KIB = 0.31792
CONV_US: dict[ConvGeometry, tuple[float, float]] = {
    ConvGeometry(1, 1, 28, 28, 6, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1): (61.0, 68.7),
    ConvGeometry(1, 3, 32, 32, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (54.9, 69.9),
    ConvGeometry(1, 3, 32, 32, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (70.4, 82.8),
    ConvGeometry(1, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1), 1): (58.2, 57.7),
    ConvGeometry(1, 16, 32, 32, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (102.8, 109.8),
    ConvGeometry(1, 16, 32, 32, 32, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1): (15.1, 16.9),
    ConvGeometry(1, 16, 32, 32, 32, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (110.3, 107.3),
    ConvGeometry(1, 32, 16, 16, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (104.6, 90.6),
    ConvGeometry(1, 32, 16, 16, 64, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1): (13.5, 14.8),
    ConvGeometry(1, 32, 16, 16, 64, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (103.0, 102.2),
    ConvGeometry(1, 32, 32, 32, 64, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (203.8, 194.5),
    ConvGeometry(1, 64, 8, 8, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (158.9, 98.2),
    ConvGeometry(1, 64, 16, 16, 8, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1): (9.0, 13.1),
    ConvGeometry(1, 64, 16, 16, 64, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1): (32.2, 35.8),
    ConvGeometry(32, 1, 28, 28, 6, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1): (306.6, 577.1),
    ConvGeometry(32, 3, 32, 32, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (921.9, 1350.3),
    ConvGeometry(32, 3, 32, 32, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (1689.3, 1938.0),
    ConvGeometry(32, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1), 1): (334.0, 363.3),
    ConvGeometry(32, 16, 32, 32, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (2572.8, 2688.6),
    ConvGeometry(32, 16, 32, 32, 32, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1): (228.2, 282.1),
    ConvGeometry(32, 16, 32, 32, 32, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (2350.1, 2525.5),
    ConvGeometry(32, 32, 16, 16, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (2150.8, 1971.0),
    ConvGeometry(32, 32, 16, 16, 64, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1): (157.7, 150.7),
    ConvGeometry(32, 32, 16, 16, 64, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (1529.8, 1402.9),
    ConvGeometry(32, 32, 32, 32, 64, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1): (5568.5, 5321.4),
    ConvGeometry(32, 64, 8, 8, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1): (1996.7, 1770.9),
    ConvGeometry(32, 64, 16, 16, 8, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1): (144.6, 233.4),
    ConvGeometry(32, 64, 16, 16, 64, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1): (1027.3, 1062.4),
}

__all__ = ["BATCHES", "COMMAND", "CONV_US", "KERNELS", "TRANSPOSE_US_FIXED", "TRANSPOSE_US_PER_KIB"]
