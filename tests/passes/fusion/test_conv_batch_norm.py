"""``fold-conv-bn``: batch_norm(conv2d(x, W, b)) -> conv2d(x, W*s, (b-mean)*s+beta).

Golden tests use 1x1 convolutions with values chosen so that s = gamma /
sqrt(var + epsilon) and the folded weights are exact in float32; the expected
text is worked out by hand in each test's comment.

Numeric tolerances (rtol 1e-5, atol 1e-5): the conv reference accumulates in
float64, so the unfused and folded graphs differ only by float32 roundings:
of the conv output before the norm (unfused) and of each folded weight
``W*s`` (folded), each about 6e-8 relative, amplified by at most
max(s) ~ 1.7 here and summed over at most 36 taps; outputs are O(1), so
1e-5 leaves a wide margin yet catches any semantic slip (a wrong axis,
epsilon, sign or channel order is off by O(0.1)). onnxruntime accumulates
in float32 in its own order, hence rtol 1e-4 there (as in the fixture
tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph
from nanograph.ir.types import TensorType
from nanograph.passes.fusion.conv_batch_norm import FOLD_CONV_BN, fold_conv_batch_norm
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
RULE = "conv2d+batch_norm->conv2d"


# golden: where it fires -----------------------------------------------------------------
WITH_BIAS = """\
graph g(%x: f32[N,1,4,4]) -> (f32[N,2,4,4]) {
  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]
  @b: f32[2] = [3.0, 4.0]
  @gamma: f32[2] = [2.0, 3.0]
  @beta: f32[2] = [0.5, -1.0]
  @mean: f32[2] = [1.0, 2.0]
  @var: f32[2] = [3.0, 15.0]
  %conv = conv2d(%x, @w, @b) : f32[N,2,4,4]  # m.py:1
  %bn = batch_norm(%conv, @gamma, @beta, @mean, @var) {epsilon=1.0} : f32[N,2,4,4]  # m.py:2
  return %bn
}
"""
# s = [2, 3] / sqrt([4, 16]) = [1, 0.75]; W' = [4*1, 8*0.75] = [4, 6];
# b' = ([3, 4] - [1, 2]) * s + beta = [2 + 0.5, 1.5 - 1] = [2.5, 0.5].
WITH_BIAS_FOLDED = """\
graph g(%x: f32[N,1,4,4]) -> (f32[N,2,4,4]) {
  @w.folded: f32[2,1,1,1] = [[[[4.0]]], [[[6.0]]]]
  @b.folded: f32[2] = [2.5, 0.5]
  %bn = conv2d(%x, @w.folded, @b.folded) : f32[N,2,4,4]  # m.py:2
  return %bn
}
"""


def test_folds_batch_norm_into_conv_with_bias() -> None:
    after, result = run_text(FOLD_CONV_BN, WITH_BIAS)
    assert after == WITH_BIAS_FOLDED
    assert result.stats == {RULE: 1, "dead constants": 6}
    assert [str(r) for r in result.rewrites] == [
        f"{RULE}: batch_norm %bn + conv2d %conv -> conv2d %bn at m.py:2, m.py:1"
    ]
    assert result.near_misses == []


NHWC_NO_BIAS = """\
graph g(%x: f32[N,4,4,2]) -> (f32[N,4,4,2]) {
  @w: f32[2,1,1,2] = [[[[1.0, 2.0]]], [[[3.0, 4.0]]]]
  @g: f32[2] = [0.5, 4.0]
  @be: f32[2] = [0.0, 1.0]
  @mu: f32[2] = [1.0, -1.0]
  @v: f32[2] = [0.0, 3.0]
  %conv = conv2d(%x, @w) {layout="NHWC"} : f32[N,4,4,2]  # m.py:1
  %bn = batch_norm(%conv, @g, @be, @mu, @v) {epsilon=1.0, layout="NHWC"} : f32[N,4,4,2]  # m.py:2
  return %bn
}
"""
# s = [0.5, 4] / sqrt([1, 4]) = [0.5, 2] scales output channel o = axis 0 of OHWI:
# W' = [[0.5, 1], [6, 8]]; no conv bias, so b' = -mean * s + beta = [-0.5, 3],
# named after beta (@be).
NHWC_NO_BIAS_FOLDED = """\
graph g(%x: f32[N,4,4,2]) -> (f32[N,4,4,2]) {
  @w.folded: f32[2,1,1,2] = [[[[0.5, 1.0]]], [[[6.0, 8.0]]]]
  @be.folded: f32[2] = [-0.5, 3.0]
  %bn = conv2d(%x, @w.folded, @be.folded) {layout="NHWC"} : f32[N,4,4,2]  # m.py:2
  return %bn
}
"""


def test_folds_into_nhwc_conv_without_bias() -> None:
    after, result = run_text(FOLD_CONV_BN, NHWC_NO_BIAS)
    assert after == NHWC_NO_BIAS_FOLDED
    assert result.stats[RULE] == 1


FUSED_NONE = """\
graph g(%x: f32[N,1,4,4]) -> (f32[N,2,4,4]) {
  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]
  @b: f32[2] = [3.0, 4.0]
  @gamma: f32[2] = [2.0, 3.0]
  @beta: f32[2] = [0.5, -1.0]
  @mean: f32[2] = [1.0, 2.0]
  @var: f32[2] = [3.0, 15.0]
  %conv = fused_conv2d(%x, @w, @b) : f32[N,2,4,4]  # m.py:1
  %bn = batch_norm(%conv, @gamma, @beta, @mean, @var) {epsilon=1.0} : f32[N,2,4,4]  # m.py:2
  return %bn
}
"""


def test_folds_into_fused_conv2d_without_activation() -> None:
    after, _ = run_text(FOLD_CONV_BN, FUSED_NONE)
    assert after == WITH_BIAS_FOLDED.replace("= conv2d(", "= fused_conv2d(")


SHARED_WEIGHT = """\
graph g(%x: f32[N,1,4,4]) -> (f32[N,2,4,4], f32[N,2,4,4]) {
  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]
  @gamma: f32[2] = [2.0, 3.0]
  @beta: f32[2] = [0.5, -1.0]
  @mean: f32[2] = [1.0, 2.0]
  @var: f32[2] = [3.0, 15.0]
  @unused: f32[1] = [7.0]
  %conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1
  %bn = batch_norm(%conv, @gamma, @beta, @mean, @var) {epsilon=1.0} : f32[N,2,4,4]  # m.py:2
  %other = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:3
  return %bn, %other
}
"""
# b' = -[1, 2] * [1, 0.75] + [0.5, -1] = [-0.5, -2.5]. @w stays: %other still reads it
# (the fold never changes a constant in place). @unused was dead before the pass: it is
# dead-code elimination's to remove, not this pass's.
SHARED_WEIGHT_FOLDED = """\
graph g(%x: f32[N,1,4,4]) -> (f32[N,2,4,4], f32[N,2,4,4]) {
  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]
  @unused: f32[1] = [7.0]
  @w.folded: f32[2,1,1,1] = [[[[4.0]]], [[[6.0]]]]
  @beta.folded: f32[2] = [-0.5, -2.5]
  %bn = conv2d(%x, @w.folded, @beta.folded) : f32[N,2,4,4]  # m.py:2
  %other = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:3
  return %bn, %other
}
"""


def test_a_shared_weight_is_copied_not_changed() -> None:
    after, result = run_text(FOLD_CONV_BN, SHARED_WEIGHT)
    assert after == SHARED_WEIGHT_FOLDED
    assert result.stats["dead constants"] == 4  # gamma, beta, mean, var


# golden: where it must not fire, and why ---------------------------------------------------
def _conv_bn(
    *,
    x: str = "f32[N,1,4,4]",
    inputs: str = "",
    w: str = "@w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]",
    conv: str = "%conv = conv2d(%x, @w) : f32[N,2,4,4]",
    params: str = "@gamma, @beta, @mean, @var",
    out: str = "f32[N,2,4,4]",
    returns: str = "%bn",
    channels: int = 2,
) -> str:
    """A conv + batch_norm graph (all BN parameters 1) with the given parts changed.
    ``returns="%bn, %conv"`` also returns the conv's output."""
    ones = ", ".join(["1.0"] * channels)
    params_declared = [
        f"@{name}: f32[{channels}] = [{ones}]"
        for name in ("gamma", "beta", "mean", "var")
        if f"@{name}" in params
    ]
    types = ", ".join([out] * (returns.count(",") + 1))
    lines = [
        f"graph g(%x: {x}{inputs}) -> ({types}) {{",
        *(f"  {d}" for d in (w, *params_declared) if d),
        f"  {conv}  # m.py:1",
        f"  %bn = batch_norm(%conv, {params}) : {out}  # m.py:2",
        f"  return {returns}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _refused(text: str) -> str:
    """The one near miss the pass reports on ``text``, which it must leave unchanged."""
    after, result = run_text(FOLD_CONV_BN, text)
    assert after == text
    assert not result.changed
    assert len(result.near_misses) == 1, result.near_misses
    return str(result.near_misses[0])


def test_the_golden_helper_builds_a_graph_that_folds() -> None:
    assert "conv2d(%x, @w.folded, @beta.folded)" in run_text(FOLD_CONV_BN, _conv_bn())[0]


def test_not_when_a_batch_norm_parameter_is_not_constant() -> None:
    text = _conv_bn(inputs=", %gamma: f32[2]", params="%gamma, @beta, @mean, @var")
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then %gamma is not a constant "
        "(folding needs the conv weight and the batch norm's parameters at compile time)"
    )


