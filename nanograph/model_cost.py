"""Model size and work: parameter counts and FLOPs, as the CLI's ``zoo`` table shows them.

FLOPs are the sum over nodes of the registry's ``cost(...).flops`` (each op
defines its cost once), counted on the graph specialized to concrete dims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nanograph.ir.dims import Dim, add, substitute
from nanograph.ir.errors import ShapeError
from nanograph.ir.graph import Graph
from nanograph.ir.ops import get_op
from nanograph.ir.specialize import specialize


def symbolic_flops(graph: Graph) -> Dim:
    """Total FLOPs of ``graph``, symbolic where its shapes are."""
    total: Dim = 0
    for node in graph.nodes:
        ins = [v.type for v in node.inputs]
        outs = [v.type for v in node.outputs]
        total = add(total, get_op(node.op).cost(ins, outs, node.attrs).flops)
    return total


def graph_flops(graph: Graph, dims: Mapping[str, int]) -> int:
    """Total FLOPs of ``graph`` specialized to ``dims`` (every symbol must be bound).

    The caller's graph is not changed (``specialize`` returns a new one).
    """
    total = substitute(symbolic_flops(specialize(graph, dims)), dims)
    if not isinstance(total, int):
        raise ShapeError(
            f"FLOPs of graph {graph.name} stay symbolic ({total})",
            hint=f"bind {', '.join(sorted(total.symbols()))} too",
        )
    return total


def parameter_count(module: Any) -> int:
    """``module.num_parameters()``, or the element count of its ``state_dict()``."""
    if hasattr(module, "num_parameters"):
        return int(module.num_parameters())
    return sum(int(getattr(a, "size", 0)) for a in module.state_dict().values())


def human(n: float, unit: str = "") -> str:
    """``1234567`` -> ``1.23M`` (k, M, G, T); small numbers stay exact."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{prefix}{unit}"
    return f"{n:g}{unit}" if isinstance(n, float) else f"{n}{unit}"


__all__ = ["graph_flops", "human", "parameter_count", "symbolic_flops"]
