"""Converters of ``Conv``, ``MaxPool``, ``AveragePool`` and the global pools.

The IR has 2-D windows (NCHW). A 1-D op (``[N, C, L]``) is lifted to 2-D:
an axis of length 1 is inserted at 2 (``unsqueeze``), the window gets height
1, and the result is squeezed back; 3-D windows are refused.

``auto_pad``: ``NOTSET`` uses ``pads``; ``VALID`` pads nothing; ``SAME_UPPER``
and ``SAME_LOWER`` become explicit pads so that ``out = ceil(in / stride)``
(the odd pixel at the end, or at the start for ``SAME_LOWER``). That needs a
static input size, except with stride 1, where the total pad is
``dilation * (kernel - 1)`` whatever the size.
"""

from __future__ import annotations

from collections.abc import Sequence

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.ir.dims import Dim

Window = dict[str, tuple[int, ...]]


def _spatial_rank(node: OnnxNode, x: Operand) -> int:
    n = x.type.rank - 2
    if n not in (1, 2):
        raise node.refuse(
            f"{max(n, 0)}-D windows are not supported (input {x.type}); only 1-D and 2-D",
            hint="nanograph's conv and pools are 2-D (1-D ones are lifted to 2-D)",
        )
    return n


def _same_pads(node: OnnxNode, size: Dim, kernel: int, stride: int, dilation: int) -> int:
    """Total padding of one axis under SAME_* auto_pad."""
    if isinstance(size, int):
        out = -(-size // stride)
        return max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    if stride == 1:
        return (kernel - 1) * dilation
    raise node.refuse(
        f"auto_pad={node.attr('auto_pad')} with stride {stride} needs a static input size, "
        f"got {size}",
        hint="export with explicit pads, or with a static spatial size",
    )


def _pads(
    node: OnnxNode,
    x: Operand,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> list[int]:
    """Explicit ``[begin..., end...]`` pads for the node's auto_pad."""
    n = len(kernel)
    mode = node.attr("auto_pad", "NOTSET")
    if mode == "NOTSET":
        return list(node.attr("pads", [0] * (2 * n)))
    if mode == "VALID":
        return [0] * (2 * n)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.refuse(f"auto_pad={mode!r} is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    begins, ends = [], []
    for i in range(n):
        total = _same_pads(node, x.type.shape[2 + i], kernel[i], strides[i], dilations[i])
        small, large = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else large)
        ends.append(large if mode == "SAME_UPPER" else small)
    return begins + ends


def _window(node: OnnxNode, x: Operand, kernel: Sequence[int]) -> Window:
    """strides, pads and dilations of the 2-D IR op (1-D lifted: height 1, no padding)."""
    n = len(kernel)
    strides = list(node.attr("strides", [1] * n))
    dilations = list(node.attr("dilations", [1] * n))
    pads = _pads(node, x, kernel, strides, dilations)
    if n == 1:
        return {
            "kernel": (1, kernel[0]),
            "strides": (1, strides[0]),
            "dilations": (1, dilations[0]),
            "pads": (0, pads[0], 0, pads[1]),
        }
    return {
        "kernel": tuple(kernel),
        "strides": tuple(strides),
        "dilations": tuple(dilations),
        "pads": tuple(pads),
    }


def _lift(b: Builder, x: Operand, n: int) -> Operand:
    return b.op("unsqueeze", x, axes=(2,)) if n == 1 else x


def _lower(b: Builder, y: Operand, n: int) -> Operand:
    return b.op("squeeze", y, axes=(2,)) if n == 1 else y


@converter("Conv", versions=(11, 22))
def convert_conv(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    x, w, bias = node.require(0, "X"), node.require(1, "W"), node.input(2)
    n = _spatial_rank(node, x)
    w_kernel = w.type.shape[2:]
    kernel = node.attr("kernel_shape", list(w_kernel))
    if any(not isinstance(k, int) for k in kernel) or tuple(kernel) != tuple(w_kernel):
        raise node.refuse(
            f"kernel_shape {kernel} does not match the weight {w.type} (ONNX requires "
            f"kernel_shape to equal the weight's spatial dims {list(w_kernel)})",
            hint="the model is inconsistent: fix the exporter, or drop kernel_shape "
            "(it is then read from the weight)",
        )
    window = _window(node, x, kernel)
    del window["kernel"]
    inputs = [_lift(b, x, n), _lift(b, w, n)] + ([bias] if bias is not None else [])
    y = b.op("conv2d", *inputs, groups=node.attr("group", 1), **window)
    return one(_lower(b, y, n))


def _pool(b: Builder, node: OnnxNode, ir_op: str, **extra: object) -> Operand:
    x = node.require(0)
    n = _spatial_rank(node, x)
    window = _window(node, x, node.attr("kernel_shape"))
    ceil = bool(node.attr("ceil_mode", 0))
    y = b.op(ir_op, _lift(b, x, n), ceil_mode=ceil, **window, **extra)
    return _lower(b, y, n)


@converter("MaxPool", versions=(12, 22))
def convert_max_pool(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    if node.wants(1):
        raise node.refuse("the Indices output is not supported", hint="use only the values")
    return [_pool(b, node, "max_pool2d"), None]


@converter("AveragePool", versions=(11, 19, 22))
def convert_avg_pool(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    include = bool(node.attr("count_include_pad", 0))
    return one(_pool(b, node, "avg_pool2d", count_include_pad=include))


def _global(b: Builder, node: OnnxNode, ir_op: str, reduce_op: str) -> Operand:
    x = node.require(0)
    if x.type.rank == 4:
        return b.op(ir_op, x)
    if x.type.rank < 3:
        raise node.refuse(f"needs an input [N, C, spatial...], got {x.type}")
    return b.op(reduce_op, x, axes=tuple(range(2, x.type.rank)), keepdims=True)


@converter("GlobalAveragePool", versions=(1, 22))
def convert_global_avg_pool(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(_global(b, node, "global_avg_pool2d", "reduce_mean"))


@converter("GlobalMaxPool", versions=(1, 22))
def convert_global_max_pool(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    return one(_global(b, node, "global_max_pool2d", "reduce_max"))
