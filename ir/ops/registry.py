"""The op registry: every op is defined exactly once, here or in a family file.

An ``OpDef`` is the whole meaning of an op:

- ``inputs``: input names; a trailing ``?`` marks an optional input (only
  trailing inputs may be optional), a leading ``*`` a variadic one (the only
  input then);
- ``attrs``: typed attributes with defaults (``AttrSpec``);
- ``infer(types, attrs) -> [TensorType]``: shape/dtype inference, symbolic
  dims included; raises ``ShapeError``/``DTypeError`` with what is wrong (the
  caller adds where);
- ``reference(arrays, attrs) -> [ndarray]``: the NumPy reference semantics,
  written for clarity, not speed; the oracle for every backend;
- ``cost(in_types, out_types, attrs) -> Cost``: FLOPs and bytes moved, as
  Dims (symbolic where the shapes are);
- ``inplace``: input indices whose buffer output 0 may overwrite when that
  input dies at this node; ``alias``: output 0 is a view of that input;
- ``decompose``: for fused ops, their meaning as core ops (see ``Emitter``);
  their ``reference`` is that decomposition run eagerly.

Family files (``elementwise.py``, ``nn.py``, ...) call ``register``; importing
``nanograph.ir.ops`` loads them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec, validate_attrs
from nanograph.ir.dims import Dim, add, mul
from nanograph.ir.errors import ShapeError, UnknownOpError
from nanograph.ir.types import DType, TensorType

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cost:
    """Work of one node: floating-point operations and bytes read plus written."""

    flops: Dim
    bytes: Dim


InferFn = Callable[[Sequence[TensorType], Attrs], list[TensorType]]
ReferenceFn = Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]]
CostFn = Callable[[Sequence[TensorType], Sequence[TensorType], Attrs], Cost]


class Emitter(Protocol[T]):
    """What a decomposition writes to: eager NumPy, or new IR nodes.

    ``op`` emits one core op and returns its single output; ``op_multi``
    returns all outputs; ``const`` makes a constant from an array;
    ``shape_of`` is a value's shape (symbolic dims where the IR has them) and
    ``dtype_of`` its element type.
    """

    def op(self, name: str, *inputs: T, **attrs: Any) -> T: ...

    def op_multi(self, name: str, *inputs: T, **attrs: Any) -> list[T]: ...

    def const(self, array: np.ndarray) -> T: ...

    def shape_of(self, value: T) -> tuple[Dim, ...]: ...

    def dtype_of(self, value: T) -> DType: ...


DecomposeFn = Callable[[Emitter[Any], Sequence[Any], Attrs], list[Any]]


def bytes_moved(ins: Sequence[TensorType], outs: Sequence[TensorType]) -> Dim:
    total: Dim = 0
    for t in (*ins, *outs):
        total = add(total, t.nbytes)
    return total


def elementwise_cost(flops_per_element: int = 1) -> CostFn:
    """Cost of an op doing ``flops_per_element`` operations per output element."""

    def cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
        return Cost(mul(outs[0].numel, flops_per_element), bytes_moved(ins, outs))

    return cost


def data_movement_cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
    """Cost of an op that only moves or views data: no FLOPs."""
    return Cost(0, bytes_moved(ins, outs))


@dataclass(frozen=True)
class OpDef:
    """The single definition of an op (see module docstring)."""

    name: str
    inputs: tuple[str, ...]
    infer: InferFn
    reference: ReferenceFn
    attrs: Mapping[str, AttrSpec] = field(default_factory=dict)
    cost: CostFn = field(default=elementwise_cost(1))
    num_outputs: int | Callable[[Attrs], int] = 1
    inplace: tuple[int, ...] = ()
    alias: int | None = None
    decompose: DecomposeFn | None = None
    family: str = ""
    doc: str = ""

    @property
    def is_fused(self) -> bool:
        return self.decompose is not None

    @property
    def variadic(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].startswith("*")

    def arity(self) -> tuple[int, int | None]:
        """(minimum, maximum) number of inputs; maximum None for variadic."""
        if self.variadic:
            return 1, None
        required = sum(1 for n in self.inputs if not n.endswith("?"))
        return required, len(self.inputs)

    def input_name(self, index: int) -> str:
        if self.variadic:
            return f"{self.inputs[0][1:]}[{index}]"
        return self.inputs[index].rstrip("?")

    def count_outputs(self, attrs: Attrs) -> int:
        n = self.num_outputs
        return n(attrs) if callable(n) else n

    def make_attrs(self, given: Mapping[str, Any]) -> Attrs:
        return validate_attrs(self.name, self.attrs, given)

    def check_arity(self, n_inputs: int) -> None:
        low, high = self.arity()
        if n_inputs < low or (high is not None and n_inputs > high):
            expected = (
                f"at least {low}"
                if high is None
                else (str(low) if low == high else f"{low} to {high}")
            )
            names = ", ".join(self.inputs)
            raise ShapeError(f"{self.name} takes {expected} inputs ({names}), got {n_inputs}")


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    """Add an op to the registry; an op name may be defined only once."""
    if opdef.name in OPS:
        raise ValueError(f"op {opdef.name!r} is defined twice")
    if opdef.decompose is not None and opdef.reference is None:
        raise ValueError(f"fused op {opdef.name!r} needs a reference")
    OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    """The definition of op ``name``; an unknown name raises with close matches."""
    try:
        return OPS[name]
    except KeyError:
        close = difflib.get_close_matches(name, OPS, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see nanograph.ir.ops.OPS"
        raise UnknownOpError(f"unknown op {name!r}", hint=hint) from None


# eager evaluation: the reference of fused ops --------------------------------------
class EagerEmitter:
    """An ``Emitter`` that evaluates each core op's reference on NumPy arrays."""

    def op(self, name: str, *inputs: np.ndarray, **attrs: Any) -> np.ndarray:
        return self.op_multi(name, *inputs, **attrs)[0]

    def op_multi(self, name: str, *inputs: np.ndarray, **attrs: Any) -> list[np.ndarray]:
        opdef = get_op(name)
        return opdef.reference(list(inputs), opdef.make_attrs(attrs))

    def const(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def shape_of(self, value: np.ndarray) -> tuple[Dim, ...]:
        return tuple(int(d) for d in value.shape)

    def dtype_of(self, value: np.ndarray) -> DType:
        return DType.parse(value.dtype)


def reference_by_decomposition(decompose: DecomposeFn) -> ReferenceFn:
    """A reference function that runs ``decompose`` eagerly on NumPy arrays."""

    def reference(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        return list(decompose(EagerEmitter(), list(inputs), attrs))

    return reference
