"""Dead-code elimination: remove nodes nothing needs, and constants nothing uses.

A node is dead when none of its outputs is used by a live node or is a graph
output; every op in nanograph is pure, so removing one never changes a
result. One backward walk finds them all (a node's users come after it), so
the pass is linear in the graph's size.
"""

from __future__ import annotations

from nanograph.ir.graph import Graph
from nanograph.passes.manager import Pass
from nanograph.passes.records import PassResult


def eliminate_dead_code(graph: Graph) -> PassResult:
    """Remove dead nodes (counted as ``dead nodes``) and unused constants (``dead constants``)."""
    result = PassResult()
    outputs = {id(v) for v in graph.outputs}
    for node in reversed(graph.nodes):
        if not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.remove(node)
            result.count("dead nodes")
    for name, value in list(graph.constants.items()):
        if not value.uses and id(value) not in outputs:
            graph.remove_constant(name)
            result.count("dead constants")
    return result


DEAD_CODE = Pass("dce", eliminate_dead_code)

__all__ = ["DEAD_CODE", "eliminate_dead_code"]
