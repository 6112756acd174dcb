"""Pooling kernels: ``max_pool2d`` and ``avg_pool2d`` over strided views, and the global
pools as reductions with ``out=``.

A window pool is a max (or sum) over kernel taps, and tap (i, j) reads the input
through one strided view (``x[..., i*dh :: sh, j*dw :: sw]``). Instead of padding
a copy of x, each tap is clipped to the output positions where it lands inside
x: padding never wins a max (it is -inf) and adds nothing to a sum, and the
ceil-mode overhang is likewise never read. Taps covering every output position
start the result (``np.maximum(tap0, tap1, out=out)``); otherwise it starts at
-inf (max) or 0 (sum). Averages then multiply by the reciprocal of each
position's divisor (taps inside x, or inside x and its pads with
``count_include_pad``), a small [Ho, Wo] grid. The tap plan and the grid depend
on shapes and attributes only and are cached; no workspace is needed.

Results equal the reference's up to float32 rounding of the average's sum
(summed tap by tap in float32, divided by multiplying by a float32 reciprocal).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.windows import axis_range
from nanograph.ir.attrs import Attrs

Index = tuple[slice, ...]


@dataclass(frozen=True)
class _Tap:
    """Where one kernel tap reads x (``source``) and which outputs it feeds (``target``)."""

    target: Index
    source: Index
    full: bool


@dataclass(frozen=True)
class _PoolPlan:
    taps: tuple[_Tap, ...]
    reciprocal: np.ndarray | None  # 1 / divisor per output position, shaped to broadcast


def _divisors(
    size: int,
    out: int,
    kernel: int,
    stride: int,
    dil: int,
    pads: tuple[int, int],
    include_pad: bool,
) -> np.ndarray:
    """Per output position along one axis: the number of taps an average divides by."""
    before, after = pads
    lo, hi = (-before, size + after) if include_pad else (0, size)
    starts = np.arange(out)[:, None] * stride - before + np.arange(kernel) * dil
    return ((starts >= lo) & (starts < hi)).sum(axis=1).astype(np.float64)


@functools.lru_cache(maxsize=512)
def _pool_plan(
    shape: tuple[int, ...], out_shape: tuple[int, ...], attrs: Attrs, avg: bool
) -> _PoolPlan:
    nchw = attrs["layout"] == "NCHW"
    h_ax, w_ax = (2, 3) if nchw else (1, 2)
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["strides"], attrs["dilations"]
    pt, pl, pb, pr = attrs["pads"]
    ho, wo = out_shape[h_ax], out_shape[w_ax]
    taps = []
    for i in range(kh):
        rows = axis_range(shape[h_ax], ho, sh, i * dh - pt)
        for j in range(kw):
            cols = axis_range(shape[w_ax], wo, sw, j * dw - pl)
            if rows is None or cols is None:
                continue
            target, source = [slice(None)] * 4, [slice(None)] * 4
            target[h_ax], target[w_ax] = rows[0], cols[0]
            source[h_ax], source[w_ax] = rows[1], cols[1]
            full = rows[0] == slice(0, ho) and cols[0] == slice(0, wo)
            taps.append(_Tap(tuple(target), tuple(source), full))
    taps.sort(key=lambda t: not t.full)  # full taps first: they start the result
    reciprocal = None
    if avg:
        include = attrs["count_include_pad"]
        dh_ = _divisors(shape[h_ax], ho, kh, sh, dh, (pt, pb), include)
        dw_ = _divisors(shape[w_ax], wo, kw, sw, dw, (pl, pr), include)
        with np.errstate(divide="ignore"):  # an all-padding window: 0 * inf = NaN, as 0 / 0
            grid = (1.0 / np.multiply.outer(dh_, dw_)).astype(np.float32)
        reciprocal = grid if nchw else grid[:, :, None]
        reciprocal.flags.writeable = False
    return _PoolPlan(tuple(taps), reciprocal)


def _window_pool(avg: bool) -> Kernel:
    combine = np.add if avg else np.maximum
    start = 0.0 if avg else -np.inf

    def run(
        inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
    ) -> None:
        x, out = inputs[0], outputs[0]
        plan = _pool_plan(x.shape, out.shape, attrs, avg)
        taps = plan.taps
        full = [t for t in taps[:2] if t.full]
        if len(full) == 2:
            combine(x[full[0].source], x[full[1].source], out=out)
        elif len(full) == 1:
            np.copyto(out, x[full[0].source])
        else:
            out.fill(start)
        for tap in taps[len(full) :]:
            target = out[tap.target]
            combine(target, x[tap.source], out=target)
        if plan.reciprocal is not None:
            np.multiply(out, plan.reciprocal, out=out)

    return Kernel("avg_pool2d" if avg else "max_pool2d", run)


def _global_pool(name: str, reduce: np.ufunc, mean: bool) -> Kernel:
    def run(
        inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
    ) -> None:
        x, out = inputs[0], outputs[0]
        axes = (2, 3) if attrs["layout"] == "NCHW" else (1, 2)
        reduce.reduce(x, axis=axes, keepdims=True, out=out)
        if mean:
            np.multiply(out, 1.0 / (x.shape[axes[0]] * x.shape[axes[1]]), out=out)

    return Kernel(name, run)


KERNELS: dict[str, Kernel] = {
    "max_pool2d": _window_pool(avg=False),
    "avg_pool2d": _window_pool(avg=True),
    "global_avg_pool2d": _global_pool("global_avg_pool2d", np.add, mean=True),
    "global_max_pool2d": _global_pool("global_max_pool2d", np.maximum, mean=False),
}

__all__ = ["KERNELS"]
