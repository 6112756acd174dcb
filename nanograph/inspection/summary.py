"""What a graph holds and costs: ``summarize_graph(graph, dims)`` -> ``GraphSummary``.

``nanograph inspect`` shows this for the graph before and after the passes,
so a fusion's effect reads as numbers: fewer nodes, the same FLOPs, less
activation memory.

Contracts (all sizes at the bindings ``dims``, which should bind every
symbol of the graph; a quantity that stays symbolic is kept as its
expression, a ``str``):

- ``op_counts``: nodes per op, most frequent first (ties by name);
  ``fused_ops`` names those that are fused ops (``get_op(op).is_fused``);
- ``parameters``/``parameter_bytes``: elements and bytes of the graph's
  constants (weights folded by a pass count as they are after the pass);
- ``flops``: the op registry's cost, summed over nodes (``model_cost``);
- ``activation_bytes``: bytes of every node output, as if each had its own
  buffer; ``peak_activation_bytes``: the most bytes alive at once when the
  nodes run in graph order, each value freed after its last use (graph
  inputs count until their last use, graph outputs until the end). No
  aliasing or in-place reuse is assumed, so this is the bound a memory
  planner starts from, not what it achieves.

The graph is only read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nanograph.ir.dims import Dim, substitute
from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops import get_op
from nanograph.model_cost import symbolic_flops

Size = int | str
"""A count at the bound dims, or its symbolic expression where symbols stay unbound."""


@dataclass(frozen=True)
class GraphSummary:
    """Node, parameter, FLOP and activation-memory counts of one graph (module docstring)."""

    nodes: int
    op_counts: tuple[tuple[str, int], ...]
    fused_ops: tuple[str, ...]
    constants: int
    parameters: Size
    parameter_bytes: Size
    flops: Size
    activation_bytes: Size
    peak_activation_bytes: Size

    @property
    def fused_nodes(self) -> int:
        """How many nodes are fused ops."""
        fused = set(self.fused_ops)
        return sum(n for op, n in self.op_counts if op in fused)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["op_counts"] = dict(self.op_counts)
        data["fused_ops"] = list(self.fused_ops)
        data["fused_nodes"] = self.fused_nodes
        return data


def summarize_graph(graph: Graph, dims: Mapping[str, int]) -> GraphSummary:
    """The ``GraphSummary`` of ``graph`` with its symbols bound by ``dims``."""
    counts = Counter(node.op for node in graph.nodes)
    op_counts = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    constants = list(graph.constants.values())
    return GraphSummary(
        nodes=len(graph.nodes),
        op_counts=op_counts,
        fused_ops=tuple(op for op, _ in op_counts if get_op(op).is_fused),
        constants=len(constants),
        parameters=_total((v.type.numel for v in constants), dims),
        parameter_bytes=_total((v.type.nbytes for v in constants), dims),
        flops=_size(symbolic_flops(graph), dims),
        activation_bytes=_total((v.type.nbytes for n in graph.nodes for v in n.outputs), dims),
        peak_activation_bytes=peak_live_bytes(graph, dims),
    )


def peak_live_bytes(graph: Graph, dims: Mapping[str, int]) -> Size:
    """The most bytes of inputs and node outputs alive at once, running nodes in order.

    A node's outputs are allocated while its inputs are still alive; a value
    dies after the last node that uses it (graph outputs never die).
    """
    sizes: dict[int, Size] = {}
    remaining: dict[int, int] = {}
    keep = {id(v) for v in graph.outputs}

    def born(value: Value) -> None:
        sizes[id(value)] = _size(value.type.nbytes, dims)
        remaining[id(value)] = len(value.users)

    for value in graph.inputs:
        born(value)
    live = _sum(sizes.values())
    peak = live
    for node in graph.nodes:
        for value in node.outputs:
            born(value)
            live = _add(live, sizes[id(value)])
        peak = _max(peak, live)
        for value in _distinct(node.inputs):
            if id(value) not in remaining:
                continue  # a constant: a parameter, not an activation
            remaining[id(value)] -= 1
            if remaining[id(value)] == 0 and id(value) not in keep:
                live = _sub(live, sizes[id(value)])
        for value in node.outputs:
            if remaining[id(value)] == 0 and id(value) not in keep:
                live = _sub(live, sizes[id(value)])  # an unused output dies at once
    return peak


def _distinct(values: tuple[Value, ...]) -> list[Value]:
    return list({id(v): v for v in values}.values())


def _size(dim: Dim, dims: Mapping[str, int]) -> Size:
    bound = substitute(dim, dims)
    return bound if isinstance(bound, int) else str(bound)


def _total(dims_to_add: Any, bindings: Mapping[str, int]) -> Size:
    return _sum(_size(d, bindings) for d in dims_to_add)


# Sizes that stay symbolic make every sum they enter symbolic (shown as "symbolic").
def _sum(sizes: Any) -> Size:
    total: Size = 0
    for size in sizes:
        total = _add(total, size)
    return total


def _add(a: Size, b: Size) -> Size:
    return a + b if isinstance(a, int) and isinstance(b, int) else "symbolic"


def _sub(a: Size, b: Size) -> Size:
    return a - b if isinstance(a, int) and isinstance(b, int) else "symbolic"


def _max(a: Size, b: Size) -> Size:
    return max(a, b) if isinstance(a, int) and isinstance(b, int) else "symbolic"


__all__ = ["GraphSummary", "Size", "peak_live_bytes", "summarize_graph"]
