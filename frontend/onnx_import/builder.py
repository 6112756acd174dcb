"""The importer's ``Emitter``: emits IR ops, folding every op whose inputs are known.

``Builder.op(name, *inputs, **attrs)`` is how converters write IR. Contracts:

- attributes are validated and output types inferred by the op registry;
  errors carry the current ONNX node's name as ``loc``;
- ``shape`` never becomes a node: it gives the input's dims as a ``Known``
  (``Shape(x)`` is ``[N, 3, H, W]``);
- when every input is a static ``Known``, the op's registry reference runs
  now and the result is a static ``Known`` (constant folding), unless that
  would create a large new constant (an expand of a scalar, say);
- when the inputs are known but some are symbolic, ``symbolic.evaluate_symbolic``
  folds it over the Dim algebra where it can;
- otherwise the op is appended to the graph (its inputs materialized: static
  values become named constants, symbolic ones a small ``shape``-based
  computation) and its outputs are graph values.

``start_node(loc, base)`` is called by the driver before each ONNX node:
intermediate values are named ``<base>.<op>`` and ``created`` lists what the
node made, so the driver can give its outputs their ONNX names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nanograph.frontend.onnx_import.operands import Known, Operand
from nanograph.frontend.onnx_import.symbolic import evaluate_symbolic
from nanograph.ir.attrs import Attrs
from nanograph.ir.dims import Dim, FloorDiv, SymExpr
from nanograph.ir.errors import ExecutionError, InternalError, NanographError, UnsupportedOpError
from nanograph.ir.graph import Graph, Value, infer_node_types
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType, TensorType

FOLD_LIMIT = 1 << 16  # folding may not create a constant larger than this and its inputs


class Builder:
    """Emits IR for the ONNX nodes being imported (see module docstring)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.loc = ""
        self.base = "v"
        self.created: list[Value | Known] = []
        self.symbol_sources: dict[str, tuple[Value, int]] = {}
        self._shapes: dict[int, Value] = {}  # graph input id -> its shape value
        self._dim_values: dict[int | str, Value] = {}  # i64[1] values of ints and symbols

    def start_node(self, loc: str, base: str) -> None:
        self.loc, self.base, self.created = loc, base, []

    # Emitter protocol ----------------------------------------------------------------
    def op(self, name: str, *inputs: Operand, **attrs: Any) -> Operand:
        return self.op_multi(name, *inputs, **attrs)[0]

    def op_multi(self, name: str, *inputs: Operand, **attrs: Any) -> list[Operand]:
        opdef = get_op(name)
        detached = [x if isinstance(x, Value) else Value(x.name, x.type) for x in inputs]
        try:
            norm = opdef.make_attrs(attrs)
        except NanographError as err:
            raise type(err)(err.message, loc=self.loc, hint=err.hint) from None
        types = infer_node_types(name, detached, norm, self.loc)
        if name == "shape":
            return [self._known(np.array(inputs[0].type.shape, dtype=object), DType.i64, name)]
        if all(isinstance(x, Known) for x in inputs) and all(t.is_static for t in types):
            folded = self._fold(name, [x for x in inputs if isinstance(x, Known)], norm, types)
            if folded is not None:
                return list(folded)
        values = [self.value(x) for x in inputs]
        return list(self._emit(name, values, norm, types))

    def const(self, array: np.ndarray) -> Known:
        array = np.asarray(array)
        return self._known(array, DType.parse(array.dtype), "const")

    def const_dims(self, dims: Sequence[Dim], shape: tuple[int, ...] = (-1,)) -> Known:
        """An i64 known value holding ``dims`` (symbolic where they are), reshaped."""
        array = np.empty(len(dims), dtype=object)
        array[:] = list(dims)
        return self._known(array.reshape(shape), DType.i64, "const")

    def shape_of(self, value: Operand) -> tuple[Dim, ...]:
        return value.type.shape

    def dtype_of(self, value: Operand) -> DType:
        return value.type.dtype

    # known values ----------------------------------------------------------------------
    def known(self, x: Operand, what: str) -> Known:
        """``x`` as a known value; a value computed from tensor data is refused."""
        if isinstance(x, Known):
            return x
        raise UnsupportedOpError(
            f"{what} is computed from tensor data at runtime (%{x.name}: {x.type}); "
            "nanograph needs it known at import (constant, or computed from input shapes only)",
            loc=self.loc,
            hint="export with this value constant, or computed only from tensor shapes",
        )

    def static(self, x: Operand, what: str) -> np.ndarray:
        """The array of a static ``x``; symbolic or runtime values are refused."""
        known = self.known(x, what)
        if not known.is_static:
            shown = ", ".join(str(d) for d in known.dims())
            raise UnsupportedOpError(
                f"{what} must be a constant, but it depends on the input dims ([{shown}])",
                loc=self.loc,
                hint="bind those dims (export with static shapes) or use a constant",
            )
        return known.array

    def dims(self, x: Operand, what: str) -> tuple[Dim, ...]:
        """The elements of a known integer ``x`` as Dims (ints or symbolic)."""
        known = self.known(x, what)
        if not known.dtype.is_int:
            raise UnsupportedOpError(
                f"{what} must be an integer tensor, got {known.type}", loc=self.loc
            )
        return known.dims()

    def ints(self, x: Operand, what: str) -> tuple[int, ...]:
        return tuple(int(v) for v in self.static(x, what).reshape(-1))

    # folding ---------------------------------------------------------------------------
    def _known(self, array: np.ndarray, dtype: DType, op: str) -> Known:
        known = Known(array, dtype, f"{self.base}.{op}")
        self.created.append(known)
        return known

    def _fold(
        self, name: str, inputs: list[Known], attrs: Attrs, types: list[TensorType]
    ) -> list[Known] | None:
        arrays = [x.array for x in inputs]
        results: list[np.ndarray] | None
        if all(x.is_static for x in inputs):
            made = sum(t.numel for t in types if isinstance(t.numel, int))
            if made > max(FOLD_LIMIT, sum(a.size for a in arrays)):
                return None
            results = self._reference(name, arrays, attrs)
        else:
            results = evaluate_symbolic(name, arrays, [x.dtype for x in inputs], attrs, types)
        if results is None:
            return None
        known = [self._known(a, t.dtype, name) for a, t in zip(results, types, strict=True)]
        if inputs:  # a folded weight is named after its source (@w.transpose)
            for k in known:
                k.name = f"{inputs[0].name}.{name}"
        return known

    def _reference(self, name: str, arrays: list[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        try:
            with np.errstate(all="ignore"):
                return get_op(name).reference(arrays, attrs)
        except NanographError as err:
            raise type(err)(err.message, loc=self.loc, hint=err.hint) from None
        except Exception as err:
            raise ExecutionError(
                f"folding {name} on constant inputs failed: {type(err).__name__}: {err}",
                loc=self.loc,
            ) from err

    # emitting --------------------------------------------------------------------------
    def _emit(
        self,
        name: str,
        values: Sequence[Value],
        attrs: Attrs | dict[str, Any],
        types: Sequence[TensorType] | None = None,
        label: str | None = None,
    ) -> tuple[Value, ...]:
        node = self.graph.create_node(
            name, values, attrs, loc=self.loc, names=[label or f"{self.base}.{name}"], types=types
        )
        self.graph.append(node)
        self.created.extend(node.outputs)
        return node.outputs

    def value(self, x: Operand) -> Value:
        """``x`` as a graph value: static values become named constants, symbolic ones
        a computation from the inputs' shapes (cached in ``x``)."""
        if isinstance(x, Value):
            return x
        if x.value is None:
            if x.is_static:
                x.value = self.graph.add_constant(self.graph.unique_name(x.name), x.array)
            else:
                x.value = self._materialize(x)
        return x.value

    def _materialize(self, x: Known) -> Value:
        pieces = [self._dim_tensor(d) for d in x.dims()]
        flat = pieces[0] if len(pieces) == 1 else self._emit("concat", pieces, {"axis": 0})[0]
        out = self._emit("reshape", [flat], {"shape": x.array.shape}, label=x.name)[0]
        if x.dtype != DType.i64:
            out = self._emit("cast", [out], {"to": x.dtype}, label=x.name)[0]
        return out

    def _int_const(self, value: int) -> Value:
        if value not in self._dim_values:
            known = self._known(np.array([value], dtype=np.int64), DType.i64, "dim")
            self._dim_values[value] = self.value(known)
        return self._dim_values[value]

    def _dim_tensor(self, d: Dim) -> Value:
        """An i64[1] value computing dim ``d`` from the graph inputs' shapes."""
        if isinstance(d, int):
            return self._int_const(d)
        total: Value | None = None
        for mono, coeff in d.terms:
            term: Value | None = None if mono and coeff == 1 else self._int_const(coeff)
            for atom in mono:
                factor = self._atom_tensor(atom)
                term = factor if term is None else self._emit("mul", [term, factor], {})[0]
            assert term is not None
            total = term if total is None else self._emit("add", [total, term], {})[0]
        assert total is not None
        return total

    def _atom_tensor(self, atom: str | FloorDiv) -> Value:
        if isinstance(atom, FloorDiv):
            num = self._dim_tensor(atom.num)
            return self._emit("div", [num, self._int_const(atom.den)], {})[0]
        if atom not in self.symbol_sources:
            raise InternalError(f"dimension symbol {atom} has no input axis to read it from")
        if atom not in self._dim_values:
            source, axis = self.symbol_sources[atom]
            if id(source) not in self._shapes:
                self._shapes[id(source)] = self._emit("shape", [source], {})[0]
            shape = self._shapes[id(source)]
            attrs = {"starts": (axis,), "ends": (axis + 1,)}
            self._dim_values[atom] = self._emit("slice", [shape], attrs, label=f"dim.{atom}")[0]
        return self._dim_values[atom]

    def add_symbol_sources(self, value: Value) -> None:
        """Remember which axis of graph input ``value`` each bare symbol can be read from."""
        for axis, d in enumerate(value.type.shape):
            if isinstance(d, SymExpr) and len(d.terms) == 1:
                ((mono, coeff),) = d.terms
                if coeff == 1 and len(mono) == 1 and isinstance(mono[0], str):
                    self.symbol_sources.setdefault(mono[0], (value, axis))


__all__ = ["FOLD_LIMIT", "Builder"]