def test_not_when_the_conv_weight_is_not_constant() -> None:
    text = _conv_bn(inputs=", %w: f32[2,1,1,1]", w="", conv="%conv = conv2d(%x, %w) : f32[N,2,4,4]")
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then %w is not a constant "
        "(folding needs the conv weight and the batch norm's parameters at compile time)"
    )


def test_not_when_the_conv_bias_is_not_constant() -> None:
    text = _conv_bn(inputs=", %b: f32[2]", conv="%conv = conv2d(%x, @w, %b) : f32[N,2,4,4]")
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then the bias %b of conv2d "
        "%conv is not a constant, so the folded bias cannot be computed at compile time"
    )


def test_not_when_the_conv_output_has_other_users() -> None:
    text = _conv_bn(returns="%bn, %conv")
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then %conv (conv2d) is also "
        "used elsewhere (2 uses), so fusing it would compute it twice"
    )


def test_not_after_a_fused_conv2d_with_an_activation() -> None:
    text = _conv_bn(conv='%conv = fused_conv2d(%x, @w) {activation="relu"} : f32[N,2,4,4]')
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then fused_conv2d %conv has "
        "activation='relu', which is not 'none' (a batch norm cannot fold back through an "
        "activation)"
    )


W_4113 = "@w: f32[4,1,1,3] = [" + ", ".join(["[[[1.0, 1.0, 1.0]]]"] * 4) + "]"


