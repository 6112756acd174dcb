"""What an ONNX value is while importing: a graph ``Value``, or a ``Known`` value.

A ``Known`` is a tensor whose contents the importer knows without running the
model: initializers, ``Constant`` nodes, and everything computed from them and
from shapes. Invariants:

- ``array`` is a NumPy array of ``dtype`` (a *static* value), or an ``object``
  array of ints and ``SymExpr`` dims with at least one ``SymExpr`` (a
  *symbolic* value such as ``Shape(x)`` = ``[N, 3, H, W]``); only integer
  dtypes hold symbolic values.
- ``name`` is what the value is called when it must become part of the graph
  (the ONNX name of the value it stands for); ``value`` caches that graph
  value once materialized, so a constant is added to the graph at most once.

``Operand = Value | Known``; ``None`` stands for an absent optional input.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.dims import Dim, SymExpr
from nanograph.ir.graph import Value
from nanograph.ir.types import DType, TensorType


class Known:
    """A tensor known at import time (see module docstring)."""

    __slots__ = ("array", "dtype", "name", "value")

    def __init__(self, array: np.ndarray, dtype: DType, name: str) -> None:
        self.dtype = dtype
        self.array = normalize(array, dtype)
        self.name = name
        self.value: Value | None = None

    @property
    def is_static(self) -> bool:
        return self.array.dtype != object

    @property
    def type(self) -> TensorType:
        return TensorType(self.dtype, tuple(int(d) for d in self.array.shape))

    def dims(self) -> tuple[Dim, ...]:
        """The elements as Dims (ints or ``SymExpr``), flattened."""
        return tuple(d if isinstance(d, SymExpr) else int(d) for d in self.array.reshape(-1))

    def __repr__(self) -> str:
        kind = "static" if self.is_static else "symbolic"
        return f"<Known {kind} {self.name}: {self.type}>"


def normalize(array: np.ndarray, dtype: DType) -> np.ndarray:
    """A static array of ``dtype``, or an object array of Python ints and ``SymExpr``."""
    array = np.asarray(array)
    if array.dtype != object:
        return np.asarray(array, dtype=dtype.numpy)
    flat = [d if isinstance(d, SymExpr) else int(d) for d in array.reshape(-1)]
    if not any(isinstance(d, SymExpr) for d in flat):
        return np.array(flat, dtype=dtype.numpy).reshape(array.shape)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


Operand = Value | Known


def operand_type(x: Operand) -> TensorType:
    return x.type


def is_static(x: Operand | None) -> bool:
    return isinstance(x, Known) and x.is_static


__all__ = ["Known", "Operand", "is_static", "normalize", "operand_type"]
