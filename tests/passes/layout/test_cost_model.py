"""The layout cost model: measured conv times, scaled ones, transposes, batches; and the
shipped table covers the zoo."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir.graph import Graph, Node
from nanograph.ir.types import TensorType
from nanograph.model_loading import load_model
from nanograph.passes import PIPELINES, run_pipeline
from nanograph.passes.layout import measured_costs
from nanograph.passes.layout.conv_geometry import CONV_OPS, ConvGeometry, conv_geometry
from nanograph.passes.layout.cost_model import LayoutCostModel

G3 = ConvGeometry(1, 16, 8, 8, 16, 3, 3, pads=(1, 1, 1, 1))
G1 = ConvGeometry(1, 16, 8, 8, 16, 1, 1)
TABLE = {G3: (100.0, 50.0), G1: (10.0, 5.0), G3.at_batch(4): (300.0, 120.0)}
MODEL = LayoutCostModel(TABLE, transpose_fixed_us=2.0, transpose_us_per_kib=0.5, batches=(1, 4))


def conv_node(x: list[object], w: list[int], pads: int = 0) -> Node:
    """A conv2d of an input of shape ``x`` by a constant weight of shape ``w``."""
    graph = Graph("g")
    xv = graph.add_input("x", TensorType.of("f32", x))
    wv = graph.add_constant("w", np.zeros(w, np.float32))
    return graph.add("conv2d", [xv, wv], {"pads": [pads] * 4})


def test_a_measured_geometry_costs_what_was_measured_at_each_batch() -> None:
    estimate = MODEL.conv(conv_node(["N", 16, 8, 8], [16, 16, 3, 3], pads=1), (1, 4))
    assert estimate is not None
    assert (estimate.nchw, estimate.nhwc, estimate.source) == (
        (100.0, 300.0),
        (50.0, 120.0),
        "measured",
    )


def test_an_unmeasured_geometry_scales_the_nearest_of_its_class_by_macs() -> None:
    # 32 input channels: twice G3's MACs; G1 is nearer in MACs but another kernel class.
    node = conv_node([1, 32, 8, 8], [16, 32, 3, 3], pads=1)
    estimate = MODEL.conv(node, (1,))
    assert estimate is not None
    assert (estimate.nchw, estimate.nhwc) == ((200.0,), (100.0,))
    assert estimate.source == f"scaled from {G3}"


def test_a_class_never_measured_scales_the_nearest_in_macs_of_any_class() -> None:
    # 5x5 is in no class of the table; G3 (3x3) is nearer in MACs than G1 (1x1).
    node = conv_node([1, 16, 8, 8], [16, 16, 5, 5], pads=1)
    geo = conv_geometry(node, batch=1)
    assert geo is not None and MODEL.nearest(geo) == G3


def test_a_symbolic_batch_is_estimated_at_the_model_batches_a_static_one_at_its_own() -> None:
    assert MODEL.batches_for(TensorType.of("f32", ["N"]).shape[0]) == (1, 4)
    assert MODEL.batches_for(7) == (7,)


def test_symbolic_spatial_dims_have_no_estimate() -> None:
    assert MODEL.conv(conv_node(["N", 16, "H", 8], [16, 16, 1, 1]), (1,)) is None
    assert MODEL.transpose(TensorType.of("f32", ["N", 16, "H", 8]), (1,)) is None


def test_a_transpose_costs_fixed_plus_per_kib_and_a_unit_axis_only_the_fixed_part() -> None:
    t = TensorType.of("f32", ["N", 16, 8, 8])  # 4 KiB per image
    assert MODEL.transpose(t, (1, 4)) == (2.0 + 0.5 * 4, 2.0 + 0.5 * 16)
    assert MODEL.transpose(TensorType.of("f32", ["N", 1, 8, 8]), (4,)) == (2.0,)
    assert MODEL.transpose(TensorType.of("f32", ["N", 64, 1, 1]), (4,)) == (2.0,)


def test_weight_is_microseconds_per_sample_summed_over_batches() -> None:
    assert MODEL.weight((10.0, 40.0), (1, 4)) == pytest.approx(20.0)


# the shipped table ----------------------------------------------------------------------
def test_the_shipped_table_says_how_it_was_made() -> None:
    assert measured_costs.COMMAND.startswith("python benchmarks/layout_costs.py")
    assert measured_costs.KERNELS
    assert measured_costs.TRANSPOSE_US_PER_KIB > 0
    assert all(nchw > 0 and nhwc > 0 for nchw, nhwc in measured_costs.CONV_US.values())


@pytest.mark.parametrize("name", ["lenet", "resnet_small", "sagan"])
def test_every_zoo_conv_is_measured_at_every_table_batch(name: str) -> None:
    graph = load_model(name).trace()
    run_pipeline(graph, PIPELINES["O2"])
    convs = [n for n in graph.nodes if n.op in CONV_OPS]
    assert convs
    for node in convs:
        for batch in measured_costs.BATCHES:
            geo = conv_geometry(node, batch=batch)
            assert geo in measured_costs.CONV_US, (
                f"{geo} is not in passes/layout/measured_costs.py: regenerate it with "
                f"{measured_costs.COMMAND}"
            )
