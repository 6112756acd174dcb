"""``plan-layout`` on the zoo's CNNs and the PyTorch-exported CNN fixtures: outputs
unchanged, on the reference and on onnxruntime.

Each model is traced (or imported) and optimized at O2; the reference interpreter's outputs
on seeded inputs are the expectation. Then plan-layout runs with the cost
model forced to switch every region to NHWC (``FORCE_NHWC``: every op, weight
and boundary transpose of the rewrite is exercised), and with the measured
table (whatever it decides), and the reference runs the result.

Tolerances: rtol 1e-5, atol 1e-6 on the reference. Its conv, pool and
batch-norm references compute in float64 (NHWC operands are transposed back
to NCHW inside them) and round to float32 once, so both graphs compute the
same float64 values and round them alike; only the order of an einsum's
float64 sums may differ with the operands' strides, far below one float32
ulp, which can at most flip a rounding: one ulp, 6e-8 relative. 1e-5 leaves
a wide margin and still catches any semantic slip (a wrong axis or weight
order is off by O(0.1)). onnxruntime (on the ONNX export of the NHWC graph,
whose transposes the exporter wraps around each Conv) accumulates in float32
in its own order: rtol 1e-4, atol 1e-5, as in the fixture tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.model_loading import load_model
from nanograph.passes import PIPELINES, run_pipeline
from nanograph.passes.layout import PLAN_LAYOUT, make_plan_layout
from nanograph.passes.pipelines import NUMPY_LAYOUT
from tests.fixtures.torch_onnx_fixtures import load_fixture
from tests.passes.layout.cost_tables import FORCE_NHWC
from tests.passes.layout.test_plan_layout_golden import (
    CHAIN,
    LEAVES_MIDWAY,
    NHWC_INPUT,
    PARTIAL,
    RESIDUAL,
    SCALED,
)

RTOL, ATOL = 1e-5, 1e-6
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
CNNS = ("lenet", "resnet_small", "sagan", "cnn_bn_classic", "cnn_bn_dynamo")
# Regions switched and boundary transposes made when NHWC convs are forced to be cheap:
# lenet and resnet_small switch whole (x in, the last pool out); sagan's convs switch (x in;
# query, key, value and stem.5 out), but its residual add and pool stay NCHW: one transpose
# of stem.5 out costs less than one of the attention's result in and one of the pool's out.
FORCED = {
    "lenet": (1, 2),
    "resnet_small": (1, 2),
    "sagan": (1, 5),
    "cnn_bn_classic": (1, 2),
    "cnn_bn_dynamo": (1, 2),
}


def _o2(name: str) -> Graph:
    if name.startswith("cnn_bn_"):
        graph = import_onnx(load_fixture(name).path)
    else:
        graph = load_model(name).trace()
    run_pipeline(graph, PIPELINES["O2"])
    return graph


def _feeds(graph: Graph, batch: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    feeds = {}
    for v in graph.inputs:
        shape = [d if isinstance(d, int) else batch for d in v.type.shape]
        feeds[v.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _close(
    got: dict[str, np.ndarray], want: dict[str, np.ndarray], rtol: float, atol: float
) -> None:
    assert got.keys() == want.keys()
    for key, array in want.items():
        np.testing.assert_allclose(got[key], array, rtol=rtol, atol=atol, err_msg=key)


@pytest.fixture(scope="module", params=CNNS)
def model_o2(request: pytest.FixtureRequest) -> tuple[str, Graph, dict[str, Any], dict[str, Any]]:
    graph = _o2(request.param)
    feeds = _feeds(graph)
    return request.param, graph, feeds, run_reference(graph, feeds)


def test_forced_nhwc_keeps_outputs_on_the_reference_and_onnxruntime(model_o2: Any) -> None:
    name, graph, feeds, want = model_o2
    switched = graph.copy()
    report = run_pipeline(switched, [make_plan_layout(FORCE_NHWC)], verify_each=True)
    stats = report.records[0].result.stats
    assert (stats["layout->nhwc"], stats["boundary transposes"]) == FORCED[name]
    assert any(n.attrs.get("layout") == "NHWC" for n in switched.nodes)
    _close(run_reference(switched, feeds), want, RTOL, ATOL)
    ort = ng.compile(switched, "O0", backend="ort-cpu")
    _close(ort(feeds), want, ORT_RTOL, ORT_ATOL)


def test_measured_decisions_keep_outputs(model_o2: Any) -> None:
    _, graph, feeds, want = model_o2
    planned = graph.copy()
    report = run_pipeline(planned, NUMPY_LAYOUT, verify_each=True)
    result = report.record(PLAN_LAYOUT.name).result
    # Every region is accounted for: switched (a rewrite) or kept (a "stays NCHW" near miss).
    assert result.rewrites or result.near_misses
    assert all(m.reason.startswith("stays NCHW: ") for m in result.near_misses)
    _close(run_reference(planned, feeds), want, RTOL, ATOL)


def test_plan_layout_leaves_models_without_convs_alone() -> None:
    graph = _o2("pos_tagger")
    before = graph.copy()
    result = run_pipeline(graph, [PLAN_LAYOUT], verify_each=True).records[0].result
    assert not result.changed and result.rewrites == [] and result.near_misses == []
    assert [n.op for n in graph.nodes] == [n.op for n in before.nodes]


@pytest.mark.parametrize(
    "text",
    [CHAIN, RESIDUAL, PARTIAL, SCALED, LEAVES_MIDWAY, NHWC_INPUT],
    ids=["chain", "residual", "partial", "scaled", "leaves_midway", "nhwc_input"],
)
def test_the_golden_graphs_compute_the_same_after_the_switch(text: str) -> None:
    graph = parse_graph(text)
    feeds = _feeds(graph)
    want = run_reference(graph, feeds)
    run_pipeline(graph, [make_plan_layout(FORCE_NHWC), *NUMPY_LAYOUT[1:]], verify_each=True)
    assert any(n.attrs.get("layout") == "NHWC" for n in graph.nodes)
    _close(run_reference(graph, feeds), want, RTOL, ATOL)
