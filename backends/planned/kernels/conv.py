"""``conv2d`` and ``fused_conv2d``: convolution without a whole-batch im2col, bias and
activation applied in place on each block of the output.

The strategy and block size come from ``conv_geometry`` (see there): pointwise
GEMM, depthwise multiply-adds, a sum of shifted GEMMs over kernel rows, or
blocked im2col. Each block of ``images`` images is computed straight into its
slice of the output, then gets ``+= b`` and the activation while it is in
cache. Column buffers are filled from x through clipped strided views (zeros
where a tap reads padding), so no padded copy of x is made (depthwise pads a
copy: it reads every tap from it). Weights are rearranged once per call into
the contiguous layout each strategy's GEMMs read. Measured choices
are in ``benchmarks/executor_kernels.py --strategies``.

Accuracy: products are summed in float32, in another order than the reference
(which adds tap by tap in float64): BLAS sums over channels (and over a kernel
row's taps, or all taps for im2col), the rows strategy adds the kernel rows'
partial sums. The error is that of a float32 dot product of length
``cg*kh*kw``, about sqrt(length) float32 ulps of the terms' size; the tests
state their tolerance from it. Float16 runs the reference (no float16 BLAS).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.activations import activate, activation_bytes
from nanograph.backends.planned.kernels.conv_geometry import ConvGeometry, conv_geometry
from nanograph.backends.planned.kernels.reference_copy import reference_into
from nanograph.backends.planned.kernels.windows import axis_range
from nanograph.backends.planned.kernels.workspace import Carver, Sizer, aligned, static_shape
from nanograph.ir.attrs import Attrs
from nanograph.ir.types import DType, TensorType

Index = tuple[slice | int, ...]


def _hw(g: ConvGeometry, rows: slice, cols: slice) -> Index:
    """Index of (rows, cols) of a [N, C, H, W] or [N, H, W, C] array."""
    every = slice(None)
    return (every, every, rows, cols) if g.nchw else (every, rows, cols, every)


def _tap(g: ConvGeometry, xp: np.ndarray, i: int, j: int) -> np.ndarray:
    """The [nb, Ho, Wo] (by channel) view of padded block xp that kernel tap (i, j) reads."""
    r, c = i * g.dh, j * g.dw
    rows = slice(r, r + g.sh * (g.ho - 1) + 1, g.sh)
    cols = slice(c, c + g.sw * (g.wo - 1) + 1, g.sw)
    return xp[_hw(g, rows, cols)]


def _pad_into(g: ConvGeometry, xp: np.ndarray, xb: np.ndarray) -> None:
    """xp = the block xb zero-padded to the [hp, wp] extent the taps read."""
    _shifted_copy(g, xp, xb, (-g.pt, 1), (-g.pl, 1))


def _shifted_copy(
    g: ConvGeometry, dst: np.ndarray, src: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]
) -> None:
    """dst[.., r, c, ..] = src[.., r*rs + ro, c*cs + co, ..] for ``rows`` = (ro, rs) and
    ``cols`` = (co, cs), and 0 where that falls outside src (the zero padding), without
    a padded copy of src. dst and src are 4-D in the layout's axis order."""
    h_ax, w_ax = (2, 3) if g.nchw else (1, 2)
    n_rows, n_cols = dst.shape[h_ax], dst.shape[w_ax]
    inside_rows = axis_range(src.shape[h_ax], n_rows, rows[1], rows[0])
    inside_cols = axis_range(src.shape[w_ax], n_cols, cols[1], cols[0])
    if inside_rows is None or inside_cols is None:
        dst[...] = 0
        return
    (r_out, r_in), (c_out, c_in) = inside_rows, inside_cols
    every = slice(None)
    for part in (slice(0, r_out.start), slice(r_out.stop, None)):
        if part.start != part.stop:
            dst[_hw(g, part, every)] = 0
    for part in (slice(0, c_out.start), slice(c_out.stop, None)):
        if part.start != part.stop:
            dst[_hw(g, r_out, part)] = 0
    np.copyto(dst[_hw(g, r_out, c_out)], src[_hw(g, r_in, c_in)])


