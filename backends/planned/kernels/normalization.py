"""``softmax``, ``layer_norm`` and ``batch_norm`` written into the output, safe in place.

softmax and layer_norm run over blocks of rows (about ``ELEMENTWISE_BLOCK``
elements each, so a block's passes stay in cache), with per-row statistics in
scratch:

- softmax along the last axis: ``m = max``, ``out = exp(x - m)``, ``s = sum``,
  ``out *= 1 / s``. Another axis runs the same passes on the whole tensor
  viewed as [before, axis, after] (statistics [before, 1, after] in scratch).
  An all -inf row gives NaN, as in the reference.
- layer_norm: ``mean``, ``out = x - mean``, ``var = mean(out^2)`` (two passes,
  as the reference: no cancellation; the squares summed by ``einsum`` without
  a squared copy), ``out *= 1 / sqrt(var + eps)``, then ``* scale + bias``;
  scale and bias that only broadcast to the normalized shape are expanded once
  per call into scratch. The mean is ``x @ (1/length)`` (a GEMV, finite for
  finite x). A block whose float32 sum of squares is not finite (values beyond
  about 1.8e19, or NaN/Inf inputs) is redone in float64, as the reference
  computes it, so huge finite rows normalize instead of giving 0 (one scalar
  sum per block decides, about 1 us).
- batch_norm folds its statistics into one affine map per channel,
  ``out = x * a + c`` with ``a = scale / sqrt(var + eps)`` and
  ``c = bias - mean * a`` (channel vectors in scratch): two passes.

Everything computes in float32. Row sums use ``np.einsum`` (3-4x faster than
``np.sum`` on rows of 64 elements, whose per-row reduction setup dominates; it
accumulates in SIMD lanes, not pairwise, which for rows of up to thousands of
elements costs nothing measurable). The reference computes in float64, so
results agree to float32 rounding (the tests say how much).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.reference_copy import reference_into
from nanograph.backends.planned.kernels.workspace import (
    ELEMENTWISE_BLOCK,
    Carver,
    Sizer,
    static_shape,
)
from nanograph.ir.attrs import Attrs
from nanograph.ir.types import DType, TensorType


def _row_block(row_length: int, rows: int) -> int:
    """Rows per block: about ``ELEMENTWISE_BLOCK`` elements, at least one row."""
    return max(1, min(rows, ELEMENTWISE_BLOCK // max(row_length, 1)))


def _split_axis(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(before, along, after): ``shape`` as [before, shape[axis], after]."""
    axis = axis % len(shape) if shape else 0
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])


# softmax ----------------------------------------------------------------------------------
def _softmax_stats_shape(shape: Sequence[int], axis: int) -> tuple[int, ...]:
    before, along, after = _split_axis(shape, axis)
    if after == 1:
        return (_row_block(along, before), 1)
    return (before, 1, after)


def _softmax_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    sizer = Sizer()
    sizer.take(_softmax_stats_shape(static_shape(ins[0]), attrs["axis"]), np.float32)
    return sizer.nbytes


def _softmax_rows(x: np.ndarray, out: np.ndarray, stats: np.ndarray) -> None:
    """Softmax along axis 1 of x ([rows, n] or [before, n, after]) into out."""
    np.max(x, axis=1, keepdims=True, out=stats)
    np.subtract(x, stats, out=out)
    np.exp(out, out=out)
    if out.ndim == 2:  # einsum sums short rows 3-4x faster than np.sum (SIMD per row)
        np.einsum("ij->i", out, out=stats[:, 0])
    else:
        np.sum(out, axis=1, keepdims=True, out=stats)
    np.reciprocal(stats, out=stats)
    np.multiply(out, stats, out=out)


