"""Neural-network ops: ``conv2d``, pools, ``batch_norm``, ``layer_norm``, ``softmax``.

Layouts: ``NCHW`` (weights OIHW) or ``NHWC`` (weights OHWI). ``pads`` follow
ONNX: ``[top, left, bottom, right]``. A window's output length along an axis
is ``(size + pad_begin + pad_end - dilation*(kernel-1) - 1) // stride + 1``
(see ``inference.window_out_dim``; symbolic sizes give symbolic dims).

References compute in float64 and return the input dtype. Pool padding counts
as -inf for max and is excluded from averages unless ``count_include_pad``;
with ``ceil_mode`` the overhang past the end padding is never counted
(PyTorch semantics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim, add, exact_div, mul
from nanograph.ir.errors import AttributeValueError, ShapeError
from nanograph.ir.ops.inference import (
    LAYOUTS,
    broadcasts_to,
    layout_axes,
    normalize_axis,
    prod_dims,
    require_float,
    require_rank,
    require_same_dtype,
    static_ints,
    window_out_dim,
)
from nanograph.ir.ops.registry import (
    Cost,
    OpDef,
    ReferenceFn,
    bytes_moved,
    elementwise_cost,
    register,
)
from nanograph.ir.types import TensorType

WINDOW_ATTRS = {
    "strides": AttrSpec("ints", (1, 1)),
    "pads": AttrSpec("ints", (0, 0, 0, 0), doc="[top, left, bottom, right]"),
    "dilations": AttrSpec("ints", (1, 1)),
    "layout": AttrSpec("str", "NCHW", choices=LAYOUTS),
}
CONV_ATTRS = {**WINDOW_ATTRS, "groups": AttrSpec("int", 1)}


# windows: shared by conv and pools ----------------------------------------------------
def _check_lengths(attrs: Attrs, names: Sequence[str]) -> None:
    for name in names:
        want = 4 if name == "pads" else 2
        if len(attrs[name]) != want:
            raise AttributeValueError(
                f"{name} must have {want} values, got {list(attrs[name])}",
                hint="pads are [top, left, bottom, right]; strides, dilations, kernel are [h, w]",
            )


def _out_hw(x: TensorType, kernel: Sequence[Dim], attrs: Attrs, ceil: bool = False) -> list[Dim]:
    """Output (height, width) of a window op on x."""
    _, h_ax, w_ax = layout_axes(attrs["layout"])
    pads, strides, dils = attrs["pads"], attrs["strides"], attrs["dilations"]
    return [
        window_out_dim(
            x.shape[ax],
            kernel[i],
            strides[i],
            (pads[i], pads[i + 2]),
            dils[i],
            ceil,
            what=f"{'height' if i == 0 else 'width'} of {x}",
        )
        for i, ax in enumerate((h_ax, w_ax))
    ]


def _with_hw(x: TensorType, channels: Dim, hw: Sequence[Dim], layout: str) -> TensorType:
    n = x.shape[0]
    shape = (n, channels, *hw) if layout == "NCHW" else (n, *hw, channels)
    return x.with_shape(shape)


def _to_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    return x if layout == "NCHW" else x.transpose(0, 3, 1, 2)


def _from_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    return x if layout == "NCHW" else x.transpose(0, 2, 3, 1)


def _taps(
    xp: np.ndarray, kernel: Sequence[int], attrs: Attrs, out_hw: Sequence[int]
) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """Yield ((i, j), the [..., Ho, Wo] slice of padded xp that kernel tap (i, j) sees)."""
    (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
    ho, wo = out_hw
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r, c = i * dh, j * dw
            yield (i, j), xp[..., r : r + sh * (ho - 1) + 1 : sh, c : c + sw * (wo - 1) + 1 : sw]


def _pad_hw(
    x: np.ndarray, attrs: Attrs, out_hw: Sequence[int], kernel: Sequence[int], value: float
) -> np.ndarray:
    """Pad an NCHW array by ``pads``, plus any ceil-mode overhang, with ``value``."""
    pt, pl, pb, pr = attrs["pads"]
    ext = []
    for i, (size, before, after) in enumerate(((x.shape[2], pt, pb), (x.shape[3], pl, pr))):
        need = (out_hw[i] - 1) * attrs["strides"][i] + attrs["dilations"][i] * (kernel[i] - 1) + 1
        ext.append((before, max(after, need - size - before)))
    return np.pad(x, ((0, 0), (0, 0), *ext), constant_values=value)


# conv2d ---------------------------------------------------------------------------------
def _conv_weight_dims(w: TensorType, layout: str) -> tuple[Dim, Dim, Dim, Dim]:
    """(out channels, in channels per group, kh, kw) of the weight."""
    o, a, b, c = w.shape
    return (o, a, b, c) if layout == "NCHW" else (o, c, a, b)


def conv2d_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, w = types[0], types[1]
    layout, groups = attrs["layout"], attrs["groups"]
    require_float(x, "x")
    require_same_dtype(types)
    require_rank(x, 4, "x", layout)
    require_rank(w, 4, "w", "OIHW" if layout == "NCHW" else "OHWI")
    _check_lengths(attrs, ("strides", "pads", "dilations"))
    o, cg, kh, kw = _conv_weight_dims(w, layout)
    c = x.shape[layout_axes(layout)[0]]
    if groups < 1:
        raise AttributeValueError(
            f"groups must be >= 1, got {groups}", hint="use groups=1 for a plain convolution"
        )
    if mul(cg, groups) != c:
        raise ShapeError(
            f"x {x} has {c} channels but w {w} expects {cg}*groups = {mul(cg, groups)} "
            f"(groups={groups})",
            hint="the weight's input-channel dim times groups must equal x's channels",
        )
    if exact_div(o, groups) is None:
        raise ShapeError(
            f"w {w} has {o} output channels, not divisible by groups={groups}",
            hint="use a number of output channels that is a multiple of groups",
        )
    if len(types) > 2 and types[2].shape != (o,):
        raise ShapeError(
            f"bias {types[2]} must have shape [{o}] (the output channels of w {w})",
            hint="give one bias value per output channel",
        )
    return [_with_hw(x, o, _out_hw(x, (kh, kw), attrs), layout)]


def conv2d_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x, w = inputs[0], inputs[1]
    layout, g = attrs["layout"], attrs["groups"]
    w64 = _to_nchw(w.astype(np.float64), layout)  # OHWI -> OIHW is the same transpose
    o, cg, kh, kw = w64.shape
    hw = _out_hw_static(x.shape, (kh, kw), attrs)
    xp = _pad_hw(_to_nchw(x.astype(np.float64), layout), attrs, hw, (kh, kw), 0.0)
    n = xp.shape[0]
    xg = xp.reshape(n, g, cg, *xp.shape[2:])
    wg = w64.reshape(g, o // g, cg, kh, kw)
    out = np.zeros((n, g, o // g, *hw))
    for (i, j), patch in _taps(xg, (kh, kw), attrs, hw):
        out += np.einsum("ngchw,goc->ngohw", patch, wg[..., i, j])
    out = out.reshape(n, o, *hw)
    if len(inputs) > 2:
        out += inputs[2].astype(np.float64)[:, None, None]
    return [_from_nchw(out, layout).astype(x.dtype)]


def _out_hw_static(
    shape: Sequence[int], kernel: Sequence[int], attrs: Attrs, ceil: bool = False
) -> list[int]:
    return list(static_ints(_out_hw(TensorType.of("f32", shape), kernel, attrs, ceil), "window"))


def _conv_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    _, cg, kh, kw = _conv_weight_dims(ins[1], attrs["layout"])
    macs = mul(outs[0].numel, prod_dims((cg, kh, kw)))
    bias = outs[0].numel if len(ins) > 2 else 0
    return Cost(add(mul(2, macs), bias), bytes_moved(ins, outs))


register(
    OpDef(
        name="conv2d",
        inputs=("x", "w", "b?"),
        attrs=CONV_ATTRS,
        infer=conv2d_infer,
        reference=conv2d_reference,
        cost=_conv_cost,
        family="nn",
        doc="2-D convolution (cross-correlation) with stride, padding, dilation, groups",
    )
)


# pools ----------------------------------------------------------------------------------
def _pool_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, layout = types[0], attrs["layout"]
    require_float(x, "x")
    require_rank(x, 4, "x", layout)
    _check_lengths(attrs, ("kernel", "strides", "pads", "dilations"))
    c = x.shape[layout_axes(layout)[0]]
    return [_with_hw(x, c, _out_hw(x, attrs["kernel"], attrs, attrs["ceil_mode"]), layout)]


def _pool_counts(
    size: int, before: int, after: int, kernel: int, out: int, i: int, attrs: Attrs
) -> np.ndarray:
    """Per output position along one axis: how many window taps an average divides by."""
    stride, dilation = attrs["strides"][i], attrs["dilations"][i]
    last_tap = (out - 1) * stride + (kernel - 1) * dilation
    full = np.zeros(max(size + before + after, last_tap + 1))
    full[: size + before + after] = 1.0
    if not attrs.get("count_include_pad", False):
        full[:before] = 0.0
        full[before + size :] = 0.0
    taps = np.arange(out)[:, None] * stride + np.arange(kernel) * dilation
    return full[taps].sum(axis=1)


def _pool_reference(kind: str) -> ReferenceFn:
    def reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        x, layout, kernel = inputs[0], attrs["layout"], attrs["kernel"]
        x64 = _to_nchw(x.astype(np.float64), layout)
        hw = _out_hw_static(x.shape, kernel, attrs, attrs["ceil_mode"])
        fill = -np.inf if kind == "max" else 0.0
        xp = _pad_hw(x64, attrs, hw, kernel, fill)
        patches = [p for _, p in _taps(xp, kernel, attrs, hw)]
        if kind == "max":
            out = np.maximum.reduce(patches)
        else:
            pt, pl, pb, pr = attrs["pads"]
            ch = _pool_counts(x64.shape[2], pt, pb, kernel[0], hw[0], 0, attrs)
            cw = _pool_counts(x64.shape[3], pl, pr, kernel[1], hw[1], 1, attrs)
            with np.errstate(all="ignore"):
                out = np.sum(patches, axis=0) / (ch[:, None] * cw[None, :])
        return [_from_nchw(out, layout).astype(x.dtype)]

    return reference


def _pool_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    return Cost(mul(outs[0].numel, prod_dims(attrs["kernel"])), bytes_moved(ins, outs))


_POOL_ATTRS = {
    "kernel": AttrSpec("ints"),
    **WINDOW_ATTRS,
    "ceil_mode": AttrSpec("bool", False),
}
register(
    OpDef(
        name="max_pool2d",
        inputs=("x",),
        attrs=_POOL_ATTRS,
        infer=_pool_infer,
        reference=_pool_reference("max"),
        cost=_pool_cost,
        family="nn",
        doc="max over each window; padding counts as -inf",
    )
)
register(
    OpDef(
        name="avg_pool2d",
        inputs=("x",),
        attrs={**_POOL_ATTRS, "count_include_pad": AttrSpec("bool", False)},
        infer=_pool_infer,
        reference=_pool_reference("avg"),
        cost=_pool_cost,
        family="nn",
        doc="mean over each window; padding excluded from the divisor unless count_include_pad",
    )
)


def _global_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, layout = types[0], attrs["layout"]
    require_float(x, "x")
    require_rank(x, 4, "x", layout)
    return [_with_hw(x, x.shape[layout_axes(layout)[0]], (1, 1), layout)]


def _global_reference(fn: Callable[..., np.ndarray]) -> ReferenceFn:
    def reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        x = inputs[0]
        axes = layout_axes(attrs["layout"])[1:]
        return [fn(x.astype(np.float64), axis=axes, keepdims=True).astype(x.dtype)]

    return reference


for _name, _fn, _what in (
    ("global_avg_pool2d", np.mean, "mean"),
    ("global_max_pool2d", np.max, "max"),
):
    register(
        OpDef(
            name=_name,
            inputs=("x",),
            attrs={"layout": AttrSpec("str", "NCHW", choices=LAYOUTS)},
            infer=_global_infer,
            reference=_global_reference(_fn),
            cost=lambda ins, outs, a: Cost(ins[0].numel, bytes_moved(ins, outs)),
            family="nn",
            doc=f"{_what} over height and width; output keeps rank 4 with 1x1 spatial dims",
        )
    )


# normalization and softmax -------------------------------------------------------------
def _batch_norm_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x, layout = types[0], attrs["layout"]
    require_float(x, "x")
    require_same_dtype(types)
    if layout == "NHWC":
        require_rank(x, 4, "x", layout)
    elif x.rank < 2:
        raise ShapeError(f"x must have rank >= 2 (N, C, ...), got {x}", hint="add a batch axis")
    c = x.shape[layout_axes(layout)[0]]
    for name, t in zip(("scale", "bias", "mean", "var"), types[1:], strict=True):
        if t.shape != (c,):
            raise ShapeError(
                f"{name} {t} must have shape [{c}], the channels of x {x} ({layout})",
                hint="give one value per channel",
            )
    return [x]


def _batch_norm_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x, *params = inputs
    axis = layout_axes(attrs["layout"])[0]
    shape = [1] * x.ndim
    shape[axis] = -1
    scale, bias, mean, var = (p.astype(np.float64).reshape(shape) for p in params)
    out = (x.astype(np.float64) - mean) / np.sqrt(var + attrs["epsilon"]) * scale + bias
    return [out.astype(x.dtype)]


register(
    OpDef(
        name="batch_norm",
        inputs=("x", "scale", "bias", "mean", "var"),
        attrs={
            "epsilon": AttrSpec("float", 1e-5),
            "layout": AttrSpec("str", "NCHW", choices=LAYOUTS),
        },
        infer=_batch_norm_infer,
        reference=_batch_norm_reference,
        cost=elementwise_cost(2),
        inplace=(0,),
        family="nn",
        doc="inference batch norm: (x - mean) / sqrt(var + epsilon) * scale + bias per channel",
    )
)


def _layer_norm_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    x = types[0]
    require_float(x, "x")
    require_same_dtype(types)
    axis = normalize_axis(attrs["axis"], x.rank)
    for name, t in zip(("scale", "bias"), types[1:], strict=False):
        broadcasts_to(t.shape, x.shape[axis:], name)
    return [x]


def _layer_norm_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    x64 = x.astype(np.float64)
    axes = tuple(range(normalize_axis(attrs["axis"], x.ndim), x.ndim))
    mean = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (x64 - mean) / np.sqrt(var + attrs["epsilon"])
    for p in inputs[1:2]:
        out = out * p.astype(np.float64)
    for p in inputs[2:3]:
        out = out + p.astype(np.float64)
    return [out.astype(x.dtype)]


register(
    OpDef(
        name="layer_norm",
        inputs=("x", "scale?", "bias?"),
        attrs={"axis": AttrSpec("int", -1), "epsilon": AttrSpec("float", 1e-5)},
        infer=_layer_norm_infer,
        reference=_layer_norm_reference,
        cost=elementwise_cost(8),
        inplace=(0,),
        family="nn",
        doc="normalize over dims axis..end (biased variance), then * scale + bias (ONNX)",
    )
)


def _softmax_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    require_float(types[0], "x")
    normalize_axis(attrs["axis"], types[0].rank)
    return [types[0]]


def _softmax_reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    x = inputs[0]
    axis = normalize_axis(attrs["axis"], x.ndim)
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):  # an all -inf row: -inf - -inf = NaN, on purpose
        e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
    return [out.astype(x.dtype)]


register(
    OpDef(
        name="softmax",
        inputs=("x",),
        attrs={"axis": AttrSpec("int", -1)},
        infer=_softmax_infer,
        reference=_softmax_reference,
        cost=elementwise_cost(5),
        inplace=(0,),
        family="nn",
        doc="exp(x - max) / sum(exp(x - max)) along axis; an all -inf slice gives NaN",
    )
)
