"""``choose_layouts`` finds the cheapest assignment: checked against every assignment.

The cost of an assignment is recomputed here from its definition (conv times in
each op's layout; one transpose per value whose producer's layout differs from
a layout some reader needs, outside readers and graph outputs needing NCHW),
independently of the min-cut construction, on random cost tables over regions
with branches, shared values and outside readers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.model_loading import load_model
from nanograph.passes import PIPELINES, run_pipeline
from nanograph.passes.layout.conv_geometry import CONV_OPS, conv_geometry
from nanograph.passes.layout.cost_model import LayoutCostModel
from nanograph.passes.layout.partition import choose_layouts
from nanograph.passes.layout.regions import Region, data_inputs, find_regions
from tests.passes.layout.test_plan_layout_golden import LEAVES_MIDWAY, PARTIAL, RESIDUAL


class BruteForce:
    """The model's weight of any assignment of ``region`` (ids of the ops switched)."""

    def __init__(self, graph: Graph, region: Region, model: LayoutCostModel) -> None:
        b = model.batches
        self.convs = {}
        for node in region.convs:
            estimate = model.conv(node, b)
            assert estimate is not None
            self.convs[id(node)] = (model.weight(estimate.nchw, b), model.weight(estimate.nhwc, b))
        members = {id(n) for n in region.nodes}
        outputs = {id(v) for v in graph.outputs}
        self.values = []  # (producer id or None, reader ids or None for NCHW readers, weight)
        for value in region.values:
            producer = value.producer
            readers = [
                id(user) if id(user) in members and k in data_inputs(user) else None
                for user, k in value.uses
            ] + ([None] if id(value) in outputs else [])
            cost = model.transpose(value.type, b)
            assert cost is not None
            made = id(producer) if producer is not None and id(producer) in members else None
            self.values.append((made, readers, model.weight(cost, b)))

    def cost(self, nhwc: set[int]) -> float:
        total = sum(nhwc_w if i in nhwc else nchw_w for i, (nchw_w, nhwc_w) in self.convs.items())
        for made, readers, weight in self.values:
            made_nhwc = made in nhwc
            if any((r in nhwc) != made_nhwc for r in readers):
                total += weight
        return total


def random_model(graph: Graph, seed: int) -> LayoutCostModel:
    rng = np.random.default_rng(seed)
    table = {}
    for node in graph.nodes:
        if node.op in CONV_OPS:
            geo = conv_geometry(node, batch=1)
            assert geo is not None
            table[geo] = (float(rng.uniform(1, 100)), float(rng.uniform(1, 100)))
    return LayoutCostModel(
        table,
        transpose_fixed_us=float(rng.uniform(0, 30)),
        transpose_us_per_kib=float(rng.uniform(0, 2)),
        batches=(1,),
    )


def zoo_o2(name: str) -> Graph:
    graph = load_model(name).trace()
    run_pipeline(graph, PIPELINES["O2"])
    return graph


GRAPHS = {
    "residual": lambda: parse_graph(RESIDUAL),
    "partial": lambda: parse_graph(PARTIAL),
    "leaves_midway": lambda: parse_graph(LEAVES_MIDWAY),
    "lenet": lambda: zoo_o2("lenet"),
    "sagan": lambda: zoo_o2("sagan"),
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_the_min_cut_is_as_cheap_as_the_best_of_every_assignment(name: str) -> None:
    graph = GRAPHS[name]()
    (region,), _ = find_regions(graph)
    assert len(region.nodes) <= 10
    ids = [id(n) for n in region.nodes]
    assignments = [
        {i for i, on in zip(ids, bits, strict=True) if on}
        for bits in itertools.product((False, True), repeat=len(ids))
    ]
    chose_nhwc = chose_nchw = 0
    for seed in range(25):
        model = random_model(graph, seed)
        plan = choose_layouts(graph, region, model)
        brute = BruteForce(graph, region, model)
        got = brute.cost({id(n) for n in plan.nhwc})
        best = min(brute.cost(a) for a in assignments)
        assert got == pytest.approx(best, rel=1e-6, abs=1e-3), f"seed {seed}"
        assert plan.chosen is not None
        assert model.weight(plan.chosen.total, model.batches) == pytest.approx(got, abs=1e-6)
        chose_nhwc += bool(plan.nhwc)
        chose_nchw += bool(plan.stays)
    assert chose_nhwc and chose_nchw  # the random tables exercise both decisions