def test_not_when_the_norm_is_over_another_axis_than_the_conv_channels() -> None:
    # An NHWC conv with 4 output channels; the NCHW batch norm normalizes axis 1 (H = 8).
    text = _conv_bn(
        x="f32[N,8,8,3]",
        w=W_4113,
        conv='%conv = conv2d(%x, @w) {layout="NHWC"} : f32[N,8,8,4]',
        out="f32[N,8,8,4]",
        channels=8,
    )
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then batch_norm %bn normalizes "
        "8 channels (axis 1, NCHW) but conv2d %conv has 4 output channels (NHWC)"
    )


def test_not_when_layouts_differ_even_if_channel_counts_agree() -> None:
    text = _conv_bn(
        x="f32[N,4,4,3]",
        w=W_4113,
        conv='%conv = conv2d(%x, @w) {layout="NHWC"} : f32[N,4,4,4]',
        out="f32[N,4,4,4]",
        channels=4,
    )
    assert _refused(text) == (
        f"{RULE} at batch_norm %bn (m.py:2): matched 2/2 ops, then conv2d %conv is NHWC but "
        "batch_norm %bn is NCHW: the axis it normalizes is not the conv's output channels"
    )


def test_a_batch_norm_not_after_a_conv_is_not_a_near_miss() -> None:
    text = _conv_bn(conv="%conv = relu(%x) : f32[N,1,4,4]", out="f32[N,1,4,4]", channels=1, w="")
    after, result = run_text(FOLD_CONV_BN, text)
    assert after == text
    assert result.near_misses == []


