"""Where a window tap lands in its input: the clipped index ranges that let pooling and
convolution read x through strided views instead of a padded copy.

Along one axis, output position p of tap k reads input position ``p*stride + offset``
(``offset = k*dilation - pad_begin``); positions outside ``[0, size)`` are padding.
``axis_range`` gives the output positions that land inside x and the input positions
they read, both as slices.
"""

from __future__ import annotations


def axis_range(size: int, out: int, stride: int, offset: int) -> tuple[slice, slice] | None:
    """(output positions, input positions) of one tap along one axis, or None when every
    output position of the tap reads padding."""
    lo = max(0, -(offset // stride))  # first p with p*stride + offset >= 0: ceil(-offset/s)
    hi = min(out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    if hi <= lo:
        return None
    start = lo * stride + offset
    return slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1, stride)


__all__ = ["axis_range"]
