"""Shared rules of shape and dtype inference: broadcasting, axes, dtype checks.

Each raises ``ShapeError``/``DTypeError`` saying what is wrong and how to fix
it; the caller adds the op name, the input shapes and the source location.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nanograph.ir.dims import Dim, add, floordiv, mul
from nanograph.ir.errors import DTypeError, ShapeError
from nanograph.ir.types import DType, TensorType, shape_str


def broadcast_shapes(*shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """NumPy broadcasting over symbolic dims; two different non-1 dims must be equal."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for axis in range(-rank, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        chosen: Dim = 1
        for d in dims:
            if d == 1:
                continue
            if chosen == 1:
                chosen = d
            elif chosen != d:
                shown = " and ".join(shape_str(s) for s in shapes)
                raise ShapeError(
                    f"shapes {shown} do not broadcast: dim {chosen} vs {d} at axis {axis}",
                    hint="dims must be equal or 1 (reshape or expand one side)",
                )
        out.append(chosen)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """``axis`` in ``[-rank, rank)`` mapped to ``[0, rank)``."""
    if not -rank <= axis < rank:
        raise ShapeError(
            f"{what} {axis} is out of range for a tensor of rank {rank}",
            hint=f"use an axis in [{-rank}, {rank - 1}]",
        )
    return axis % rank


def normalize_axes(axes: Iterable[int], rank: int) -> tuple[int, ...]:
    out = tuple(normalize_axis(a, rank) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"axes {tuple(axes)} repeat an axis")
    return out


def require_float(t: TensorType, what: str = "input") -> None:
    if not t.dtype.is_float:
        raise DTypeError(
            f"{what} must be a float tensor, got {t}",
            hint="insert a cast to f32 first (DSL: x.to('f32'); ONNX: a Cast node)",
        )


def require_dtype(t: TensorType, allowed: Iterable[DType], what: str = "input") -> None:
    allowed = tuple(allowed)
    if t.dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise DTypeError(
            f"{what} must be {names}, got {t}",
            hint=f"insert a cast to one of {names} first (DSL: x.to(...); ONNX: a Cast node)",
        )


def require_same_dtype(types: Sequence[TensorType]) -> DType:
    first = types[0].dtype
    for t in types[1:]:
        if t.dtype != first:
            shown = ", ".join(str(x) for x in types)
            raise DTypeError(
                f"inputs must have the same dtype, got {shown}",
                hint="insert a cast on one side first (DSL: x.to(...); ONNX: a Cast node)",
            )
    return first


def require_rank(t: TensorType, rank: int, what: str = "input", layout: str = "") -> None:
    if t.rank != rank:
        extra = f" ({layout})" if layout else ""
        if t.rank < rank:
            hint = f"add the missing leading axes, e.g. x.unsqueeze(0) for a batch of one{extra}"
        else:
            hint = f"reshape or flatten it to rank {rank}"
        raise ShapeError(f"{what} must have rank {rank}{extra}, got {t}", hint=hint)


# dim arithmetic and layouts --------------------------------------------------------
def sub_dim(a: Dim, b: Dim) -> Dim:
    return add(a, mul(b, -1))


def prod_dims(dims: Iterable[Dim]) -> Dim:
    total: Dim = 1
    for d in dims:
        total = mul(total, d)
    return total


def static_ints(dims: Iterable[Dim], what: str) -> tuple[int, ...]:
    """``dims`` as ints; a symbolic one raises (references run on specialized graphs)."""
    dims = tuple(dims)
    out = tuple(d for d in dims if isinstance(d, int))
    if len(out) != len(dims):
        raise ShapeError(
            f"{what} {shape_str(dims)} still has symbolic dims at run time",
            hint="specialize the graph (bind its symbols) before running it",
        )
    return out


LAYOUTS = ("NCHW", "NHWC")


def layout_axes(layout: str) -> tuple[int, int, int]:
    """(channel, height, width) axes of a rank-4 tensor in ``layout``."""
    return (1, 2, 3) if layout == "NCHW" else (3, 1, 2)


def window_out_dim(
    size: Dim,
    kernel: Dim,
    stride: int,
    pads: tuple[int, int],
    dilation: int,
    ceil_mode: bool = False,
    what: str = "spatial",
) -> Dim:
    """Output length of a sliding window (conv/pool) along one axis.

    ``floor((size + pads - dilation*(kernel-1) - 1) / stride) + 1``; with
    ``ceil_mode`` the ceiling, dropping a last window that would start in the
    end padding (PyTorch). Static sizes must give at least one window; stride,
    dilation and a static kernel must be >= 1 and pads >= 0 (else ``ShapeError``
    saying which to change).
    """
    if stride < 1 or dilation < 1 or min(pads) < 0:
        fixes = [f"stride {stride} to 1 or more"] if stride < 1 else []
        fixes += [f"dilation {dilation} to 1 or more"] if dilation < 1 else []
        fixes += [f"pads {pads} to 0 or more"] if min(pads) < 0 else []
        raise ShapeError(
            f"{what}: strides and dilations must be >= 1 and pads >= 0, "
            f"got stride {stride}, dilation {dilation}, pads {pads}",
            hint=f"change {', '.join(fixes)} (to crop the input, slice it before the window op)",
        )
    if isinstance(kernel, int) and kernel < 1:
        raise ShapeError(
            f"{what}: the window (kernel) size must be >= 1, got {kernel}",
            hint="give the kernel a size of 1 or more along each axis",
        )
    span = add(mul(dilation, sub_dim(kernel, 1)), 1)
    padded = add(size, pads[0] + pads[1])
    reach = sub_dim(padded, span)
    if isinstance(reach, int) and reach < 0:
        raise ShapeError(
            f"{what}: the window (kernel {kernel}, dilation {dilation}, extent {span}) is "
            f"larger than the padded input ({size} + pads {pads[0]}+{pads[1]} = {padded})",
            hint="use a smaller kernel or dilation, more padding, or a larger input",
        )
    if not ceil_mode:
        return add(floordiv(reach, stride), 1)
    out = add(floordiv(add(reach, stride - 1), stride), 1)
    # The last window must start inside the input or the begin padding.
    if isinstance(out, int) and isinstance(size, int):
        return out - 1 if (out - 1) * stride >= size + pads[0] else out
    if isinstance(span, int) and pads[1] + stride - 1 < span:
        return out  # a window can then never start in the end padding
    raise ShapeError(
        f"{what}: with ceil_mode the output length for symbolic size {size} depends on "
        "its value (the last window may start in the padding)",
        hint="bind the symbol (specialize) or use ceil_mode=False",
    )


def broadcasts_to(shape: Sequence[Dim], target: Sequence[Dim], what: str) -> None:
    """Check ``shape`` broadcasts to ``target`` without changing it (unidirectional)."""
    try:
        ok = len(shape) <= len(target) and broadcast_shapes(shape, target) == tuple(target)
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(
            f"{what} {shape_str(shape)} does not broadcast to {shape_str(target)}",
            hint=f"give {what} a shape whose dims equal the target's or are 1",
        )
