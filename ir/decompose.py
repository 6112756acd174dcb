"""Decompositions into IR: the ``Emitter`` that writes core-op nodes into a graph.

``GraphEmitter(graph, anchor)`` implements the ``Emitter`` protocol of
``nanograph.ir.ops.registry`` by creating IR nodes and inserting each one
before ``anchor``, so a decomposition written once (a fused op's ``decompose``)
can replace that node in place. ``expand_fused(graph, node)`` does exactly
that for a fused node.

Contracts:
- New nodes carry the anchor's ``loc`` (the user's source line survives every
  lowering) and output names based on ``prefix`` (made unique in the graph).
- New constants are graph constants named ``{prefix}.const`` (made unique).
- ``expand_fused`` keeps the fused node's output names and types: its users
  and the graph's outputs see the same values, now computed by core ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nanograph.ir.dims import Dim
from nanograph.ir.errors import VerificationError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.ir.types import DType


class GraphEmitter:
    """An ``Emitter`` over IR ``Value``s: each op becomes a node inserted before ``anchor``."""

    def __init__(self, graph: Graph, anchor: Node, prefix: str | None = None) -> None:
        if anchor.graph is not graph:
            raise VerificationError(f"anchor {anchor!r} is not in graph {graph.name}")
        self.graph = graph
        self.anchor = anchor
        self.prefix = prefix if prefix is not None else anchor.outputs[0].name
        self.created: list[Node] = []

    def op(self, name: str, *inputs: Value, **attrs: Any) -> Value:
        return self.op_multi(name, *inputs, **attrs)[0]

    def op_multi(self, name: str, *inputs: Value, **attrs: Any) -> list[Value]:
        node = self.graph.create_node(
            name, list(inputs), attrs, loc=self.anchor.loc, names=[f"{self.prefix}.{name}"]
        )
        self.graph.insert_before(self.anchor, node)
        self.created.append(node)
        return list(node.outputs)

    def const(self, array: np.ndarray) -> Value:
        name = self.graph.unique_name(f"{self.prefix}.const")
        return self.graph.add_constant(name, np.asarray(array))

    def shape_of(self, value: Value) -> tuple[Dim, ...]:
        return value.type.shape

    def dtype_of(self, value: Value) -> DType:
        return value.type.dtype


def replace_node(graph: Graph, node: Node, results: list[Value]) -> None:
    """Make ``results`` stand for ``node``'s outputs (same types), remove ``node`` and give
    each result the name of the output it replaces."""
    if len(results) != len(node.outputs):
        raise VerificationError(
            f"{node.op} has {len(node.outputs)} outputs but {len(results)} replacements",
            loc=node.loc,
        )
    names = [v.name for v in node.outputs]
    for old, new in zip(node.outputs, results, strict=True):
        graph.replace_all_uses(old, new)
    graph.remove(node)
    for new, name in zip(results, names, strict=True):
        graph.rename(new, name)


def expand_fused(graph: Graph, node: Node) -> list[Node]:
    """Replace the fused ``node`` by its decomposition into core ops; return the new nodes.

    The outputs keep their names and types (``replace_all_uses`` checks the
    types match); the new nodes sit where ``node`` was, with its ``loc``.
    Raises ``VerificationError`` if ``node``'s op is not fused.
    """
    opdef = get_op(node.op)
    if opdef.decompose is None:
        raise VerificationError(f"{node.op} is not a fused op: it has no decomposition")
    emitter = GraphEmitter(graph, node)
    results = list(opdef.decompose(emitter, list(node.inputs), node.attrs))
    # A result that is not new (an input passed through) must not be renamed: copy it.
    made = {id(n) for n in emitter.created}
    results = [r if id(r.producer) in made else emitter.op("identity", r) for r in results]
    replace_node(graph, node, results)
    return emitter.created


__all__ = ["GraphEmitter", "expand_fused", "replace_node"]
