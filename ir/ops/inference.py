"""Shared rules of shape and dtype inference: broadcasting, axes, dtype checks.

Each raises ``ShapeError``/``DTypeError`` saying what is wrong and how to fix
it; the caller adds the op name, the input shapes and the source location.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nanograph.ir.dims import Dim
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
            hint="cast it with .to('f32')",
        )


def require_dtype(t: TensorType, allowed: Iterable[DType], what: str = "input") -> None:
    allowed = tuple(allowed)
    if t.dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise DTypeError(f"{what} must be {names}, got {t}", hint="cast it with .to(...)")


def require_same_dtype(types: Sequence[TensorType]) -> DType:
    first = types[0].dtype
    for t in types[1:]:
        if t.dtype != first:
            shown = ", ".join(str(x) for x in types)
            raise DTypeError(
                f"inputs must have the same dtype, got {shown}",
                hint="cast one side with .to(...)",
            )
    return first


def require_rank(t: TensorType, rank: int, what: str = "input", layout: str = "") -> None:
    if t.rank != rank:
        extra = f" ({layout})" if layout else ""
        raise ShapeError(f"{what} must have rank {rank}{extra}, got {t}")