def prepared_weights(g: ConvGeometry, w: np.ndarray, bufs: dict[str, np.ndarray]) -> np.ndarray:
    """The weights arranged as the strategy's GEMMs read them, contiguous (a strided
    weight operand makes sgemm 1.6x slower here): copied into scratch once per call
    where the given layout does not already have that arrangement."""
    if "w" not in bufs:
        return w
    target = bufs["w"]
    if g.strategy == "pointwise":  # NHWC: [C, O]
        np.copyto(target, w.reshape(g.o, g.c).T)
    elif g.strategy == "rows":  # [kh, O, C, kw] (NCHW) or [kh, kw, C, O] (NHWC)
        np.copyto(target, w.transpose(2, 0, 1, 3) if g.nchw else w.transpose(1, 2, 3, 0))
    else:  # im2col, NHWC: [groups, kh*kw*cg, og]
        k = g.kh * g.kw * g.cg
        np.copyto(target, w.reshape(g.groups, g.og, k).transpose(0, 2, 1))
    return target


# strategies: each computes conv(x block) without bias into the output block ---------------
def _pointwise(
    g: ConvGeometry, xb: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: dict[str, np.ndarray]
) -> None:
    nb = xb.shape[0]
    if g.sh > 1 or g.sw > 1:
        xs = bufs["x"][:nb]
        np.copyto(xs, _tap(g, xb, 0, 0))
        xb = xs
    if g.nchw:
        np.matmul(w.reshape(g.o, g.c), xb.reshape(nb, g.c, -1), out=out.reshape(nb, g.o, -1))
    else:
        np.matmul(xb.reshape(-1, g.c), w, out=out.reshape(-1, g.o))


def _depthwise(
    g: ConvGeometry, xb: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: dict[str, np.ndarray]
) -> None:
    xp = xb
    if g.padded:
        xp = bufs["x"][: xb.shape[0]]
        _pad_into(g, xp, xb)
    tmp = bufs["tmp"][: xb.shape[0]]
    for i in range(g.kh):
        for j in range(g.kw):
            # per-channel weight of tap (i, j), shaped to broadcast along the channel axis
            wij = w[:, 0, i, j][:, None, None] if g.nchw else w[:, i, j, 0]
            if i == j == 0:
                np.multiply(_tap(g, xp, i, j), wij, out=out)
            else:
                np.multiply(_tap(g, xp, i, j), wij, out=tmp)
                np.add(out, tmp, out=out)


def _rows(
    g: ConvGeometry, xb: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: dict[str, np.ndarray]
) -> None:
    """Sum over kernel rows i of one GEMM each: the columns of all kw taps of every
    padded input row are built once ([Hp, Wo, kw*C] per image), and kernel row i
    reads rows i*dh .. i*dh+Ho-1 of them, a contiguous window (stride 1 in height)."""
    nb = xb.shape[0]
    col = bufs["col"][:nb]
    for j in range(g.kw):
        tap_cols = (j * g.dw - g.pl, g.sw)
        _shifted_copy(g, col[:, :, j] if g.nchw else col[:, :, :, j], xb, (-g.pt, 1), tap_cols)
    k, positions = g.c * g.kw, g.ho * g.wo
    acc = out.reshape(nb, g.o, positions) if g.nchw else out.reshape(nb, positions, g.o)
    for i in range(g.kh):
        rows = slice(i * g.dh, i * g.dh + g.ho)
        target = acc if i == 0 else bufs["tmp"][:nb]
        if g.nchw:  # w: [kh, O, C, kw]
            a = col[:, :, :, rows, :].reshape(nb, k, positions)
            np.matmul(w[i].reshape(g.o, k), a, out=target)
        else:  # w: [kh, kw, C, O]
            a = col[:, rows].reshape(nb, positions, k)
            np.matmul(a, w[i].reshape(k, g.o), out=target)
        if i > 0:
            np.add(acc, target, out=acc)


