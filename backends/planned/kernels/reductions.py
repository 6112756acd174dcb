"""Reductions (``reduce_sum``, ``reduce_mean``, ``reduce_max``, ``reduce_min``,
``argmax``) as one NumPy reduction with ``out=``.

Float sums accumulate in the input dtype with NumPy's pairwise summation (the
reference accumulates in float64), so a sum of n float32 terms agrees to about
``log2(n) * 6e-8`` of the sum of magnitudes. Integer sums wrap as the
reference's int64 sum cast back does. ``axes`` absent reduces every axis; an
empty ``axes`` copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.ir.attrs import Attrs


def _axes(attrs: Attrs, rank: int) -> tuple[int, ...]:
    axes = attrs.get("axes")
    return tuple(range(rank)) if axes is None else tuple(a + rank if a < 0 else a for a in axes)


def _reduction(op: str, fn: Callable[..., np.ndarray]) -> Kernel:
    def run(
        inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
    ) -> None:
        x = inputs[0]
        fn(x, axis=_axes(attrs, x.ndim), keepdims=attrs["keepdims"], out=outputs[0])

    return Kernel(op, run)


def _argmax(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    x = inputs[0]
    axis = attrs["axis"] + x.ndim if attrs["axis"] < 0 else attrs["axis"]
    np.argmax(x, axis=axis, keepdims=attrs["keepdims"], out=outputs[0])


KERNELS: dict[str, Kernel] = {
    "reduce_sum": _reduction("reduce_sum", np.sum),
    "reduce_mean": _reduction("reduce_mean", np.mean),
    "reduce_max": _reduction("reduce_max", np.max),
    "reduce_min": _reduction("reduce_min", np.min),
    "argmax": Kernel("argmax", _argmax),
}

__all__ = ["KERNELS"]
