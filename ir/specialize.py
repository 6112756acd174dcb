"""Bind dimension symbols to sizes and fold the shape computation they make static.

``specialize(graph, {"N": 1, "S": 128})`` returns a new graph (the input is not
changed) in which:

- every bound symbol is substituted in every value's type and in every
  attribute whose op spec has kind ``dim`` or ``dims``;
- ``shape`` nodes whose inputs are fully static, and ``range`` nodes whose
  attributes are fully static, are replaced by constants of the same name
  (computed by the op's own reference, so no op meaning is repeated here);
- nodes left without uses (and not graph outputs) are removed.

Unbound symbols stay symbolic. Unknown symbols, and sizes that are not
positive ints, raise ``InputError`` naming the graph's symbols; a binding that
makes some value's dim negative raises ``InputError`` naming that value.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from nanograph.ir.dims import Dim, SymExpr, substitute, symbols_of
from nanograph.ir.errors import InputError, NanographError, VerificationError
from nanograph.ir.graph import Graph, Node, infer_node_types
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType, shape_str, type_of_array

_DIM_KINDS = ("dim", "dims")


def _dim_attrs(node: Node) -> dict[str, Any]:
    """The node's attributes of kind dim/dims (by the op's specs)."""
    specs = get_op(node.op).attrs
    return {k: v for k, v in node.attrs.items() if k in specs and specs[k].kind in _DIM_KINDS}


def graph_symbols(graph: Graph) -> list[str]:
    """Sorted names of every symbol in the graph's value types and dim attributes."""
    found: set[str] = set()
    for v in graph.values():
        found |= v.type.symbols()
    for node in graph.nodes:
        for value in _dim_attrs(node).values():
            found |= symbols_of(value if isinstance(value, tuple) else (value,))
    return sorted(found)


def _check_bindings(graph: Graph, dims: Mapping[str, int]) -> dict[str, int]:
    symbols = graph_symbols(graph)
    known = ", ".join(symbols) if symbols else "none (the graph is fully static)"
    bindings: dict[str, int] = {}
    for name, size in dims.items():
        if name not in symbols:
            raise InputError(
                f"graph {graph.name} has no dimension symbol {name!r}",
                hint=f"its symbols are: {known}",
            )
        try:
            if isinstance(size, bool):
                raise TypeError
            value = operator.index(size)
        except TypeError:
            raise InputError(
                f"size of {name} must be an int, got {size!r}", hint=f"symbols: {known}"
            ) from None
        if value <= 0:
            raise InputError(
                f"size of {name} in graph {graph.name} must be positive, got {value}",
                hint=f"bind {name} to an int >= 1 (the graph's symbols: {known})",
            )
        bindings[name] = value
    return bindings


def _substitute_all(graph: Graph, bindings: Mapping[str, Dim]) -> None:
    # The graph is a private copy until returned, so types and attrs are reassigned
    # in place; use-lists and order are untouched.
    for v in graph.values():
        shape = tuple(substitute(d, bindings) for d in v.type.shape)
        if any(isinstance(d, int) and d < 0 for d in shape):  # TensorType refuses it
            loc = v.producer.loc if v.producer is not None else ""
            raise InputError(
                f"with {_show(bindings)}, %{v.name} would have the negative shape "
                f"{v.type.dtype}{shape_str(shape)}",
                loc=loc,
                hint="choose larger sizes",
            )
        v.type = v.type.with_shape(shape)
    for node in graph.nodes:
        changes = {
            k: tuple(substitute(d, bindings) for d in v)
            if isinstance(v, tuple)
            else substitute(v, bindings)
            for k, v in _dim_attrs(node).items()
        }
        if changes:
            node.attrs = node.attrs.replace(**changes)


def _show(bindings: Mapping[str, Dim]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(bindings.items()))


def _is_static(value: object) -> bool:
    items = value if isinstance(value, tuple) else (value,)
    return not any(isinstance(d, SymExpr) for d in items)


def _foldable(node: Node) -> bool:
    """Shape computation that is now static: ``shape`` of a static input, static ``range``."""
    if not all(v.type.is_static for v in node.outputs):
        return False
    if node.op == "shape":
        return all(v.type.is_static for v in node.inputs)
    if node.op == "range":
        return not node.inputs and all(_is_static(v) for v in _dim_attrs(node).values())
    return False


def _static_shape(t: TensorType) -> tuple[int, ...]:
    return tuple(d for d in t.shape if isinstance(d, int))


def _fold(graph: Graph, node: Node) -> None:
    """Replace ``node``'s single output by a constant of the same name and type."""
    # A view of a zero-size buffer has the right shape and dtype and costs no memory;
    # shape-like ops read only the shape.
    args = [
        np.broadcast_to(np.zeros((), v.type.dtype.numpy), _static_shape(v.type))
        for v in node.inputs
    ]
    array = np.asarray(get_op(node.op).reference(args, node.attrs)[0])
    out = node.output
    if type_of_array(array) != out.type:
        raise VerificationError(
            f"folding {node.op} gave {type_of_array(array)} but %{out.name} is {out.type}",
            loc=node.loc,
        )
    temp = graph.add_constant(graph.unique_name(f"{out.name}.folded"), array)
    graph.replace_all_uses(out, temp)
    graph.remove(node)
    final = graph.add_constant(out.name, array)
    graph.replace_all_uses(temp, final)
    graph.remove_constant(temp.name)


def _remove_dead_nodes(graph: Graph) -> int:
    """Remove nodes none of whose outputs is used or a graph output; return how many."""
    outputs = {id(v) for v in graph.outputs}
    removed = 0
    for node in reversed(graph.nodes):
        if not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.remove(node)
            removed += 1
    return removed


def _check_assumptions(graph: Graph, bindings: Mapping[str, Dim]) -> None:
    """Re-infer every node on the bound types; a difference means the sizes break an
    assumption made while tracing (a symbolic slice ``[:S]`` of a 512-row table
    assumes ``S <= 512``), which is the caller's input, not an internal error."""
    for node in graph.nodes:
        declared = [v.type for v in node.outputs]
        try:
            inferred = infer_node_types(node.op, node.inputs, node.attrs, node.loc)
        except NanographError as err:
            raise InputError(
                f"with {_show(bindings)}, {err.message}", loc=node.loc, hint=err.hint
            ) from None
        if inferred != declared:
            got = ", ".join(str(t) for t in inferred)
            want = ", ".join(str(t) for t in declared)
            raise InputError(
                f"with {_show(bindings)}, {node.op} %{node.outputs[0].name} gives {got} "
                f"but the traced graph assumes {want}",
                loc=node.loc,
                hint="these sizes are outside what the model supports "
                "(e.g. a sequence longer than a position table); use smaller sizes",
            )


def specialize(graph: Graph, dims: Mapping[str, int]) -> Graph:
    """A copy of ``graph`` with ``dims`` bound and static shape computation folded.

    Raises ``InputError`` (naming the node's source line) where the bound sizes
    contradict an assumption the traced graph made.
    """
    bindings = _check_bindings(graph, dims)
    out = graph.copy()
    _substitute_all(out, bindings)
    _check_assumptions(out, bindings)
    for node in list(out.nodes):
        if _foldable(node):
            _fold(out, node)
    _remove_dead_nodes(out)
    return out