def _softmax(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    x, out = inputs[0], outputs[0]
    if x.dtype != np.float32:
        reference_into("softmax", inputs, attrs, outputs)
        return
    if x.size == 0:
        return
    before, along, after = _split_axis(x.shape, attrs["axis"])
    stats = Carver(ws).take(_softmax_stats_shape(x.shape, attrs["axis"]), np.float32)
    with np.errstate(invalid="ignore"):  # an all -inf row: -inf - -inf = NaN, on purpose
        if after != 1:
            _softmax_rows(x.reshape(before, along, after), out.reshape(before, along, after), stats)
            return
        x2, o2 = x.reshape(before, along), out.reshape(before, along)
        step = stats.shape[0]
        for start in range(0, before, step):
            rows = slice(start, start + step)
            n = min(before, start + step) - start
            _softmax_rows(x2[rows], o2[rows], stats[:n])


# layer_norm -------------------------------------------------------------------------------
def _layer_norm_layout(
    shape: Sequence[int], axis: int, params: int
) -> tuple[int, int, list[tuple[int, ...]]]:
    """(rows, row length, scratch shapes: mean, rstd, expanded params)."""
    axis = axis % len(shape)
    rows, length = math.prod(shape[:axis]), math.prod(shape[axis:])
    block = _row_block(length, rows)
    shapes: list[tuple[int, ...]] = [(block, 1), (block, 1)]
    shapes += [(length,)] * params
    return rows, length, shapes


def _layer_norm_workspace(
    ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs
) -> int:
    if ins[0].dtype != DType.f32:
        return 0
    sizer = Sizer()
    for shape in _layer_norm_layout(static_shape(ins[0]), attrs["axis"], len(ins) - 1)[2]:
        sizer.take(shape, np.float32)
    return sizer.nbytes


def _layer_norm(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    x, out = inputs[0], outputs[0]
    if x.dtype != np.float32:
        reference_into("layer_norm", inputs, attrs, outputs)
        return
    axis = attrs["axis"] % x.ndim
    rows, length, shapes = _layer_norm_layout(x.shape, axis, len(inputs) - 1)
    carver = Carver(ws)
    mean, rstd, *flat = (carver.take(s, np.float32) for s in shapes)
    weights = _mean_weights(length)
    params = []
    for p, buf in zip(inputs[1:], flat, strict=True):  # scale, bias: as [length]
        np.copyto(buf.reshape(x.shape[axis:]), p)
        params.append(buf)
    x2, o2 = x.reshape(rows, length), out.reshape(rows, length)
    eps, step = attrs["epsilon"], mean.shape[0]
    for start in range(0, rows, step):
        n = min(rows, start + step) - start
        xb, ob, m, r = x2[start : start + n], o2[start : start + n], mean[:n], rstd[:n]
        # sum of x / length (a GEMV: faster than einsum's row sums, and finite for finite
        # x, where the plain sum overflows beyond |x| ~ 3.4e38 / length)
        np.matmul(xb, weights, out=m[:, 0])
        np.subtract(xb, m, out=ob)
        np.einsum("ij,ij->i", ob, ob, out=r[:, 0])  # sum of squares, no squared copy
        if not math.isfinite(np.add.reduce(r, axis=None)):  # |x - mean| > 1.8e19, or NaN/inf
            exact = not np.shares_memory(xb, ob)  # in place, x = (x - mean) + mean to rounding
            x64 = xb.astype(np.float64) if exact else ob.astype(np.float64) + m
            _layer_norm_rows_f64(x64, ob, eps, params)
            continue
        np.multiply(r, 1.0 / length, out=r)
        np.add(r, eps, out=r)
        np.sqrt(r, out=r)
        np.reciprocal(r, out=r)
        np.multiply(ob, r, out=ob)
        if params:
            np.multiply(ob, params[0], out=ob)
        if len(params) > 1:
            np.add(ob, params[1], out=ob)


@functools.lru_cache(maxsize=64)
def _mean_weights(length: int) -> np.ndarray:
    """A read-only float32 vector of ``length`` times ``1 / length`` (x @ it is the row mean):
    made once per row length, shared by every call and thread."""
    weights = np.full(length, 1.0 / length, dtype=np.float32)
    weights.flags.writeable = False
    return weights


def _layer_norm_rows_f64(
    x: np.ndarray, out: np.ndarray, eps: float, params: Sequence[np.ndarray]
) -> None:
    """out = layer_norm of the float64 rows ``x``, as the reference computes it.

    The slow path for a block whose float32 statistics overflow (values beyond
    about 1.8e19) or are not finite: allocates, and runs only for such blocks."""
    d = x - x.mean(axis=1, keepdims=True)
    d /= np.sqrt((d * d).mean(axis=1, keepdims=True) + eps)
    if params:
        d *= params[0]
    if len(params) > 1:
        d += params[1]
    np.copyto(out, d, casting="same_kind")


# batch_norm -------------------------------------------------------------------------------
def _batch_norm_workspace(
    ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs
) -> int:
    sizer = Sizer()
    channels = static_shape(ins[1])
    sizer.take(channels, np.float32)
    sizer.take(channels, np.float32)
    return sizer.nbytes


def _batch_norm(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    x, scale, bias, mean, var = inputs
    out = outputs[0]
    if x.dtype != np.float32:
        reference_into("batch_norm", inputs, attrs, outputs)
        return
    carver = Carver(ws)
    a, c = carver.take(scale.shape, np.float32), carver.take(scale.shape, np.float32)
    np.add(var, attrs["epsilon"], out=a)
    np.sqrt(a, out=a)
    np.divide(scale, a, out=a)
    np.multiply(mean, a, out=c)
    np.subtract(bias, c, out=c)
    channel_axis = 1 if attrs["layout"] == "NCHW" else x.ndim - 1
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    np.multiply(x, a.reshape(shape), out=out)
    np.add(out, c.reshape(shape), out=out)


KERNELS: dict[str, Kernel] = {
    "softmax": Kernel("softmax", _softmax, _softmax_workspace, inplace_safe=True),
    "layer_norm": Kernel("layer_norm", _layer_norm, _layer_norm_workspace, inplace_safe=True),
    "batch_norm": Kernel("batch_norm", _batch_norm, _batch_norm_workspace, inplace_safe=True),
}

__all__ = ["KERNELS"]
