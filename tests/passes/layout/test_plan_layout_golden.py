"""``plan-layout`` golden tests: printed IR before -> after, and what the pass reports.

Each test gives the pass a hand-made cost model (``cost_tables.model``: batch 1,
a fixed cost per transpose), so the decision and the estimates in the near-miss
text can be added up by hand in the comments. The OHWI weights are worked out
by hand too: OIHW ``w[o][i][h][w]`` is OHWI ``w[o][h][w][i]``.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.text import parse_graph, print_graph
from nanograph.passes.layout.conv_geometry import ConvGeometry
from nanograph.passes.layout.plan_layout import make_plan_layout
from nanograph.passes.manager import run_pipeline
from nanograph.passes.pipelines import NUMPY_LAYOUT
from tests.passes.golden import misses, rewrites, run_text
from tests.passes.layout.cost_tables import FORCE_NHWC, model

RULE = "layout->nhwc"
CHAIN_GEOMETRY = ConvGeometry(1, 2, 5, 5, 2, 2, 2)

# w[o][i][h][w] = 1 + 8o + 4i + 2h + w
CHAIN = """\
graph chain(%x: f32[N,2,5,5]) -> (f32[N,2,2,2]) {
  @w: f32[2,2,2,2] = [[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], \
[[[9.0, 10.0], [11.0, 12.0]], [[13.0, 14.0], [15.0, 16.0]]]]
  @b: f32[2] = [0.5, -0.5]
  %conv = conv2d(%x, @w, @b) : f32[N,2,4,4]  # m.py:1
  %relu = relu(%conv) : f32[N,2,4,4]  # m.py:2
  %pool = max_pool2d(%relu) {kernel=[2,2], strides=[2,2]} : f32[N,2,2,2]  # m.py:3
  return %pool
}
"""
# OHWI: w.ohwi[o][h][w] = [w[o][0][h][w], w[o][1][h][w]] = [1+8o+2h+w, 5+8o+2h+w].
# One transpose in (x), one out (pool, a graph output: the NCHW copy keeps its name).
CHAIN_NHWC = """\
graph chain(%x: f32[N,2,5,5]) -> (f32[N,2,2,2]) {
  @b: f32[2] = [0.5, -0.5]
  @w.ohwi: f32[2,2,2,2] = [[[[1.0, 5.0], [2.0, 6.0]], [[3.0, 7.0], [4.0, 8.0]]], \
[[[9.0, 13.0], [10.0, 14.0]], [[11.0, 15.0], [12.0, 16.0]]]]
  %x.nhwc = transpose(%x) {perm=[0,2,3,1]} : f32[N,5,5,2]  # m.py:1
  %conv = conv2d(%x.nhwc, @w.ohwi, @b) {layout="NHWC"} : f32[N,4,4,2]  # m.py:1
  %relu = relu(%conv) : f32[N,4,4,2]  # m.py:2
  %pool.nhwc = max_pool2d(%relu) {kernel=[2,2], layout="NHWC", strides=[2,2]} : \
f32[N,2,2,2]  # m.py:3
  %pool = transpose(%pool.nhwc) {perm=[0,3,1,2]} : f32[N,2,2,2]  # m.py:3
  return %pool
}
"""


def test_conv_relu_pool_chain_goes_nhwc_with_one_transpose_in_and_one_out() -> None:
    # NCHW 100 us; NHWC 10 us + 2 transposes of 1 us = 12 us.
    plan = make_plan_layout(model({CHAIN_GEOMETRY: (100.0, 10.0)}))
    after, result = run_text(plan, CHAIN)
    assert after == CHAIN_NHWC
    assert rewrites(result) == [
        f"{RULE}: conv2d %conv + relu %relu + max_pool2d %pool -> transpose %x.nhwc, "
        "conv2d %conv, relu %relu, max_pool2d %pool.nhwc, transpose %pool "
        "at m.py:1, m.py:2, m.py:3"
    ]
    assert misses(result) == []
    assert result.stats == {
        RULE: 1,
        "boundary transposes": 2,
        "constants laid out for NHWC": 1,
        "constants freed": 1,
    }


def test_weights_are_the_oihw_weights_transposed_to_ohwi() -> None:
    graph = parse_graph(CHAIN)
    w = graph.constants["w"].const
    assert w is not None
    run_pipeline(graph, [make_plan_layout(FORCE_NHWC)], verify_each=True)
    ohwi = graph.constants["w.ohwi"].const
    assert ohwi is not None
    for o, i, h, k in np.ndindex(*w.shape):
        assert ohwi[o, h, k, i] == w[o, i, h, k]
    assert ohwi.flags.c_contiguous


def test_chain_stays_nchw_when_the_transposes_cost_more_than_the_conv_saves() -> None:
    # NCHW 10 us; NHWC 9.5 us + 2 transposes of 1 us = 11.5 us: NCHW wins.
    plan = make_plan_layout(model({CHAIN_GEOMETRY: (10.0, 9.5)}))
    after, result = run_text(plan, CHAIN)
    assert after == print_graph(parse_graph(CHAIN))
    assert rewrites(result) == []
    assert misses(result) == [
        f"{RULE} at conv2d %conv (m.py:1): matched 3/3 ops, then stays NCHW: estimated "
        "10 us at N=1 in NCHW against 11.5 us at N=1 in NHWC (of which 2 transposes: "
        "2 us at N=1)"
    ]
    assert not result.changed


def test_a_tie_keeps_nchw() -> None:
    # NCHW 12 us; NHWC 10 us + 2 transposes of 1 us = 12 us.
    after, result = run_text(make_plan_layout(model({CHAIN_GEOMETRY: (12.0, 10.0)})), CHAIN)
    assert after == print_graph(parse_graph(CHAIN))
    assert [m.reason.split(":")[0] for m in result.near_misses] == ["stays NCHW"]


# residual block: x feeds the first conv and the add ---------------------------------------
RESIDUAL = """\
graph res(%x: f32[N,2,4,4]) -> (f32[N,2,1,1]) {
  @w1: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  @w2: f32[2,2,1,1] = [[[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]
  %c1 = fused_conv2d(%x, @w1) {activation="relu"} : f32[N,2,4,4]  # m.py:1
  %c2 = conv2d(%c1, @w2) : f32[N,2,4,4]  # m.py:2
  %add = add(%c2, %x) : f32[N,2,4,4]  # m.py:3
  %out = relu(%add) : f32[N,2,4,4]  # m.py:4
  %pool = global_avg_pool2d(%out) : f32[N,2,1,1]  # m.py:5
  return %pool
}
"""
# One region of five ops; x enters once (shared by the conv and the add), pool leaves once.
RESIDUAL_NHWC = """\
graph res(%x: f32[N,2,4,4]) -> (f32[N,2,1,1]) {
  @w1.ohwi: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  @w2.ohwi: f32[2,1,1,2] = [[[[5.0, 6.0]]], [[[7.0, 8.0]]]]
  %x.nhwc = transpose(%x) {perm=[0,2,3,1]} : f32[N,4,4,2]  # m.py:1
  %c1 = fused_conv2d(%x.nhwc, @w1.ohwi) {activation="relu", layout="NHWC"} : f32[N,4,4,2]  # m.py:1
  %c2 = conv2d(%c1, @w2.ohwi) {layout="NHWC"} : f32[N,4,4,2]  # m.py:2
  %add = add(%c2, %x.nhwc) : f32[N,4,4,2]  # m.py:3
  %out = relu(%add) : f32[N,4,4,2]  # m.py:4
  %pool.nhwc = global_avg_pool2d(%out) {layout="NHWC"} : f32[N,1,1,2]  # m.py:5
  %pool = transpose(%pool.nhwc) {perm=[0,3,1,2]} : f32[N,2,1,1]  # m.py:5
  return %pool
}
"""


def test_residual_block_is_one_region_with_x_transposed_once() -> None:
    after, result = run_text(make_plan_layout(FORCE_NHWC), RESIDUAL)
    assert after == RESIDUAL_NHWC
    assert len(result.rewrites) == 1
    assert result.rewrites[0].matched == (
        "fused_conv2d %c1",
        "conv2d %c2",
        "add %add",
        "relu %out",
        "global_avg_pool2d %pool",
    )
    assert result.stats["boundary transposes"] == 2


# only part of a region pays ----------------------------------------------------------------
PARTIAL = """\
graph part(%x: f32[N,1,4,4]) -> (f32[N,2,4,4]) {
  @wa: f32[2,1,1,1] = [[[[1.0]]], [[[2.0]]]]
  @wb: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  @wc: f32[2,2,1,1] = [[[[5.0]], [[6.0]]], [[[7.0]], [[8.0]]]]
  %a = conv2d(%x, @wa) : f32[N,2,4,4]  # m.py:1
  %b = conv2d(%a, @wb) : f32[N,2,4,4]  # m.py:2
  %c = conv2d(%b, @wc) : f32[N,2,4,4]  # m.py:3
  return %c
}
"""
PARTIAL_NHWC = """\
graph part(%x: f32[N,1,4,4]) -> (f32[N,2,4,4]) {
  @wa: f32[2,1,1,1] = [[[[1.0]]], [[[2.0]]]]
  @wb.ohwi: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  @wc.ohwi: f32[2,1,1,2] = [[[[5.0, 6.0]]], [[[7.0, 8.0]]]]
  %a = conv2d(%x, @wa) : f32[N,2,4,4]  # m.py:1
  %a.nhwc = transpose(%a) {perm=[0,2,3,1]} : f32[N,4,4,2]  # m.py:2
  %b = conv2d(%a.nhwc, @wb.ohwi) {layout="NHWC"} : f32[N,4,4,2]  # m.py:2
  %c.nhwc = conv2d(%b, @wc.ohwi) {layout="NHWC"} : f32[N,4,4,2]  # m.py:3
  %c = transpose(%c.nhwc) {perm=[0,3,1,2]} : f32[N,2,4,4]  # m.py:3
  return %c
}
"""


def test_only_the_convs_that_pay_switch_and_the_rest_is_a_near_miss() -> None:
    # a: 1 us NCHW, 50 us NHWC; b and c: 50 us NCHW, 1 us NHWC; transposes 1 us.
    # All NCHW 101; all NHWC 50+1+1 + 2 transposes = 54; a NCHW, b and c NHWC: 1+1+1 + 2 = 5.
    table = {
        ConvGeometry(1, 1, 4, 4, 2, 1, 1): (1.0, 50.0),
        ConvGeometry(1, 2, 4, 4, 2, 1, 1): (50.0, 1.0),
    }
    after, result = run_text(make_plan_layout(model(table)), PARTIAL)
    assert after == PARTIAL_NHWC
    assert rewrites(result) == [
        f"{RULE}: conv2d %b + conv2d %c -> transpose %a.nhwc, conv2d %b, conv2d %c.nhwc, "
        "transpose %c at m.py:2, m.py:3"
    ]
    assert misses(result) == [
        f"{RULE} at conv2d %a (m.py:1): matched 1/3 ops, then stays NCHW: the rest of its "
        "region goes NHWC; these convs take 1 us at N=1 in NCHW against 50 us at N=1 in "
        "NHWC; the region as chosen: 5 us at N=1 with 2 transposes (all NCHW: 101 us at "
        "N=1; all NHWC: 54 us at N=1)"
    ]


# constant operands of elementwise ops ------------------------------------------------------
SCALED = """\
graph scaled(%x: f32[N,2,3,3]) -> (f32[N,2,3,3]) {
  @w: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  @s: f32[2,1,1] = [[[2.0]], [[3.0]]]
  @k: f32[1] = [0.5]
  %conv = conv2d(%x, @w) : f32[N,2,3,3]  # m.py:1
  %mul = mul(%conv, @s) : f32[N,2,3,3]  # m.py:2
  %add = add(@k, %mul) : f32[N,2,3,3]  # m.py:3
  return %add
}
"""
# @s [2,1,1] is padded to [1,2,1,1] and transposed to [1,1,1,2]; @k (all ones) stays.
SCALED_NHWC = """\
graph scaled(%x: f32[N,2,3,3]) -> (f32[N,2,3,3]) {
  @k: f32[1] = [0.5]
  @w.ohwi: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  @s.nhwc: f32[1,1,1,2] = [[[[2.0, 3.0]]]]
  %x.nhwc = transpose(%x) {perm=[0,2,3,1]} : f32[N,3,3,2]  # m.py:1
  %conv = conv2d(%x.nhwc, @w.ohwi) {layout="NHWC"} : f32[N,3,3,2]  # m.py:1
  %mul = mul(%conv, @s.nhwc) : f32[N,3,3,2]  # m.py:2
  %add.nhwc = add(@k, %mul) : f32[N,3,3,2]  # m.py:3
  %add = transpose(%add.nhwc) {perm=[0,3,1,2]} : f32[N,2,3,3]  # m.py:3
  return %add
}
"""


def test_per_channel_constants_are_laid_out_for_nhwc_and_scalars_kept() -> None:
    after, result = run_text(make_plan_layout(FORCE_NHWC), SCALED)
    assert after == SCALED_NHWC
    assert result.stats["constants laid out for NHWC"] == 2
    assert result.stats["constants freed"] == 2


# boundaries -----------------------------------------------------------------------------
LEAVES_MIDWAY = """\
graph mid(%x: f32[N,2,4,4], %y: f32[4,4]) -> (f32[N,2,4,4], f32[N,2,2,2]) {
  @w: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  %conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1
  %relu = relu(%conv) : f32[N,2,4,4]  # m.py:2
  %shift = add(%relu, %y) : f32[N,2,4,4]  # m.py:3
  %pool = max_pool2d(%relu) {kernel=[2,2], strides=[2,2]} : f32[N,2,2,2]  # m.py:4
  return %shift, %pool
}
"""
# %shift reads a runtime [4,4] operand (neither rank 4 nor constant): it stays NCHW, so
# %relu leaves the region for it, through one transpose made just before it. The pool then
# reads that NCHW copy too: in NHWC its result would need a transpose of its own.
LEAVES_MIDWAY_NHWC = """\
graph mid(%x: f32[N,2,4,4], %y: f32[4,4]) -> (f32[N,2,4,4], f32[N,2,2,2]) {
  @w.ohwi: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  %x.nhwc = transpose(%x) {perm=[0,2,3,1]} : f32[N,4,4,2]  # m.py:1
  %conv = conv2d(%x.nhwc, @w.ohwi) {layout="NHWC"} : f32[N,4,4,2]  # m.py:1
  %relu = relu(%conv) : f32[N,4,4,2]  # m.py:2
  %relu.nchw = transpose(%relu) {perm=[0,3,1,2]} : f32[N,2,4,4]  # m.py:2
  %shift = add(%relu.nchw, %y) : f32[N,2,4,4]  # m.py:3
  %pool = max_pool2d(%relu.nchw) {kernel=[2,2], strides=[2,2]} : f32[N,2,2,2]  # m.py:4
  return %shift, %pool
}
"""


def test_a_value_leaving_midway_is_transposed_once_and_its_other_readers_share_it() -> None:
    # conv 100 us NCHW, 10 us NHWC; transposes 1 us. Chosen: 10 + 2 transposes (x in,
    # relu out) = 12; all NHWC: a third transpose for the pool's result, 13; all NCHW 100.
    plan = make_plan_layout(model({ConvGeometry(1, 2, 4, 4, 2, 1, 1): (100.0, 10.0)}))
    after, result = run_text(plan, LEAVES_MIDWAY)
    assert after == LEAVES_MIDWAY_NHWC
    assert result.stats["boundary transposes"] == 2
    assert misses(result) == [
        f"{RULE} at max_pool2d %pool (m.py:4): matched 1/3 ops, then stays NCHW: the rest of "
        "its region goes NHWC; the region as chosen: 12 us at N=1 with 2 transposes (all "
        "NCHW: 100 us at N=1; all NHWC: 13 us at N=1)"
    ]


RUNTIME_WEIGHT = """\
graph rw(%x: f32[N,2,4,4], %w: f32[2,2,1,1]) -> (f32[N,2,4,4]) {
  %conv = conv2d(%x, %w) : f32[N,2,4,4]  # m.py:1
  %relu = relu(%conv) : f32[N,2,4,4]  # m.py:2
  return %relu
}
"""


def test_a_conv_whose_weight_is_computed_at_run_time_stays_nchw_and_says_why() -> None:
    after, result = run_text(make_plan_layout(FORCE_NHWC), RUNTIME_WEIGHT)
    assert after == print_graph(parse_graph(RUNTIME_WEIGHT))
    assert misses(result) == [
        f"{RULE} at conv2d %conv (m.py:1): matched 1/1 ops, then stays NCHW: its weight %w is "
        "computed at run time, so it cannot be laid out as OHWI at compile time"
    ]


SYMBOLIC = """\
graph sym(%x: f32[N,2,H,W]) -> (f32[N,2,H,W]) {
  @w: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  %conv = conv2d(%x, @w) : f32[N,2,H,W]  # m.py:1
  return %conv
}
"""


def test_symbolic_spatial_dims_keep_nchw_for_want_of_an_estimate() -> None:
    after, result = run_text(make_plan_layout(FORCE_NHWC), SYMBOLIC)
    assert after == print_graph(parse_graph(SYMBOLIC))
    assert misses(result) == [
        f"{RULE} at conv2d %conv (m.py:1): matched 1/1 ops, then stays NCHW: no estimate for "
        "conv2d %conv: %x is f32[N,2,H,W], with symbolic dims besides the batch"
    ]


# cancellation against the model's own transposes (NUMPY_LAYOUT) -----------------------------
NHWC_INPUT = """\
graph nhwc_in(%x: f32[N,4,4,2]) -> (f32[N,2,4,4]) {
  @w: f32[2,2,1,1] = [[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]
  %t = transpose(%x) {perm=[0,3,1,2]} : f32[N,2,4,4]  # m.py:1
  %conv = conv2d(%t, @w) : f32[N,2,4,4]  # m.py:2
  return %conv
}
"""
# plan-layout puts transpose(%t) {perm=[0,2,3,1]} before the conv; simplify composes it with
# the model's own transpose into the identity, and dce removes %t: the conv reads %x.
NHWC_INPUT_PLANNED = """\
graph nhwc_in(%x: f32[N,4,4,2]) -> (f32[N,2,4,4]) {
  @w.ohwi: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  %conv.nhwc = conv2d(%x, @w.ohwi) {layout="NHWC"} : f32[N,4,4,2]  # m.py:2
  %conv = transpose(%conv.nhwc) {perm=[0,3,1,2]} : f32[N,2,4,4]  # m.py:2
  return %conv
}
"""


def test_numpy_layout_cancels_an_entry_transpose_against_the_models_own() -> None:
    graph = parse_graph(NHWC_INPUT)
    passes = [make_plan_layout(FORCE_NHWC), *NUMPY_LAYOUT[1:]]
    report = run_pipeline(graph, passes, verify_each=True)
    assert print_graph(graph) == NHWC_INPUT_PLANNED
    assert report.rewrite_counts()["transpose-of-transpose"] == 1


def test_an_empty_cost_table_keeps_nchw_and_says_so() -> None:
    after, result = run_text(make_plan_layout(model({})), CHAIN)
    assert after == print_graph(parse_graph(CHAIN))
    assert misses(result) == [
        f"{RULE} at conv2d %conv (m.py:1): matched 3/3 ops, then stays NCHW: no estimate for "
        "conv2d %conv: the cost model has no measured convs (regenerate measured_costs.py)"
    ]