def _im2col(
    g: ConvGeometry, xb: np.ndarray, w: np.ndarray, out: np.ndarray, bufs: dict[str, np.ndarray]
) -> None:
    nb, og = xb.shape[0], g.og
    col = bufs["col"][:nb]
    k = g.cg * g.kh * g.kw
    for group in range(g.groups):
        ci, co = slice(group * g.cg, (group + 1) * g.cg), slice(group * og, (group + 1) * og)
        source = xb[:, ci] if g.nchw else xb[..., ci]
        for i in range(g.kh):
            for j in range(g.kw):
                dst = col[:, :, i, j] if g.nchw else col[:, :, :, i, j, :]
                _shifted_copy(g, dst, source, (i * g.dh - g.pt, g.sh), (j * g.dw - g.pl, g.sw))
        if g.nchw:  # w: OIHW, [og, cg*kh*kw] per group as it is
            wg = w[co].reshape(og, k)
            np.matmul(wg, col.reshape(nb, k, -1), out=out.reshape(nb, g.o, -1)[:, co])
        else:  # w: [groups, kh*kw*cg, og]
            np.matmul(col.reshape(-1, k), w[group], out=out.reshape(-1, g.o)[:, co])


_STRATEGIES = {
    "pointwise": _pointwise,
    "depthwise": _depthwise,
    "rows": _rows,
    "im2col": _im2col,
}


# the kernel ---------------------------------------------------------------------------------
def scratch_bytes(g: ConvGeometry, activation: str) -> int:
    """Workspace bytes of ``run_conv`` with geometry ``g``: its strategy's block buffers,
    then the activation's scratch for one output block."""
    sizer = Sizer()
    for _, shape in g.scratch_shapes(g.images):
        sizer.take(shape, np.float32)
    return aligned(sizer.nbytes) + activation_bytes(activation, g.out_block_numel(g.images))


def _workspace_bytes(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    if ins[0].dtype != DType.f32:
        return 0
    g = conv_geometry(static_shape(ins[0]), static_shape(ins[1]), attrs)
    return scratch_bytes(g, attrs.get("activation", "none"))


def run_conv(
    inputs: Sequence[np.ndarray],
    attrs: Attrs,
    outputs: Sequence[np.ndarray],
    ws: np.ndarray | None,
    geometry: ConvGeometry | None = None,
) -> None:
    """The kernel's ``run``; ``geometry`` overrides the planned one (tests, benchmarks)."""
    x, w = inputs[0], inputs[1]
    if x.dtype != np.float32:
        reference_into(
            "fused_conv2d" if "activation" in attrs else "conv2d", inputs, attrs, outputs
        )
        return
    g = geometry or conv_geometry(x.shape, w.shape, attrs)
    bias = inputs[2] if len(inputs) > 2 else None
    activation = attrs.get("activation", "none")
    carver = Carver(ws)
    bufs = {name: carver.take(shape, np.float32) for name, shape in g.scratch_shapes(g.images)}
    out = outputs[0]
    b_view = None if bias is None else (bias[:, None, None] if g.nchw else bias)
    weights = prepared_weights(g, w, bufs)
    for start in range(0, g.n, g.images):
        block = slice(start, min(g.n, start + g.images))
        xb, ob = x[block], out[block]
        _STRATEGIES[g.strategy](g, xb, weights, ob, bufs)
        if b_view is not None:
            np.add(ob, b_view, out=ob)
        if activation != "none":
            activate(activation, ob, ob, carver.rest())


KERNELS: dict[str, Kernel] = {
    "conv2d": Kernel("conv2d", run_conv, _workspace_bytes),
    "fused_conv2d": Kernel("fused_conv2d", run_conv, _workspace_bytes),
}

__all__ = ["KERNELS", "run_conv", "scratch_bytes"]
