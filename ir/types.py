"""Element types and tensor types.

``TensorType(dtype, shape)`` is immutable and hashable; its shape is a tuple of
``Dim`` (ints or ``SymExpr``). Its text form is ``f32[N,3,32,32]``; a scalar is
``f32[]``.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from nanograph.ir.dims import Dim, SymExpr, as_dim, mul, substitute, symbols_of
from nanograph.ir.errors import DTypeError, ShapeError


class DType(enum.Enum):
    """Element types. The value is the short text name used in the IR text form."""

    f32 = "f32"
    f16 = "f16"
    i64 = "i64"
    i32 = "i32"
    bool = "bool"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_TO_NUMPY[self])

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_float(self) -> builtins.bool:
        return self in (DType.f32, DType.f16)

    @property
    def is_int(self) -> builtins.bool:
        return self in (DType.i64, DType.i32)

    @staticmethod
    def parse(value: object) -> DType:
        """Accept a DType, its short name, a numpy dtype, or common aliases."""
        if isinstance(value, DType):
            return value
        if isinstance(value, str) and value in _ALIASES:
            return _ALIASES[value]
        try:
            npd = np.dtype(value)  # type: ignore[call-overload]
        except TypeError:
            npd = None
        if npd is not None:
            for dt, name in _TO_NUMPY.items():
                if np.dtype(name) == npd:
                    return dt
        raise DTypeError(
            f"unsupported dtype {value!r}",
            hint="use one of f32, f16, i64, i32, bool",
        )

    def __str__(self) -> str:
        return self.value


_TO_NUMPY = {
    DType.f32: "float32",
    DType.f16: "float16",
    DType.i64: "int64",
    DType.i32: "int32",
    DType.bool: "bool",
}
_ALIASES = {
    **{d.value: d for d in DType},
    "float32": DType.f32,
    "float": DType.f32,
    "float16": DType.f16,
    "half": DType.f16,
    "int64": DType.i64,
    "long": DType.i64,
    "int32": DType.i32,
    "int": DType.i32,
}


@dataclass(frozen=True, slots=True)
class TensorType:
    """The type of a tensor value: element type and a shape of Dims.

    A static dim is a size, so it is ``>= 0``: constructing a type with a
    negative dim raises ``ShapeError``. Zero is a legal size (ONNX and NumPy
    have zero-size tensors; ``ReduceSum`` over an empty axis is an ONNX test).
    """

    dtype: DType
    shape: tuple[Dim, ...]

    def __post_init__(self) -> None:
        for axis, d in enumerate(self.shape):
            if isinstance(d, int) and d < 0:
                shown = ",".join(str(x) for x in self.shape)
                raise ShapeError(
                    f"tensor type {self.dtype}[{shown}] has the negative dim {d} at axis {axis}",
                    hint="a dim is a size >= 0; write a symbol (N, S, ...) for a size "
                    "known only at run time",
                )

    @staticmethod
    def of(dtype: object, shape: Iterable[object]) -> TensorType:
        return TensorType(DType.parse(dtype), tuple(as_dim(d) for d in shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def numel(self) -> Dim:
        total: Dim = 1
        for d in self.shape:
            total = mul(total, d)
        return total

    @property
    def nbytes(self) -> Dim:
        return mul(self.numel, self.dtype.itemsize)

    def symbols(self) -> set[str]:
        return symbols_of(self.shape)

    def substitute(self, bindings: Mapping[str, Dim]) -> TensorType:
        return TensorType(self.dtype, tuple(substitute(d, bindings) for d in self.shape))

    def with_shape(self, shape: Iterable[Dim]) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


def type_of_array(array: np.ndarray) -> TensorType:
    """The TensorType of a concrete array (raises DTypeError for unsupported dtypes)."""
    return TensorType(DType.parse(array.dtype), tuple(int(d) for d in array.shape))


def shape_str(shape: Iterable[Dim]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


__all__ = ["DType", "SymExpr", "TensorType", "shape_str", "type_of_array"]
