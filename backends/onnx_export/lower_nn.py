"""Lowering of ``matmul`` and the neural-network ops.

| op | ONNX |
|---|---|
| matmul | MatMul (NumPy semantics, 1-D operands included) |
| conv2d | Conv (pads [top, left, bottom, right] as ONNX; group; kernel from W) |
| max_pool2d | MaxPool (ceil_mode, dilations; see ``_pool_window`` below opset 22) |
| avg_pool2d | AveragePool (ceil_mode, count_include_pad; dilations from opset 19, refused below) |
| global_avg/max_pool2d | GlobalAveragePool / GlobalMaxPool |
| batch_norm | BatchNormalization (inference) |
| layer_norm | LayerNormalization (a missing scale becomes ones) |
| softmax | Softmax (one axis, opset >= 13 meaning) |

NHWC nodes are transposed to NCHW around the ONNX op (weights OHWI -> OIHW).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nanograph.backends.onnx_export.context import ExportContext
from nanograph.backends.onnx_export.lowering import LowerFn, in_nchw, one_to_one, unsupported
from nanograph.ir.graph import Node
from nanograph.ir.ops.inference import layout_axes


def _window_attrs(node: Node) -> dict[str, list[int]]:
    a = node.attrs
    return {
        "pads": list(a["pads"]),
        "strides": list(a["strides"]),
        "dilations": list(a["dilations"]),
    }


def lower_conv2d(ctx: ExportContext, node: Node) -> None:
    """Conv; NHWC transposes x and the OHWI weight in, and the result out."""

    def core(names: Sequence[str], out: str | None) -> str:
        return ctx.emit1("Conv", names, out, group=node.attrs["groups"], **_window_attrs(node))

    in_nchw(ctx, node, core, transposed_inputs=2)


def _pool_window(ctx: ExportContext, node: Node) -> dict[str, Any]:
    """kernel_shape, pads, strides, dilations, ceil_mode of a pool for this opset.

    With ``ceil_mode`` a last window that would start in the end padding is
    dropped (PyTorch; ONNX from opset 22). Older ONNX shape inference counts
    it, so below opset 22 such a pool is written as ``ceil_mode=0`` with the
    end padding its windows reach: the same windows, taps and divisors,
    except that an average counting padding must not count an overhang past
    the original end padding (refused then).
    """
    a = node.attrs
    window: dict[str, Any] = {"kernel_shape": list(a["kernel"]), **_window_attrs(node)}
    window["ceil_mode"] = int(a["ceil_mode"])
    axes = _static_axes(node)
    if not a["ceil_mode"] or ctx.opset >= 22 or axes is None:
        return window  # (a symbolic ceil pool never drops a window: inference proves it)
    if all(math.ceil((n + p0 + p1 - span) / st) + 1 == out for n, out, span, p0, p1, st in axes):
        return window
    # How far the last window reaches past the input's end; a last window ending inside
    # the input (a big stride) reaches negatively, and needs no end padding at all.
    reach = [max(0, (out - 1) * st + span - n - p0) for n, out, span, p0, _, st in axes]
    overhang = any(r > p1 for r, (*_, p1, _) in zip(reach, axes, strict=True))
    if overhang and a.get("count_include_pad", False):
        raise unsupported(
            node,
            f"this ceil_mode average pool (counting padding) has no exact form below opset 22 "
            f"(exporting at {ctx.opset})",
            "export with --opset 22 or later",
        )
    window["pads"] = [*a["pads"][:2], *reach]
    window["ceil_mode"] = 0
    return window


def _static_axes(node: Node) -> list[tuple[int, int, int, int, int, int]] | None:
    """(size, output size, window span, pad begin, pad end, stride) per spatial axis,
    or None if a size is symbolic."""
    a, x, y = node.attrs, node.inputs[0].type, node.output.type
    out = []
    for i, axis in enumerate(layout_axes(a["layout"])[1:]):
        n, size = x.shape[axis], y.shape[axis]
        if not (isinstance(n, int) and isinstance(size, int)):
            return None
        span = a["dilations"][i] * (a["kernel"][i] - 1) + 1
        out.append((n, size, span, a["pads"][i], a["pads"][i + 2], a["strides"][i]))
    return out


def lower_max_pool2d(ctx: ExportContext, node: Node) -> None:
    window = _pool_window(ctx, node)
    in_nchw(ctx, node, lambda names, out: ctx.emit1("MaxPool", names, out, **window))


def lower_avg_pool2d(ctx: ExportContext, node: Node) -> None:
    """AveragePool; its ``dilations`` attribute exists from opset 19."""
    window = _pool_window(ctx, node)
    if ctx.opset < 19 and any(d != 1 for d in window.pop("dilations")):
        raise unsupported(
            node,
            f"dilated average pooling needs opset 19 or later (exporting at {ctx.opset})",
            "export with --opset 19 or later",
        )
    include = int(node.attrs["count_include_pad"])

    def core(names: Sequence[str], out: str | None) -> str:
        return ctx.emit1("AveragePool", names, out, count_include_pad=include, **window)

    in_nchw(ctx, node, core)


def _global_pool(onnx_op: str) -> LowerFn:
    def lower(ctx: ExportContext, node: Node) -> None:
        in_nchw(ctx, node, lambda names, out: ctx.emit1(onnx_op, names, out))

    return lower


def lower_batch_norm(ctx: ExportContext, node: Node) -> None:
    def core(names: Sequence[str], out: str | None) -> str:
        return ctx.emit1("BatchNormalization", names, out, epsilon=node.attrs["epsilon"])

    in_nchw(ctx, node, core)


def lower_layer_norm(ctx: ExportContext, node: Node) -> None:
    """LayerNormalization over axis..end; ONNX requires a scale, so a missing one is ones."""
    x = node.inputs[0]
    names = ctx.names(node.inputs)
    axis = node.attrs["axis"] % x.type.rank
    if len(names) == 1:
        names.append(ctx.const(np.ones([1] * (x.type.rank - axis), x.type.dtype.numpy), "ones"))
    ctx.emit1(
        "LayerNormalization", names, node.output.name, axis=axis, epsilon=node.attrs["epsilon"]
    )


def lower_softmax(ctx: ExportContext, node: Node) -> None:
    ctx.emit1("Softmax", [node.inputs[0].name], node.output.name, axis=node.attrs["axis"])


nn_lowerings: dict[str, LowerFn] = {
    "matmul": one_to_one("MatMul"),
    "conv2d": lower_conv2d,
    "max_pool2d": lower_max_pool2d,
    "avg_pool2d": lower_avg_pool2d,
    "global_avg_pool2d": _global_pool("GlobalAveragePool"),
    "global_max_pool2d": _global_pool("GlobalMaxPool"),
    "batch_norm": lower_batch_norm,
    "layer_norm": lower_layer_norm,
    "softmax": lower_softmax,
}

__all__ = ["nn_lowerings"]
