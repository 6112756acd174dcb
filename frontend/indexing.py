"""``tensor[index]`` for symbolic tensors: ints, slices, ``None`` and ``...``.

Translates a Python index into at most three IR nodes: one ``slice`` for all
sliced axes, a ``squeeze`` for the integer-indexed axes, and an ``unsqueeze``
for ``None`` entries. Slice bounds may be symbolic dims (``x[:, : y.shape[1]]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanograph.frontend.tracer import TraceError, user_location
from nanograph.ir.dims import SymExpr
from nanograph.ir.errors import ShapeError

if TYPE_CHECKING:
    from nanograph.frontend.tensor import Tensor


def _shown(index: tuple[Any, ...]) -> str:
    def one(i: Any) -> str:
        if i is Ellipsis:
            return "..."
        if isinstance(i, slice):
            parts = ["" if p is None else str(p) for p in (i.start, i.stop, i.step)]
            return ":".join(parts[:2] if i.step is None else parts)
        return repr(i)

    return "[" + ", ".join(one(i) for i in index) + "]"


def _expand_ellipsis(x: Tensor, index: tuple[Any, ...]) -> tuple[Any, ...]:
    rank = x.ndim
    n_ellipsis = sum(1 for i in index if i is Ellipsis)
    if n_ellipsis > 1:
        raise TraceError(
            f"index {_shown(index)} of {x.value.type} has more than one '...'",
            loc=user_location(),
            hint="use at most one '...' per index",
        )
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > rank:
        raise TraceError(
            f"index {_shown(index)} has {used} entries, too many for {x.value.type} (rank {rank})",
            loc=user_location(),
            hint=f"index at most {rank} axes (None and '...' do not count)",
        )
    if n_ellipsis == 0:
        return index + (slice(None),) * (rank - used)
    at = index.index(Ellipsis)
    return index[:at] + (slice(None),) * (rank - used) + index[at + 1 :]


def getitem(x: Tensor, index: Any) -> Tensor:
    from nanograph.frontend import functional as F

    if not isinstance(index, tuple):
        index = (index,)
    given = index
    index = _expand_ellipsis(x, index)
    starts: list[Any] = []
    ends: list[Any] = []
    axes: list[int] = []
    steps: list[int] = []
    squeeze_axes: list[int] = []
    new_axes: list[int] = []
    axis = 0  # axis of x
    out_pos = 0  # position in the result after squeezing
    for item in index:
        if item is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(item, int) and not isinstance(item, bool):
            dim = x.shape[axis]
            if isinstance(dim, int) and not -dim <= item < dim:
                raise ShapeError(
                    f"index {item} in {_shown(given)} is out of range for axis {axis} of "
                    f"{x.value.type} (length {dim})",
                    loc=user_location(),
                    hint=f"use an index in [{-dim}, {dim - 1}]",
                )
            starts.append(item)
            ends.append(F.TO_END if item == -1 else item + 1)
            axes.append(axis)
            steps.append(1)
            squeeze_axes.append(axis)
        elif isinstance(item, slice):
            if item != slice(None) and item != slice(None, None, 1):
                step = 1 if item.step is None else int(item.step)
                if step <= 0:
                    raise TraceError(
                        f"slice step must be positive, got {step} in index {_shown(given)} "
                        f"of {x.value.type}",
                        loc=user_location(),
                        hint="to reverse an axis, gather it with reversed indices: "
                        "F.emit('gather', x, ids, axis=...)",
                    )
                starts.append(0 if item.start is None else _bound(item.start, x, given))
                ends.append(F.TO_END if item.stop is None else _bound(item.stop, x, given))
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        else:
            raise TraceError(
                f"unsupported index {item!r} of {x.value.type}: only ints, slices, None "
                "and ... can index a tensor",
                loc=user_location(),
                hint="to pick rows by a tensor of ids, use F.embedding(ids, table) or "
                "F.emit('gather', x, ids, axis=...)",
            )
        axis += 1
    out = x
    if axes:
        out = F.emit("slice", out, starts=starts, ends=ends, axes=axes, steps=steps)
    if squeeze_axes:
        out = F.emit("squeeze", out, axes=squeeze_axes)
    if new_axes:
        out = F.emit("unsqueeze", out, axes=new_axes)
    return out


def _bound(value: Any, x: Tensor, index: tuple[Any, ...]) -> Any:
    if isinstance(value, (int, SymExpr)) and not isinstance(value, bool):
        return value
    raise TraceError(
        f"slice bound {value!r} in index {_shown(index)} of {x.value.type} is not an int or a dim",
        loc=user_location(),
        hint="use ints or dims from .shape (x[:, : y.shape[1]]); tensors cannot be bounds",
    )
