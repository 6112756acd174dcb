"""Data-movement kernels: each writes its output with ``np.copyto`` from views of the
inputs (``transpose``, ``concat``, ``split``, ``slice``, ``expand``, ``pad``,
``gather``, ``cast``, ``where``, ``shape``, ``range``).

The view ops (``reshape``, ``flatten``, ``squeeze``, ``unsqueeze``) have no kernel:
the executor gives their outputs the input's bytes. ``where`` is safe in place on
either branch: writing over ``a`` copies ``b`` where the condition is false
(the negated condition in scratch), writing over ``b`` copies ``a`` where it is
true. ``gather`` checks its indices as the reference does, then takes with
``mode="wrap"`` (``mode="raise"`` would buffer the whole output). Reflect and
edge ``pad`` run the reference (``reference_into``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.reference_copy import reference_into
from nanograph.backends.planned.kernels.workspace import Carver, Sizer, static_shape
from nanograph.ir.attrs import Attrs
from nanograph.ir.types import TensorType

Index = tuple[slice, ...]


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _transpose(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    np.copyto(outputs[0], inputs[0].transpose(attrs["perm"]))


def _concat(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    out = outputs[0]
    axis = _axis(attrs["axis"], out.ndim)
    index: list[slice] = [slice(None)] * out.ndim
    at = 0
    for x in inputs:
        index[axis] = slice(at, at + x.shape[axis])
        np.copyto(out[tuple(index)], x)
        at += x.shape[axis]


def _split(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    x = inputs[0]
    axis = _axis(attrs["axis"], x.ndim)
    index: list[slice] = [slice(None)] * x.ndim
    at = 0
    for out in outputs:
        index[axis] = slice(at, at + out.shape[axis])
        np.copyto(out, x[tuple(index)])
        at += out.shape[axis]


@functools.lru_cache(maxsize=1024)
def _slice_index(attrs: Attrs, rank: int) -> Index:
    """The basic index of a ``slice`` node: Python slicing clamps as the op does."""
    starts, ends = attrs["starts"], attrs["ends"]
    axes = attrs.get("axes") or tuple(range(len(starts)))
    steps = attrs.get("steps") or (1,) * len(starts)
    index = [slice(None)] * rank
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        index[_axis(axis, rank)] = slice(int(start), int(end), step)
    return tuple(index)


def _slice(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    x = inputs[0]
    np.copyto(outputs[0], x[_slice_index(attrs, x.ndim)])


def _expand(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    np.copyto(outputs[0], inputs[0])  # copyto broadcasts x to the output's shape


def _pad(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    x, out = inputs[0], outputs[0]
    if attrs["mode"] != "constant":
        reference_into("pad", inputs, attrs, outputs)
        return
    pads = attrs["pads"]
    out.fill(np.asarray(attrs["value"]).astype(out.dtype))
    inner = tuple(slice(pads[i], pads[i] + x.shape[i]) for i in range(x.ndim))
    np.copyto(out[inner], x)


def _gather(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    data, indices = inputs
    axis = _axis(attrs["axis"], data.ndim)
    dim = data.shape[axis]
    if indices.size and (indices.min() < -dim or indices.max() >= dim):
        bad = indices[(indices < -dim) | (indices >= dim)]
        raise IndexError(
            f"gather: index {int(bad.flat[0])} is out of range for axis {axis} of length {dim}"
        )
    np.take(data, indices, axis=axis, out=outputs[0], mode="wrap")


def _cast(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    np.copyto(outputs[0], inputs[0], casting="unsafe")


def _where_workspace(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    sizer = Sizer()
    sizer.take(static_shape(ins[0]), np.bool_)
    return sizer.nbytes


def _where(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    cond, a, b = inputs
    out = outputs[0]
    if np.may_share_memory(out, a):  # in place over a: take b where cond is false
        if not np.may_share_memory(out, b):
            hidden = Carver(ws).take(cond.shape, np.bool_)
            np.logical_not(cond, out=hidden)
            np.copyto(out, b, where=hidden)
        return
    if not np.may_share_memory(out, b):
        np.copyto(out, b)
    np.copyto(out, a, where=cond)


def _shape(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    np.copyto(outputs[0], inputs[0].shape)


def _range(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: object
) -> None:
    # np.arange allocates its result: a range's length is a sequence length, not a batch
    start, limit = int(attrs["start"]), int(attrs["limit"])
    np.copyto(outputs[0], np.arange(start, limit, attrs["delta"], dtype=np.int64))


KERNELS: dict[str, Kernel] = {
    "transpose": Kernel("transpose", _transpose),
    "concat": Kernel("concat", _concat),
    "split": Kernel("split", _split),
    "slice": Kernel("slice", _slice),
    "expand": Kernel("expand", _expand),
    "pad": Kernel("pad", _pad),
    "gather": Kernel("gather", _gather),
    "cast": Kernel("cast", _cast),
    "where": Kernel("where", _where, _where_workspace, inplace_safe=True),
    "shape": Kernel("shape", _shape),
    "range": Kernel("range", _range),
}

__all__ = ["KERNELS"]
