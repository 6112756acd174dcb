"""Checks of the plain Python arguments given to DSL modules and functions.

A module's constructor (``nn.Conv2d(3, 8, 3, stride=0)``) or a functional op
(``F.softmax(x, dim=1.0)``) checks its numbers here, before any weight is
drawn or node recorded. Each check returns the value normalized (a NumPy
integer becomes an ``int``, an int-or-pair becomes a pair) or raises
``AttributeValueError`` naming the owner (``Conv2d``, ``F.softmax``), the
argument, the value it got, the legal range, and the user's source line: the
first frame outside nanograph's frontend, i.e. the line that built the module
or called the function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError


def _refuse(owner: str, name: str, value: object, legal: str, hint: str) -> AttributeValueError:
    return AttributeValueError(
        f"{owner}: {name}={value!r} is not {legal}", loc=user_location(), hint=hint
    )


def is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def whole(owner: str, name: str, value: object, low: int = 1) -> int:
    """``value`` as an ``int >= low``; bools, floats and strings are refused."""
    if not is_int(value) or int(value) < low:  # type: ignore[call-overload]
        raise _refuse(owner, name, value, f"an int >= {low}", f"pass {name} as an int >= {low}")
    return int(value)  # type: ignore[call-overload]


def pair(owner: str, name: str, value: object, low: int) -> tuple[int, int]:
    """An int or a (height, width) pair of ints, each ``>= low``, as a pair."""
    items: list[object] = list(value) if isinstance(value, (tuple, list)) else [value, value]
    ints = [int(v) for v in items if is_int(v) and int(v) >= low]  # type: ignore[call-overload]
    if len(items) != 2 or len(ints) != 2:
        raise _refuse(
            owner,
            name,
            value,
            f"an int >= {low} or a pair of them",
            f"pass {name} as n or (n_height, n_width), each an int >= {low}",
        )
    return (ints[0], ints[1])


def real(owner: str, name: str, value: object, low: float, high: float = math.inf) -> float:
    """``value`` as a finite float in ``[low, high]``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    if not ok or not math.isfinite(float(value)) or not low <= float(value) <= high:  # type: ignore[arg-type]
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        legal = f"a finite number {bounds}"
        raise _refuse(owner, name, value, legal, f"pass {name} as a finite number {bounds}")
    return float(value)  # type: ignore[arg-type]


def axis(owner: str, name: str, value: object) -> int:
    """An axis index: an int (negative counts from the end); range is checked by the op."""
    if not is_int(value):
        raise AttributeValueError(
            f"{owner}: {name}={value!r} is {type(value).__name__}, not an int axis",
            loc=user_location(),
            hint=f"pass {name} as an int, e.g. {name}=-1 for the last axis (as in PyTorch)",
        )
    return int(value)  # type: ignore[call-overload]


def axes(owner: str, name: str, value: object) -> tuple[int, ...]:
    """One axis or a sequence of them, as a tuple (possibly empty)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(axis(owner, name, v) for v in value)
    return (axis(owner, name, value),)


def pool_padding(owner: str, padding: tuple[int, int], kernel: tuple[int, int]) -> None:
    """A pool pads at most half its window per side (PyTorch's rule); more would make windows
    that see only padding."""
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise AttributeValueError(
            f"{owner}: padding={padding} is more than half of kernel_size={kernel}",
            loc=user_location(),
            hint=f"use padding <= kernel_size // 2, here <= {(kernel[0] // 2, kernel[1] // 2)}",
        )
