"""The symbolic ``Tensor`` of the DSL: a handle on an IR value with PyTorch-like methods.

A ``Tensor`` only exists while a model is traced; every operation on it
records a node. Its ``shape`` holds Dims (ints or symbolic, e.g. ``N``), so
shape arithmetic such as ``x.reshape(x.shape[0], -1)`` stays symbolic.
"""

from __future__ import annotations

from typing import Any

from nanograph.ir.dims import Dim
from nanograph.ir.errors import TraceError
from nanograph.ir.graph import Value
from nanograph.ir.types import DType


class Tensor:
    """A symbolic tensor being traced (wraps one ``ir.Value``)."""

    __slots__ = ("value",)
    __array_priority__ = 1000  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, value: Value) -> None:
        self.value = value

    # type -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[Dim, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    @property
    def ndim(self) -> int:
        return self.value.type.rank

    @property
    def numel(self) -> Dim:
        return self.value.type.numel

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __repr__(self) -> str:
        return f"Tensor(%{self.value.name}: {self.value.type})"

    def __bool__(self) -> bool:
        from nanograph.frontend.tracer import TraceError, user_location

        raise TraceError(
            f"{self!r} has no truth value while tracing: its value is only known when the "
            "graph runs (an `if`, `while`, `and`/`or` or `assert` on a tensor)",
            loc=user_location(),
            hint="data-dependent Python control flow cannot be traced; select with "
            "F.where(condition, a, b), or branch on shapes (x.shape), which are known",
        )

    def _no_value(self, asked: str) -> TraceError:
        """The error for asking a traced tensor for a concrete Python value (``asked``)."""
        from nanograph.frontend.tracer import user_location

        return TraceError(
            f"{asked} on {self!r}: a traced tensor holds no numbers; its values are only "
            "known when the compiled graph runs",
            loc=user_location(),
            hint="keep computing with tensor ops (x.sum(), F.where, ...) and return the "
            "tensor; use x.shape for sizes; to get numbers, run the traced graph: "
            "ng.compile(graph)(x=array)",
        )

    def __float__(self) -> float:
        raise self._no_value("float()")

    def __int__(self) -> int:
        raise self._no_value("int()")

    def __index__(self) -> int:
        raise self._no_value("using it as a Python int (an index, range(), ...)")

    def __complex__(self) -> complex:
        raise self._no_value("complex()")

    def item(self) -> Any:
        raise self._no_value(".item()")

    def tolist(self) -> Any:
        raise self._no_value(".tolist()")

    def numpy(self) -> Any:
        raise self._no_value(".numpy()")

    def __len__(self) -> int:
        """Refused, even for a static first dim: a Python length would make NumPy treat a
        tensor as a sequence and split ``np.exp(x)`` into one node per element."""
        from nanograph.frontend.tracer import user_location

        first = f"its first dim is {self.shape[0]}" if self.ndim else "it is a scalar"
        raise TraceError(
            f"len() of {self!r}: {first}; traced tensors have no Python length",
            loc=user_location(),
            hint="use x.shape[0] (an int, or a symbolic dim that works in reshape, "
            "arange and slicing)",
        )

    # arithmetic -------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return F.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return F.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return F.mul_(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul_(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return F.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return F.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return F.emit("neg", self)

    def __invert__(self) -> Tensor:
        return F.logical_not(self)

    def __and__(self, other: Any) -> Tensor:
        return F.emit("and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return F.emit("or", self, other)

    def __lt__(self, other: Any) -> Tensor:
        return F.emit("less", self, other)

    def __le__(self, other: Any) -> Tensor:
        return F.emit("less_equal", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return F.emit("greater", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return F.emit("greater_equal", self, other)

    def eq(self, other: Any) -> Tensor:
        return F.emit("equal", self, other)

    def ne(self, other: Any) -> Tensor:
        return F.logical_not(self.eq(other))

    # `==` records a node, as in PyTorch (else `ids == pad` would silently be False);
    # hashing stays by identity so tensors can still be dict keys.
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return NotImplemented if other is None else self.eq(other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return NotImplemented if other is None else self.ne(other)

    __hash__ = object.__hash__

    def __iter__(self) -> Any:
        """Rows along axis 0 (a static dim), as in PyTorch: ``a, b = x`` unpacks."""
        n = self.shape[0] if self.ndim else None
        if not isinstance(n, int):
            from nanograph.frontend.tracer import TraceError, user_location

            what = "a scalar" if n is None else f"its symbolic first dim {n}"
            raise TraceError(
                f"cannot iterate over {self!r}: {what} has no fixed length",
                loc=user_location(),
                hint="index or split explicitly (x[i], F.split) over static dims",
            )
        return (self[i] for i in range(n))

    # methods ----------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, *shape)

    view = reshape

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return F.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return F.permute(self, *dims)

    @property
    def mT(self) -> Tensor:
        return F.transpose(self, -2, -1)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return F.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return F.unsqueeze(self, dim)

    def squeeze(self, dim: int | tuple[int, ...] | None = None) -> Tensor:
        return F.squeeze(self, dim)

    def expand(self, *shape: Any) -> Tensor:
        return F.expand(self, *shape)

    def softmax(self, dim: int = -1) -> Tensor:
        return F.softmax(self, dim)

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.mean(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.amax(self, dim, keepdim)

    def argmax(self, dim: int = -1, keepdim: bool = False) -> Tensor:
        return F.argmax(self, dim, keepdim)

    def to(self, dtype: object) -> Tensor:
        return F.cast(self, dtype)

    def float(self) -> Tensor:
        return F.cast(self, DType.f32)

    def relu(self) -> Tensor:
        return F.relu(self)

    def sqrt(self) -> Tensor:
        return F.sqrt(self)

    def exp(self) -> Tensor:
        return F.exp(self)

    def abs(self) -> Tensor:
        return F.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        from nanograph.frontend.indexing import getitem

        return getitem(self, index)


from nanograph.frontend import functional as F  # noqa: E402  (circular: F returns Tensors)
