"""Common-subexpression elimination: one node per distinct computation.

Two nodes with the same op, the same input values (by identity) and equal
attributes compute the same outputs, because every op is a pure function of
its inputs and attributes; the later one is replaced by the earlier one,
which comes first in topological order and so is defined wherever the later
one was used. Nodes are keyed by ``(op, inputs, attrs)`` in one walk in
topological order, so merges cascade (two equal ``matmul``s of two merged
``transpose``s merge too) and the pass is linear in the graph's size.

One-element constants are merged first, when they have the same type and
bitwise equal data (``-0.0`` and ``0.0`` stay apart, equal NaNs merge): the
scalars frontends make one per use (``@scalar``, ``@scalar_1``, ...). The
first one (in the graph's constant order) is kept. Larger constants, weights
included, are left alone (``MERGE_MAX_ELEMENTS``): equal weights are a
coincidence of initialization (a fresh BatchNorm's ones and zeros), and
merging them would make one parameter stand for another in the printed graph.

Graph outputs keep their names: when the later node's output is a graph
output, the kept value takes its name; two graph outputs are never merged
into one value (a near miss says so).
"""

from __future__ import annotations

from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.types import TensorType
from nanograph.passes.manager import Pass
from nanograph.passes.records import NearMiss, PassResult, Rewrite

MERGE_MAX_ELEMENTS = 1
NODE_RULE = "cse"
CONSTANT_RULE = "cse-constant"


def _merge_constants(graph: Graph, result: PassResult) -> None:
    outputs = {id(v) for v in graph.outputs}
    first: dict[tuple[TensorType, bytes], Value] = {}
    for name, value in list(graph.constants.items()):
        data = value.const
        if data is None or data.size > MERGE_MAX_ELEMENTS or id(value) in outputs:
            continue
        kept = first.setdefault((value.type, data.tobytes()), value)
        if kept is value:
            continue
        graph.replace_all_uses(value, kept)
        graph.remove_constant(name)
        result.record(
            Rewrite(CONSTANT_RULE, name, (f"constant @{name}",), (), (f"constant @{kept.name}",))
        )


def _merge_node(graph: Graph, later: Node, kept: Node) -> str | None:
    """Replace ``later``'s outputs by ``kept``'s and remove ``later``; or why not."""
    outputs = {id(v) for v in graph.outputs}
    pairs = list(zip(later.outputs, kept.outputs, strict=True))
    for old, new in pairs:
        if id(old) in outputs and id(new) in outputs:
            return f"graph outputs %{new.name} and %{old.name} would become one value"
        if old.type != new.type:  # equal ops, inputs and attrs infer equal types
            return f"%{old.name}: {old.type} and %{new.name}: {new.type} differ in type"
    renames = [(new, old.name) for old, new in pairs if id(old) in outputs]
    for old, new in pairs:
        graph.replace_all_uses(old, new)
    graph.remove(later)
    for value, name in renames:
        graph.rename(value, name)
    return None


def eliminate_common_subexpressions(graph: Graph) -> PassResult:
    """Merge equal scalar constants, then nodes with the same op, inputs and attributes."""
    result = PassResult()
    _merge_constants(graph, result)
    seen: dict[tuple[str, tuple[Value, ...], object], Node] = {}
    for node in list(graph.nodes):
        kept = seen.setdefault((node.op, node.inputs, node.attrs), node)
        if kept is node:
            continue
        record = Rewrite.of(NODE_RULE, [node]).with_produced([kept])  # names before merging
        why = _merge_node(graph, node, kept)
        if why is None:
            result.record(record)
        else:
            out = node.outputs[0]
            result.near_misses.append(NearMiss(NODE_RULE, out.name, node.op, node.loc, 1, 1, why))
    return result


CSE = Pass("cse", eliminate_common_subexpressions)

__all__ = ["CSE", "MERGE_MAX_ELEMENTS", "eliminate_common_subexpressions"]
