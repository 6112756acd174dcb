"""``tensor[index]`` for symbolic tensors: ints, slices, ``None`` and ``...``.

Translates a Python index into at most three IR nodes: one ``slice`` for all
sliced axes, a ``squeeze`` for the integer-indexed axes, and an ``unsqueeze``
for ``None`` entries. Slice bounds may be symbolic dims (``x[:, : y.shape[1]]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanograph.frontend.tracer import TraceError, user_location
from nanograph.ir.dims import SymExpr

if TYPE_CHECKING:
    from nanograph.frontend.tensor import Tensor


def _expand_ellipsis(index: tuple[Any, ...], rank: int) -> tuple[Any, ...]:
    n_ellipsis = sum(1 for i in index if i is Ellipsis)
    if n_ellipsis > 1:
        raise TraceError("an index can have only one '...'", loc=user_location())
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > rank:
        raise TraceError(
            f"too many indices ({used}) for a tensor of rank {rank}", loc=user_location()
        )
    if n_ellipsis == 0:
        return index + (slice(None),) * (rank - used)
    at = index.index(Ellipsis)
    return index[:at] + (slice(None),) * (rank - used) + index[at + 1 :]


def getitem(x: Tensor, index: Any) -> Tensor:
    from nanograph.frontend import functional as F

    if not isinstance(index, tuple):
        index = (index,)
    index = _expand_ellipsis(index, x.ndim)
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
                        f"slice step must be positive, got {step}",
                        loc=user_location(),
                        hint="reverse with an explicit index or gather instead",
                    )
                starts.append(0 if item.start is None else _bound(item.start))
                ends.append(F.TO_END if item.stop is None else _bound(item.stop))
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        else:
            raise TraceError(
                f"unsupported index {item!r}",
                loc=user_location(),
                hint="use ints, slices, None or ...; gather with F.embedding or emit('gather')",
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


def _bound(value: Any) -> Any:
    if isinstance(value, (int, SymExpr)) and not isinstance(value, bool):
        return value
    raise TraceError(f"slice bounds must be ints or dims, got {value!r}", loc=user_location())