# numerics: reference before vs after, and onnxruntime after --------------------------------
def _random_conv_bn(
    rng: np.random.Generator,
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    *,
    bias: bool = True,
    conv_op: str = "conv2d",
    **conv_attrs: Any,
) -> Graph:
    """x -> conv (random weights) -> batch_norm with non-trivial statistics."""
    g = Graph("conv_bn")
    x = g.add_input("x", TensorType.of("f32", x_shape))
    w = g.add_constant("w", rng.normal(0, 0.3, w_shape).astype(np.float32))
    ins = [x, w]
    if bias:
        ins.append(g.add_constant("b", rng.normal(0, 0.3, w_shape[0]).astype(np.float32)))
    conv = g.add(conv_op, ins, conv_attrs, loc="m.py:1")
    c = w_shape[0]
    stats = {
        "gamma": rng.uniform(0.5, 1.5, c),
        "beta": rng.normal(0, 0.5, c),
        "mean": rng.normal(0, 0.5, c),
        "var": rng.uniform(0.5, 2.0, c),
    }
    params = [g.add_constant(k, v.astype(np.float32)) for k, v in stats.items()]
    layout = conv_attrs.get("layout", "NCHW")
    bn = g.add("batch_norm", [conv.output, *params], {"epsilon": 1e-3, "layout": layout})
    g.outputs = [bn.output]
    return g


CASES: dict[str, tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = {
    "bias": ((2, 3, 9, 9), (8, 3, 3, 3), {"pads": (1, 1, 1, 1), "strides": (2, 2)}),
    "no_bias": ((2, 3, 9, 9), (8, 3, 3, 3), {"bias": False, "dilations": (2, 2)}),
    "groups": ((2, 4, 9, 9), (6, 2, 3, 3), {"groups": 2, "pads": (1, 0, 1, 0)}),
    "depthwise": ((2, 4, 9, 9), (4, 1, 3, 3), {"groups": 4, "pads": (1, 1, 1, 1)}),
    "nhwc": ((2, 9, 9, 3), (8, 3, 3, 3), {"layout": "NHWC", "pads": (1, 1, 1, 1)}),
    "nhwc_groups": ((2, 9, 9, 4), (4, 3, 3, 2), {"layout": "NHWC", "groups": 2}),
    "fused_none": ((2, 3, 9, 9), (8, 3, 3, 3), {"conv_op": "fused_conv2d"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_folding_keeps_the_result(case: str) -> None:
    x_shape, w_shape, attrs = CASES[case]
    rng = np.random.default_rng(len(case))
    graph = _random_conv_bn(rng, x_shape, w_shape, **attrs)
    x = rng.normal(0, 1, x_shape).astype(np.float32)
    before = ng.compile(graph, "O0")(x=x)["batch_norm"]
    folded = graph.copy()
    assert run_graph(FOLD_CONV_BN, folded).stats[RULE] == 1
    assert [n.op for n in folded.nodes] == [attrs.get("conv_op", "conv2d")]
    np.testing.assert_allclose(run_reference(folded, {"x": x})["batch_norm"], before, RTOL, ATOL)
    ort = ng.compile(folded, "O0", backend="ort-cpu")(x=x)["batch_norm"]
    np.testing.assert_allclose(ort, before, ORT_RTOL, ORT_ATOL)


def test_folded_weights_are_computed_in_float64_then_rounded_once() -> None:
    """Each folded weight is the correctly rounded float32 of W * s in exact arithmetic."""
    rng = np.random.default_rng(7)
    graph = _random_conv_bn(rng, (1, 3, 5, 5), (8, 3, 3, 3))
    consts = {name: v.const for name, v in graph.constants.items()}
    fold_conv_batch_norm(graph)
    assert consts["w"] is not None and consts["gamma"] is not None and consts["var"] is not None
    s = consts["gamma"].astype(np.float64) / np.sqrt(consts["var"].astype(np.float64) + 1e-3)
    expected = (consts["w"].astype(np.float64) * s[:, None, None, None]).astype(np.float32)
    np.testing.assert_array_equal(graph.constants["w.folded"].const, expected)
    assert graph.constants["w.folded"].type.dtype.value == "f32"


def test_running_twice_changes_nothing_more() -> None:
    graph = _random_conv_bn(np.random.default_rng(1), (1, 3, 5, 5), (4, 3, 3, 3))
    assert run_graph(FOLD_CONV_BN, graph).changed
    text = print_graph(graph)
    assert not run_graph(FOLD_CONV_BN, graph).changed
    assert print_graph(graph) == text
