"""Layout regions: the connected groups of ops that could run in NHWC together.

Two kinds of ops can change layout:

- *layout ops* (``LAYOUT_OPS``), in NCHW with a rank-4 ``x``: they take a
  ``layout`` attribute. A conv needs a constant weight (it is laid out as
  OHWI at compile time; a weight computed at run time is reported by
  ``find_regions`` and the conv stays NCHW). Their other inputs (bias, batch
  norm's per-channel parameters) do not depend on the layout;
- *layout-agnostic ops*: elementwise ops (family ``elementwise``) with one
  rank-4 output whose every input is rank 4, a constant, or all ones in
  shape. Transposing every operand by the same permutation commutes with an
  elementwise op and with broadcasting (a constant of lower rank is first
  padded to rank 4 with leading 1s, as broadcasting does), so they compute the
  same values on NHWC operands: activations, residual adds, scalings.

A region is a connected component of such ops, linked through their rank-4
*data* values (a layout op's ``x``, an agnostic op's non-constant inputs),
that holds at least one layout op: a chain of elementwise ops alone has no
reason to change layout. Every value a region's ops read or write in NCHW is
a region value; those produced outside it (graph inputs, other ops) enter it,
those used outside it (other ops, graph outputs) leave it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.passes.layout.conv_geometry import CONV_OPS

LAYOUT_OPS = frozenset(
    {
        *CONV_OPS,
        "max_pool2d",
        "avg_pool2d",
        "global_avg_pool2d",
        "global_max_pool2d",
        "batch_norm",
    }
)


@dataclass(frozen=True)
class Region:
    """A region's ops in graph order, and its data values (see the module docstring)."""

    nodes: tuple[Node, ...]
    values: tuple[Value, ...]

    @property
    def convs(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.op in CONV_OPS)

    @property
    def anchor(self) -> Node:
        """The node a report names the region by: its first conv, else its first layout op."""
        return next(iter(self.convs), None) or next(n for n in self.nodes if n.op in LAYOUT_OPS)


@dataclass(frozen=True)
class Unswitchable:
    """A layout op that must stay NCHW whatever the cost, and why."""

    node: Node
    reason: str


def data_inputs(node: Node) -> tuple[int, ...]:
    """Indices of ``node``'s inputs that carry its layout: a layout op's ``x``, every
    non-constant rank-4 input of an agnostic op (a non-constant input of lower rank is all
    ones in shape, the same in either layout)."""
    if node.op in LAYOUT_OPS:
        return (0,)
    return tuple(i for i, v in enumerate(node.inputs) if not v.is_const and v.type.rank == 4)


def is_layout_op(node: Node) -> bool:
    """A layout op that may switch to NHWC (see ``unswitchable_reason`` for convs)."""
    return (
        node.op in LAYOUT_OPS
        and node.attrs["layout"] == "NCHW"
        and node.inputs[0].type.rank == 4
        and unswitchable_reason(node) is None
    )


def unswitchable_reason(node: Node) -> str | None:
    """Why layout op ``node`` cannot switch layout, or None."""
    if node.op in CONV_OPS and not node.inputs[1].is_const:
        return (
            f"its weight %{node.inputs[1].name} is computed at run time, so it cannot be "
            "laid out as OHWI at compile time"
        )
    return None


def is_layout_agnostic(node: Node) -> bool:
    """An elementwise op on rank-4 operands (see the module docstring)."""
    if get_op(node.op).family != "elementwise" or len(node.outputs) != 1:
        return False
    if node.outputs[0].type.rank != 4:
        return False
    return all(
        v.type.rank == 4 or v.is_const or all(d == 1 for d in v.type.shape) for v in node.inputs
    )


def find_regions(graph: Graph) -> tuple[list[Region], list[Unswitchable]]:
    """The graph's regions in graph order (of their first node), and the NCHW layout ops
    that cannot switch."""
    members = [n for n in graph.nodes if is_layout_op(n) or is_layout_agnostic(n)]
    member_ids = {id(n) for n in members}
    links = nx.Graph()
    links.add_nodes_from(range(len(members)))
    index = {id(n): i for i, n in enumerate(members)}
    for i, node in enumerate(members):
        for k in data_inputs(node):
            producer = node.inputs[k].producer
            if producer is not None and id(producer) in member_ids:
                links.add_edge(index[id(producer)], i)
    regions = []
    for component in nx.connected_components(links):
        nodes = tuple(members[i] for i in sorted(component))
        if any(n.op in LAYOUT_OPS for n in nodes):
            regions.append(Region(nodes, _region_values(nodes)))
    regions.sort(key=lambda r: index[id(r.nodes[0])])
    stuck = [
        Unswitchable(n, reason)
        for n in graph.nodes
        if n.op in CONV_OPS
        and n.attrs["layout"] == "NCHW"
        and (reason := unswitchable_reason(n)) is not None
    ]
    return regions, stuck


def _region_values(nodes: tuple[Node, ...]) -> tuple[Value, ...]:
    seen: dict[int, Value] = {}
    for node in nodes:
        for k in data_inputs(node):
            seen.setdefault(id(node.inputs[k]), node.inputs[k])
        for v in node.outputs:
            seen.setdefault(id(v), v)
    return tuple(seen.values())


__all__ = [
    "LAYOUT_OPS",
    "Region",
    "Unswitchable",
    "data_inputs",
    "find_regions",
    "is_layout_agnostic",
    "is_layout_op",
    "unswitchable_reason",
]
