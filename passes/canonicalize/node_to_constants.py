"""Replacing a node by constants: what ``fold-constants`` and ``fold-shapes`` share.

``replace_by_constants(graph, node, arrays)`` makes one constant per output
of ``node``, holding that output's value, and removes ``node``. Contracts:

- each constant takes the name of the output it replaces, so the printed
  graph reads the same before and after (``%fc1.transpose`` becomes
  ``@fc1.transpose``) and ``inspect`` can follow a value across passes;
- each array must have exactly its output's static shape; a dtype that
  differs (NumPy widening an ``i32`` sum to ``i64``, say) is cast to the
  output's dtype, so the graph's types never change; a shape that differs is
  a bug in the op's reference (``InternalError`` naming the op and its loc);
- ``node``'s outputs may not be graph outputs (graph outputs stay node
  outputs, so they keep their names in every backend): callers check
  ``is_graph_output`` first; breaking this is an ``InternalError``.

``folded(rule, node, constants)`` and ``refused(rule, node, reason)`` make the
records a folding pass reports: a ``Rewrite`` ``node -> constant @name``, and
a ``NearMiss`` saying why a node that looked foldable was kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.records import NearMiss, Rewrite


def is_output(graph: Graph, value: Value) -> bool:
    """Whether ``value`` is an output of ``graph``."""
    return any(value is out for out in graph.outputs)


def is_graph_output(graph: Graph, node: Node) -> bool:
    """Whether any output of ``node`` is an output of ``graph``."""
    return any(is_output(graph, v) for v in node.outputs)


def _as_output_array(node: Node, out: Value, array: np.ndarray) -> np.ndarray:
    shape = tuple(d for d in out.type.shape if isinstance(d, int))
    if len(shape) != out.type.rank or array.shape != shape:
        raise InternalError(
            f"folding {node.op} gave an array of shape {list(array.shape)} for "
            f"%{out.name}: {out.type}",
            loc=node.loc,
            hint="this is a bug in the op's reference or inference",
        )
    return array.astype(out.type.dtype.numpy, copy=False)


def replace_by_constants(graph: Graph, node: Node, arrays: Sequence[np.ndarray]) -> list[Value]:
    """Replace each output of ``node`` by a constant holding its array; remove ``node``."""
    if is_graph_output(graph, node):
        raise InternalError(
            f"cannot replace {node.op} %{node.outputs[0].name} by a constant: it is a graph output",
            loc=node.loc,
        )
    made: list[tuple[Value, str]] = []
    for out, array in zip(node.outputs, arrays, strict=True):
        data = _as_output_array(node, out, np.asarray(array))
        # The output's name is still taken until the node goes, so use a temporary one.
        temp = graph.add_constant(graph.unique_name(f"{out.name}.folded"), data)
        graph.replace_all_uses(out, temp)
        made.append((temp, out.name))
    graph.remove(node)
    for value, name in made:
        graph.rename(value, name)
    return [value for value, _ in made]


def folded(rule: str, node: Node, constants: Sequence[Value]) -> Rewrite:
    """The record of ``node`` (described before it was removed) replaced by ``constants``."""
    record = Rewrite.of(rule, [node])
    return Rewrite(
        rule=record.rule,
        anchor=record.anchor,
        matched=record.matched,
        locations=record.locations,
        produced=tuple(f"constant @{c.name}" for c in constants),
    )


def refused(rule: str, node: Node, reason: str) -> NearMiss:
    """A near miss: ``node`` could have been folded, but ``reason``."""
    return NearMiss(rule, node.outputs[0].name, node.op, node.loc, 1, 1, reason)


__all__ = ["folded", "is_graph_output", "is_output", "refused", "replace_by_constants"]
