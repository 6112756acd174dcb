"""``fuse-conv-activation``: conv2d (+ per-channel bias add) + activation -> fused_conv2d;
and the O2 conv pipeline (``fold-conv-bn`` then ``fuse-conv-activation``) on the
zoo's CNNs and the PyTorch-exported CNN fixtures.

Tolerances:
- an activation fused alone: exact. fused_conv2d's reference *is* conv2d's
  then the activation's, the same computation in the same order;
- a bias add folded into the conv, x*sigmoid(x) -> silu, and the whole
  pipeline with batch-norm folding: rtol 1e-5, atol 1e-5. Merging ``b + c``
  rounds once instead of per element, silu rounds once instead of twice,
  and BN folding rounds ``W * s`` instead of the conv output (see
  test_conv_batch_norm.py): each is about one float32 ulp (6e-8 relative) of
  O(1) values, carried through at most 15 convs in resnet_small (measured:
  at most 6e-8 absolute on its O(1) logits);
- onnxruntime and PyTorch against our reference: rtol 1e-4, atol 1e-5, as in
  tests/frontend/test_torch_onnx_fixtures.py (float32 accumulation in their
  own order against our float64 one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.ir.ops.inference import static_ints
from nanograph.ir.types import TensorType
from nanograph.model_loading import zoo_models
from nanograph.passes.fusion.conv_activation import FUSE_CONV_ACTIVATION
from nanograph.passes.fusion.conv_batch_norm import FOLD_CONV_BN
from nanograph.passes.manager import PipelineReport, run_pipeline
from tests.fixtures.torch_onnx_fixtures import load_fixture
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
PEER_RTOL, PEER_ATOL = 1e-4, 1e-5
ACT = "conv2d+activation->fused_conv2d"
BIAS = "conv2d+bias->conv2d"
SILU = "conv2d+x*sigmoid(x)->fused_conv2d"
FOLD = "conv2d+batch_norm->conv2d"


def _graph(*body: str, inputs: str = "", out: str = "f32[N,2,4,4]", returns: str = "%act") -> str:
    """A graph over %x: f32[N,1,4,4] with a 1x1 conv weight @w = [4, 8] and ``body`` lines."""
    lines = [
        f"graph g(%x: f32[N,1,4,4]{inputs}) -> ({', '.join([out] * (returns.count(',') + 1))}) {{",
        "  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]",
        *(f"  {line}" for line in body),
        f"  return {returns}",
        "}",
    ]
    return "\n".join(lines) + "\n"


# golden: activations -------------------------------------------------------------------------
ACTIVATIONS = {
    "relu(%conv)": "relu",
    "clip(%conv) {max=6.0, min=0.0}": "relu6",
    "clip(%conv) {min=0.0}": "relu",
    "sigmoid(%conv)": "sigmoid",
    "tanh(%conv)": "tanh",
    "silu(%conv)": "silu",
    "gelu(%conv)": "gelu",
    'gelu(%conv) {approximate="tanh"}': "gelu_tanh",
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_conv_and_activation_become_fused_conv2d(activation: str) -> None:
    before = _graph(
        "@b: f32[2] = [3.0, 4.0]",
        "%conv = conv2d(%x, @w, @b) {pads=[1,1,1,1]} : f32[N,2,6,6]  # m.py:1",
        f"%act = {activation} : f32[N,2,6,6]  # m.py:2",
        out="f32[N,2,6,6]",
    )
    after, result = run_text(FUSE_CONV_ACTIVATION, before)
    assert after == _graph(
        "@b: f32[2] = [3.0, 4.0]",
        f'%act = fused_conv2d(%x, @w, @b) {{activation="{ACTIVATIONS[activation]}", '
        "pads=[1,1,1,1]} : f32[N,2,6,6]  # m.py:2",
        out="f32[N,2,6,6]",
    )
    assert result.stats == {ACT: 1}
    op = activation.split("(")[0]
    assert [str(r) for r in result.rewrites] == [
        f"{ACT}: {op} %act + conv2d %conv -> fused_conv2d %act at m.py:2, m.py:1"
    ]


def test_a_fused_conv2d_without_activation_takes_one() -> None:
    after, _ = run_text(
        FUSE_CONV_ACTIVATION,
        _graph(
            "%conv = fused_conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
            "%act = relu(%conv) : f32[N,2,4,4]  # m.py:2",
        ),
    )
    assert after == _graph(
        '%act = fused_conv2d(%x, @w) {activation="relu"} : f32[N,2,4,4]  # m.py:2'
    )


@pytest.mark.parametrize("order", ["%conv, %sig", "%sig, %conv"])
def test_decomposed_silu_becomes_fused_silu(order: str) -> None:
    after, result = run_text(
        FUSE_CONV_ACTIVATION,
        _graph(
            "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
            "%sig = sigmoid(%conv) : f32[N,2,4,4]  # m.py:2",
            f"%act = mul({order}) : f32[N,2,4,4]  # m.py:2",
        ),
    )
    assert after == _graph(
        '%act = fused_conv2d(%x, @w) {activation="silu"} : f32[N,2,4,4]  # m.py:2'
    )
    assert result.stats == {SILU: 1}
    assert result.near_misses == []  # sigmoid's own miss (its input has 2 uses) went with it


# golden: bias adds ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["%conv, @c", "@c, %conv"])
def test_a_separate_channel_bias_and_relu6_fuse(order: str) -> None:
    after, result = run_text(
        FUSE_CONV_ACTIVATION,
        _graph(
            "@c: f32[2,1,1] = [[[1.5]], [[-2.0]]]",
            "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
            f"%sum = add({order}) : f32[N,2,4,4]  # m.py:2",
            "%act = clip(%sum) {max=6.0, min=0.0} : f32[N,2,4,4]  # m.py:3",
        ),
    )
    assert after == _graph(
        "@c.folded: f32[2] = [1.5, -2.0]",
        '%act = fused_conv2d(%x, @w, @c.folded) {activation="relu6"} : f32[N,2,4,4]  # m.py:3',
    )
    assert result.stats == {BIAS: 1, ACT: 1, "dead constants": 1}
    assert [str(r) for r in result.rewrites] == [
        f"{BIAS}: add %sum + conv2d %conv -> conv2d %sum at m.py:2, m.py:1",
        f"{ACT}: clip %act + conv2d %sum -> fused_conv2d %act at m.py:3, m.py:2",
    ]


def test_a_bias_add_merges_with_the_conv_bias() -> None:
    # b + c = [3 + 0.5, 4 + 0.25]
    after, _ = run_text(
        FUSE_CONV_ACTIVATION,
        _graph(
            "@b: f32[2] = [3.0, 4.0]",
            "@c: f32[1,2,1,1] = [[[[0.5]], [[0.25]]]]",
            "%conv = conv2d(%x, @w, @b) : f32[N,2,4,4]  # m.py:1",
            "%sum = add(%conv, @c) : f32[N,2,4,4]  # m.py:2",
            "%act = silu(%sum) : f32[N,2,4,4]  # m.py:3",
        ),
    )
    assert after == _graph(
        "@c.folded: f32[2] = [3.5, 4.25]",
        '%act = fused_conv2d(%x, @w, @c.folded) {activation="silu"} : f32[N,2,4,4]  # m.py:3',
    )


def test_a_bias_add_without_activation_becomes_the_conv_bias() -> None:
    after, result = run_text(
        FUSE_CONV_ACTIVATION,
        _graph(
            "@c: f32[2,1,1] = [[[1.5]], [[-2.0]]]",
            "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
            "%act = add(%conv, @c) : f32[N,2,4,4]  # m.py:2",
        ),
    )
    assert after == _graph(
        "@c.folded: f32[2] = [1.5, -2.0]",
        "%act = conv2d(%x, @w, @c.folded) : f32[N,2,4,4]  # m.py:2",
    )
    assert result.stats == {BIAS: 1, "dead constants": 1}


NHWC_BIAS = """\
graph g(%x: f32[N,4,4,1]) -> (f32[N,4,4,2]) {
  @w: f32[2,1,1,1] = [[[[4.0]]], [[[8.0]]]]
  @c: f32[2] = [1.5, -2.0]
  %conv = conv2d(%x, @w) {layout="NHWC"} : f32[N,4,4,2]  # m.py:1
  %act = add(%conv, @c) : f32[N,4,4,2]  # m.py:2
  return %act
}
"""


def test_an_nhwc_bias_of_shape_c_is_used_as_it_is() -> None:
    after, result = run_text(FUSE_CONV_ACTIVATION, NHWC_BIAS)
    assert after == NHWC_BIAS.replace(
        '  %conv = conv2d(%x, @w) {layout="NHWC"} : f32[N,4,4,2]  # m.py:1\n', ""
    ).replace("add(%conv, @c) :", 'conv2d(%x, @w, @c) {layout="NHWC"} :')
    assert "dead constants" not in result.stats


# golden: where it must not fire, and why ------------------------------------------------------
def _near_misses(text: str) -> list[str]:
    """The near misses on ``text``, which the pass must leave unchanged."""
    after, result = run_text(FUSE_CONV_ACTIVATION, text)
    assert after == text
    assert not result.changed
    return sorted(str(m) for m in result.near_misses)


def test_not_through_a_residual_add() -> None:
    text = _graph(
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%sum = add(%conv, %skip) : f32[N,2,4,4]  # m.py:2",
        "%act = relu(%sum) : f32[N,2,4,4]  # m.py:3",
        inputs=", %skip: f32[N,2,4,4]",
    )
    assert _near_misses(text) == [
        f"{ACT} at relu %act (m.py:3): matched 3/3 ops, then relu's input %sum is an add the "
        "conv cannot absorb: it adds two computed tensors (a residual: conv2d %conv and "
        "%skip), and fused_conv2d has no residual input; the relu stays separate"
    ]


def test_not_with_a_bias_that_is_not_per_channel() -> None:
    text = _graph(
        "@c: f32[2,1,4] = [[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]]",
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%sum = add(%conv, @c) : f32[N,2,4,4]  # m.py:2",
        "%act = relu(%sum) : f32[N,2,4,4]  # m.py:3",
    )
    why = (
        "%c: f32[2,1,4] is not a per-channel bias of conv2d %conv: f32[N,2,4,4] "
        "(NCHW wants [C,1,1] or [1,C,1,1] with C = 2)"
    )
    assert _near_misses(text) == [
        f"{ACT} at relu %act (m.py:3): matched 3/3 ops, then relu's input %sum is an add the "
        f"conv cannot absorb: {why}; the relu stays separate",
        f"{BIAS} at add %sum (m.py:2): matched 2/2 ops, then {why}",
    ]


def test_not_with_a_per_channel_bias_that_is_computed() -> None:
    text = _graph(
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%sum = add(%conv, %c) : f32[N,2,4,4]  # m.py:2",
        "%act = relu(%sum) : f32[N,2,4,4]  # m.py:3",
        inputs=", %c: f32[2,1,1]",
    )
    assert _near_misses(text) == [
        f"{ACT} at relu %act (m.py:3): matched 3/3 ops, then relu's input %sum is an add the "
        "conv cannot absorb: %c is a per-channel bias but not a constant; the relu stays separate"
    ]


def test_not_when_the_conv_has_a_computed_bias_of_its_own() -> None:
    text = _graph(
        "@c: f32[2,1,1] = [[[1.5]], [[-2.0]]]",
        "%conv = conv2d(%x, @w, %b) : f32[N,2,4,4]  # m.py:1",
        "%act = add(%conv, @c) : f32[N,2,4,4]  # m.py:2",
        inputs=", %b: f32[2]",
    )
    assert _near_misses(text) == [
        f"{BIAS} at add %act (m.py:2): matched 2/2 ops, then conv2d %conv's own bias %b is not "
        "a constant"
    ]


def test_not_when_the_conv_output_has_other_users() -> None:
    text = _graph(
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%act = relu(%conv) : f32[N,2,4,4]  # m.py:2",
        returns="%act, %conv",
    )
    assert _near_misses(text) == [
        f"{ACT} at relu %act (m.py:2): matched 2/2 ops, then %conv (conv2d) is also used "
        "elsewhere (2 uses), so fusing it would compute it twice"
    ]


def test_not_a_clip_other_than_relu6() -> None:
    text = _graph(
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%act = clip(%conv) {max=3.0, min=0.0} : f32[N,2,4,4]  # m.py:2",
    )
    assert _near_misses(text) == [
        f"{ACT} at clip %act (m.py:2): matched 2/2 ops, then clip %act keeps [0, 3]; "
        "fused_conv2d's activations include relu6 = clip(0, 6) and relu = clip(0, inf), not this"
    ]


def test_not_a_second_activation() -> None:
    text = _graph(
        '%conv = fused_conv2d(%x, @w) {activation="relu"} : f32[N,2,4,4]  # m.py:1',
        "%act = sigmoid(%conv) : f32[N,2,4,4]  # m.py:2",
    )
    assert _near_misses(text) == [
        f"{ACT} at sigmoid %act (m.py:2): matched 2/2 ops, then fused_conv2d %conv has "
        "activation='relu', which is not 'none' (it already applies an activation)"
    ]


def test_not_a_decomposed_silu_whose_conv_output_is_used_elsewhere() -> None:
    text = _graph(
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%sig = sigmoid(%conv) : f32[N,2,4,4]  # m.py:2",
        "%act = mul(%conv, %sig) : f32[N,2,4,4]  # m.py:2",
        returns="%act, %conv",
    )
    assert _near_misses(text) == [
        f"{ACT} at sigmoid %sig (m.py:2): matched 2/2 ops, then %conv (conv2d) is also used "
        "elsewhere (3 uses), so fusing it would compute it twice",
        f"{SILU} at mul %act (m.py:2): matched 3/3 ops, then %conv (conv2d) is also used "
        "elsewhere (3 uses), so fusing it would compute it twice",
    ]


def test_an_activation_of_something_else_is_not_a_near_miss() -> None:
    text = _graph(
        "@c: f32[2,1,1] = [[[1.5]], [[-2.0]]]",
        "%conv = conv2d(%x, @w) : f32[N,2,4,4]  # m.py:1",
        "%pool = max_pool2d(%conv) {kernel=[1,1]} : f32[N,2,4,4]  # m.py:2",
        "%sum = add(%pool, @c) : f32[N,2,4,4]  # m.py:3",
        "%act = relu(%sum) : f32[N,2,4,4]  # m.py:4",
    )
    assert _near_misses(text) == []


# numerics: hand-written graphs with random weights ----------------------------------------------
def _random_conv(
    rng: np.random.Generator,
    tail: str,
    *,
    layout: str = "NCHW",
    conv_bias: bool = True,
    bias_shape: tuple[int, ...] | None = None,
) -> Graph:
    """x -> conv2d (random weights, 8 channels) -> [+ bias of ``bias_shape``] -> ``tail``
    ("relu", ..., "relu6", "x*sigmoid(x)" or "none")."""
    g = Graph("conv_act")
    x_shape = (2, 3, 9, 9) if layout == "NCHW" else (2, 9, 9, 3)
    x = g.add_input("x", TensorType.of("f32", x_shape))
    w = g.add_constant("w", rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32))
    ins = [x, w]
    if conv_bias:
        ins.append(g.add_constant("b", rng.normal(0, 0.3, 8).astype(np.float32)))
    y = g.add("conv2d", ins, {"pads": (1, 1, 1, 1), "layout": layout}).output
    if bias_shape is not None:
        c = g.add_constant("c", rng.normal(0, 0.5, bias_shape).astype(np.float32))
        y = g.add("add", [y, c]).output
    if tail == "relu6":
        y = g.add("clip", [y], {"min": 0.0, "max": 6.0}).output
    elif tail == "gelu_tanh":
        y = g.add("gelu", [y], {"approximate": "tanh"}).output
    elif tail == "x*sigmoid(x)":
        y = g.add("mul", [y, g.add("sigmoid", [y]).output]).output
    elif tail != "none":
        y = g.add(tail, [y]).output
    g.outputs = [y]
    return g


def _check_numerics(graph: Graph, exact: bool, fused: list[str]) -> None:
    """Reference before == (or ~) reference after; onnxruntime after ~ reference before."""
    x_shape = static_ints(graph.inputs[0].type.shape, "x")
    x = np.random.default_rng(3).normal(0, 1, x_shape).astype(np.float32)
    (name,) = [v.name for v in graph.outputs]
    before = ng.compile(graph, "O0")(x=x)[name]
    after = graph.copy()
    run_graph(FUSE_CONV_ACTIVATION, after)
    assert [n.op for n in after.nodes] == fused
    got = run_reference(after, {"x": x})[name]
    if exact:
        np.testing.assert_array_equal(got, before)
    else:
        np.testing.assert_allclose(got, before, RTOL, ATOL)
    ort = ng.compile(after, "O0", backend="ort-cpu")(x=x)[name]
    np.testing.assert_allclose(ort, before, PEER_RTOL, PEER_ATOL)


@pytest.mark.parametrize(
    "tail", ["relu", "relu6", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh", "x*sigmoid(x)"]
)
def test_fused_activation_keeps_the_result(tail: str) -> None:
    graph = _random_conv(np.random.default_rng(len(tail)), tail)
    _check_numerics(graph, exact=tail != "x*sigmoid(x)", fused=["fused_conv2d"])


BIASES: dict[str, dict[str, Any]] = {
    "c11": {"bias_shape": (8, 1, 1), "conv_bias": False},
    "1c11_merged": {"bias_shape": (1, 8, 1, 1)},
    "scalar": {"bias_shape": (1,)},
    "nhwc_c": {"bias_shape": (8,), "layout": "NHWC", "conv_bias": False},
    "nhwc_111c_merged": {"bias_shape": (1, 1, 1, 8), "layout": "NHWC"},
}


@pytest.mark.parametrize("case", sorted(BIASES))
@pytest.mark.parametrize("tail", ["relu", "none"])
def test_folded_bias_keeps_the_result(case: str, tail: str) -> None:
    graph = _random_conv(np.random.default_rng(len(case)), tail, **BIASES[case])
    _check_numerics(graph, exact=False, fused=["fused_conv2d" if tail == "relu" else "conv2d"])


# the O2 conv pipeline on the zoo and the PyTorch fixtures --------------------------------------
CONV_PASSES = (FOLD_CONV_BN, FUSE_CONV_ACTIVATION)


def _randomize_batch_norms(model: Any, rng: np.random.Generator) -> None:
    """Non-trivial BN statistics and affine parameters (the zoo initializes 1, 0, 0, 1)."""
    state = model.state_dict()
    for key in [k for k in state if k.endswith(".running_mean")]:
        base, n = key.removesuffix("running_mean"), state[key].shape
        state[base + "weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        state[base + "bias"] = rng.normal(0, 0.2, n).astype(np.float32)
        state[base + "running_mean"] = rng.normal(0, 0.5, n).astype(np.float32)
        state[base + "running_var"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
    model.load_state_dict(state)


def _optimized(graph: Graph) -> tuple[Graph, PipelineReport]:
    work = graph.copy()
    return work, run_pipeline(work, CONV_PASSES, verify_each=True)


RESIDUAL_BLOCKS = ("layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1")
ZOO = {  # model -> (BN folds, bias adds folded, activations fused): counted from the model code
    "lenet": {ACT: 2},  # conv1 + relu, conv2 + relu; no BN
    "resnet_small": {FOLD: 15, ACT: 7},  # 15 conv+BN; stem relu + each block's first relu
    "sagan": {FOLD: 2, ACT: 2},  # the stem's two conv+BN+relu; q/k/v 1x1 convs have no act
}


@pytest.mark.parametrize("model", sorted(ZOO))
def test_zoo_cnns_fuse_and_keep_their_results(model: str) -> None:
    rng = np.random.default_rng(0)
    module, spec = zoo_models()[model].build()
    _randomize_batch_norms(module, rng)
    graph = ng.trace(module, spec)
    fused, report = _optimized(graph)
    assert report.rewrite_counts() == ZOO[model]
    assert not any(n.op == "batch_norm" for n in fused.nodes)
    x_shape = (2, *static_ints(graph.inputs[0].type.shape[1:], "x"))
    x = rng.normal(0, 1, x_shape).astype(np.float32)
    before = ng.compile(graph, "O0")(x=x)
    after = run_reference(fused, {"x": x})
    ort = ng.compile(fused, "O0", backend="ort-cpu")(x=x)
    for name, want in before.items():
        np.testing.assert_allclose(after[name], want, RTOL, ATOL, err_msg=name)
        np.testing.assert_allclose(ort[name], want, PEER_RTOL, PEER_ATOL, err_msg=name)


def test_resnet_residual_relus_are_reported_not_fused() -> None:
    module, spec = zoo_models()["resnet_small"].build()
    _, report = _optimized(ng.trace(module, spec))
    misses = {m.anchor: m for m in report.near_misses}
    assert sorted(misses) == sorted(RESIDUAL_BLOCKS)
    block = misses["layer1.0"]
    assert (block.rule, block.location) == (ACT, "resnet_small.py:39")
    assert block.reason == (
        "relu's input %layer1.0.add is an add the conv cannot absorb: it adds two computed "
        "tensors (a residual: conv2d %layer1.0.bn2 and %relu), and fused_conv2d has no "
        "residual input; the relu stays separate"
    )


@pytest.mark.parametrize("exporter", ["classic", "dynamo"])
def test_pytorch_cnn_exports_fuse_and_match_pytorch(exporter: str) -> None:
    """Both exporters keep BatchNormalization in these fixtures (not folded by PyTorch)."""
    recorded = load_fixture(f"cnn_bn_{exporter}")
    assert sum(n.op_type == "BatchNormalization" for n in recorded.model.graph.node) == 2
    graph = import_onnx(recorded.path)
    fused, report = _optimized(graph)
    assert report.rewrite_counts() == {FOLD: 2, ACT: 2}
    assert [n.op for n in fused.nodes if "conv" in n.op] == ["fused_conv2d", "fused_conv2d"]
    x, torch_y = recorded.inputs["x"], recorded.outputs["y"]
    before = run_reference(graph, {"x": x})["y"]
    np.testing.assert_allclose(run_reference(fused, {"x": x})["y"], before, RTOL, ATOL)
    np.testing.assert_allclose(run_reference(fused, {"x": x})["y"], torch_y, PEER_RTOL, PEER_ATOL)
    ort = ng.compile(fused, "O0", backend="ort-cpu")(x=x)["y"]
    np.testing.assert_allclose(ort, torch_y, PEER_RTOL, PEER_ATOL)
