"""Choosing each region op's layout: the cheapest assignment under the cost model, by min cut.

Each op of a region is NCHW or NHWC. The cost of an assignment is

- per conv, its estimated time in its layout (other ops: the same either way);
- per region value, one transpose if its producer's layout differs from the
  layout some consumer needs: an NHWC copy of an NCHW value (an *entry*
  transpose) or an NCHW copy of an NHWC value (an *exit* transpose). Ops
  outside the region, graph inputs and graph outputs are NCHW, fixed. A value
  needs at most one copy however many consumers want it.

That is a labelling problem with two labels whose terms are all submodular,
so a minimum s-t cut finds the optimum exactly (``networkx.minimum_cut``):
source side NHWC, sink side NCHW; an op's extra cost in NHWC is an edge to
the sink, its saving an edge from the source; for a value ``v`` with
transpose cost ``T``, an auxiliary node ``need_nhwc(v)`` is forced to the
source side by any NHWC consumer (infinite edge consumer -> aux) and costs
``T`` when the producer is NCHW (edge aux -> producer), and ``need_nchw(v)``
is forced to the sink side by any NCHW consumer (infinite edge aux ->
consumer) and costs ``T`` when the producer is NHWC (edge producer -> aux).
Ties: among assignments of equal estimated time, fewer transposes win, then
smaller ones (a lexicographic second term in the capacities), so a region
whose switch saves nothing keeps NCHW (no transposes). Between assignments
equal in both, the largest NHWC set wins (networkx's sink side is what can
still reach the sink in the residual network): an elementwise op whose
layout costs nothing either way stays with its region's convs.

Costs are folded over batch sizes by ``LayoutCostModel.weight``; a region
with a conv or value the model cannot estimate (symbolic spatial dims)
stays NCHW, saying which.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import networkx as nx

from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.layout.conv_geometry import conv_geometry
from nanograph.passes.layout.cost_model import (
    ConvEstimate,
    Costs,
    LayoutCostModel,
    add_costs,
    bind_batch,
)
from nanograph.passes.layout.regions import Region, data_inputs

_SOURCE, _SINK = "NHWC", "NCHW"
_SCALE = 1000.0
"""Capacities are integers (exact max-flow): the weights in thousandths of a microsecond..."""
_TIE = 1 << 40
"""... times ``_TIE``, plus, for a transpose, 1 + its elements at batch 1: among assignments
of equal estimated time the one with the fewest transposes, then the smallest, wins."""


@dataclass(frozen=True)
class Assignment:
    """The estimated cost of one assignment: its convs, its transposes (how many)."""

    convs: Costs
    transposes: Costs
    count: int

    @property
    def total(self) -> Costs:
        return add_costs(self.convs, self.transposes)


@dataclass(frozen=True)
class RegionPlan:
    """The layout chosen for a region's ops, with the estimates behind it.

    ``nhwc`` are the ops to switch (graph order); ``chosen``, ``all_nchw`` and
    ``all_nhwc`` the estimates of the chosen assignment and the two uniform
    ones, at ``batches``; ``unknown`` says why nothing could be estimated (then
    ``nhwc`` is empty and the estimates are None).
    """

    region: Region
    batches: tuple[int, ...]
    nhwc: tuple[Node, ...] = ()
    chosen: Assignment | None = None
    all_nchw: Assignment | None = None
    all_nhwc: Assignment | None = None
    convs: dict[int, ConvEstimate] = field(default_factory=dict)
    unknown: str = ""

    @property
    def stays(self) -> tuple[Node, ...]:
        """The region's ops left in NCHW, in graph order."""
        switched = {id(n) for n in self.nhwc}
        return tuple(n for n in self.region.nodes if id(n) not in switched)


def choose_layouts(graph: Graph, region: Region, model: LayoutCostModel) -> RegionPlan:
    """The cheapest NCHW/NHWC assignment of ``region``'s ops under ``model``."""
    batches = model.batches_for(region.anchor.inputs[0].type.shape[0])
    convs: dict[int, ConvEstimate] = {}
    for node in region.convs:
        estimate = model.conv(node, batches)
        if estimate is None:
            why = f"no estimate for {node.op} %{node.outputs[0].name}"
            note = (
                _symbolic_note(node.inputs[0])
                if conv_geometry(node, batches[0]) is None
                else ": the cost model has no measured convs (regenerate measured_costs.py)"
            )
            return RegionPlan(region, batches, unknown=why + note)
        convs[id(node)] = estimate
    transposes: dict[int, Costs] = {}
    for value in region.values:
        cost = model.transpose(value.type, batches)
        if cost is None:
            why = f"no estimate for a transpose of %{value.name}"
            return RegionPlan(region, batches, unknown=why + _symbolic_note(value))
        transposes[id(value)] = cost
    costs = _Costs(graph, region, model, batches, convs, transposes)
    nhwc = _min_cut(costs)
    return RegionPlan(
        region,
        batches,
        nhwc=tuple(n for n in region.nodes if id(n) in nhwc),
        chosen=costs.of(nhwc),
        all_nchw=costs.of(set()),
        all_nhwc=costs.of({id(n) for n in region.nodes}),
        convs=convs,
    )


def _symbolic_note(value: Value) -> str:
    return f": %{value.name} is {value.type}, with symbolic dims besides the batch"


@dataclass
class _Costs:
    graph: Graph
    region: Region
    model: LayoutCostModel
    batches: tuple[int, ...]
    convs: dict[int, ConvEstimate]
    transposes: dict[int, Costs]

    def __post_init__(self) -> None:
        self.members = {id(n) for n in self.region.nodes}
        self.outputs = {id(v) for v in self.graph.outputs}

    def consumers(self, value: Value) -> tuple[list[Node], bool]:
        """The region ops reading ``value`` as data, and whether anything else needs it NCHW
        (an op outside the region, a non-data input, a graph output)."""
        inside, fixed = [], id(value) in self.outputs
        for node, k in value.uses:
            if id(node) in self.members and k in data_inputs(node):
                inside.append(node)
            else:
                fixed = True
        return inside, fixed

    def producer(self, value: Value) -> Node | None:
        """The region op producing ``value``; None when it comes from outside (NCHW)."""
        p = value.producer
        return p if p is not None and id(p) in self.members else None

    def of(self, nhwc: Collection[int]) -> Assignment:
        """The estimate of switching the ops whose ids are in ``nhwc``."""
        zero = tuple(0.0 for _ in self.batches)
        estimates = [self.convs[id(n)] for n in self.region.convs]
        convs = add_costs(
            zero,
            *(
                e.nhwc if id(n) in nhwc else e.nchw
                for n, e in zip(self.region.convs, estimates, strict=True)
            ),
        )
        moved, count = zero, 0
        for value in self.region.values:
            if self.needs_transpose(value, nhwc):
                moved, count = add_costs(moved, self.transposes[id(value)]), count + 1
        return Assignment(convs, moved, count)

    def needs_transpose(self, value: Value, nhwc: Collection[int]) -> bool:
        producer = self.producer(value)
        made_nhwc = producer is not None and id(producer) in nhwc
        inside, fixed = self.consumers(value)
        wanted = {id(c) in nhwc for c in inside} | ({False} if fixed else set())
        return any(w != made_nhwc for w in wanted)

    def weight(self, costs: Costs) -> int:
        return round(self.model.weight(costs, self.batches) * _SCALE) * _TIE

    def transpose_weight(self, value: Value) -> int:
        bound = bind_batch(value.type, 1)
        numel = bound.numel if bound is not None else 0
        return (
            self.weight(self.transposes[id(value)]) + 1 + (numel if isinstance(numel, int) else 0)
        )


def _min_cut(costs: _Costs) -> set[int]:
    """Ids of the region ops on the NHWC side of a minimum cut (see the module docstring)."""
    flow = nx.DiGraph()
    flow.add_nodes_from((_SOURCE, _SINK))

    def edge(u: object, v: object, capacity: int | None = None) -> None:
        if capacity is None:
            flow.add_edge(u, v)  # no capacity: infinite
        elif capacity > 0:
            old = flow.edges[u, v]["capacity"] if flow.has_edge(u, v) else 0
            flow.add_edge(u, v, capacity=old + capacity)

    for node in costs.region.nodes:
        flow.add_node(id(node))
        if id(node) in costs.convs:
            e = costs.convs[id(node)]
            extra = costs.weight(e.nhwc) - costs.weight(e.nchw)
            edge(id(node), _SINK, extra) if extra > 0 else edge(_SOURCE, id(node), -extra)
    for value in costs.region.values:
        cost = costs.transpose_weight(value)
        producer = costs.producer(value)
        made = _SINK if producer is None else id(producer)
        inside, fixed = costs.consumers(value)
        need_nhwc, need_nchw = ("need NHWC", id(value)), ("need NCHW", id(value))
        for c in inside:
            edge(id(c), need_nhwc)
        edge(need_nhwc, made, cost)
        if producer is not None:
            for c in inside:
                edge(need_nchw, id(c))
            if fixed:
                edge(need_nchw, _SINK)
            edge(made, need_nchw, cost)
    # networkx's sink side is what can still reach the sink in the residual network, the
    # smallest over all minimum cuts: the source (NHWC) side is the largest.
    _, (nhwc_side, _) = nx.minimum_cut(flow, _SOURCE, _SINK)
    return {k for k in nhwc_side if isinstance(k, int)}


def describe_costs(costs: Costs, batches: Iterable[int]) -> str:
    """``"312 us at N=1, 5.1 ms at N=32"``."""
    return ", ".join(f"{format_us(c)} at N={b}" for c, b in zip(costs, batches, strict=True))


def format_us(us: float) -> str:
    """Three significant digits, in us or ms."""
    return f"{us / 1000:.3g} ms" if us >= 1000 else f"{us:.3g} us"


__all__ = ["Assignment", "RegionPlan", "choose_layouts", "describe_costs", "format_us"]
