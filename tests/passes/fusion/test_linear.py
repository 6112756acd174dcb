"""``fuse-linear``: matmul(x, W) + b (+ activation) -> linear(x, W, b, activation).

Golden tests parse a small graph as O1 leaves the frontend's ``nn.Linear``
(a constant ``[in, out]`` weight; O1 folds the traced ``transpose(@W)``),
run the pass and compare the printed IR with the expected text.

Numeric tolerances: rtol 1e-5, atol 1e-5 for the reference interpreter
before vs after. ``linear``'s reference *is* matmul, add and the activation
(the same NumPy calls in the same order), so the two agree to the bit; the
tolerance only leaves room for nothing at all to change, while a lost bias
or a wrong activation is off by O(0.1). onnxruntime (float32 GEMM in its own
accumulation order) is held to rtol 1e-4, atol 1e-5, as in the fixture tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.passes.fusion.linear import FUSE_LINEAR
from nanograph.passes.records import PassResult
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
MATMUL_ADD, LINEAR_ACT, MATMUL_ACT = (
    "matmul+add->linear",
    "linear+activation->linear",
    "matmul+activation->linear",
)
SILU = "linear+x*sigmoid(x)->linear"


def _only_miss(result: PassResult) -> str:
    assert result.rewrites == [], [str(r) for r in result.rewrites]
    assert len(result.near_misses) == 1, [str(m) for m in result.near_misses]
    return result.near_misses[0].reason


# golden: where it fires -----------------------------------------------------------------
DENSE = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @b: f32[3] = [0.5, 0.25, 0.125]
  %mm = matmul(%x, @w) : f32[N,3]  # m.py:1
  %y = add(@b, %mm) : f32[N,3]  # m.py:2
  return %y
}
"""
DENSE_FUSED = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @b: f32[3] = [0.5, 0.25, 0.125]
  %y = linear(%x, @w, @b) : f32[N,3]  # m.py:2
  return %y
}
"""


def test_matmul_plus_bias_becomes_linear_with_the_bias_on_either_side() -> None:
    after, result = run_text(FUSE_LINEAR, DENSE)
    assert after == DENSE_FUSED
    assert [str(r) for r in result.rewrites] == [
        f"{MATMUL_ADD}: add %y + matmul %mm -> linear %y at m.py:2, m.py:1"
    ]
    assert result.near_misses == []
    swapped, _ = run_text(FUSE_LINEAR, DENSE.replace("add(@b, %mm)", "add(%mm, @b)"))
    assert swapped == DENSE_FUSED


DENSE_RELU = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @b: f32[3] = [0.5, 0.25, 0.125]
  %mm = matmul(%x, @w) : f32[N,3]  # m.py:1
  %lin = add(%mm, @b) : f32[N,3]  # m.py:1
  %y = relu(%lin) : f32[N,3]  # m.py:2
  return %y
}
"""
DENSE_RELU_FUSED = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @b: f32[3] = [0.5, 0.25, 0.125]
  %y = linear(%x, @w, @b) {activation="relu"} : f32[N,3]  # m.py:2
  return %y
}
"""


def test_a_following_activation_folds_into_the_linear() -> None:
    after, result = run_text(FUSE_LINEAR, DENSE_RELU)
    assert after == DENSE_RELU_FUSED
    assert result.stats == {MATMUL_ADD: 1, LINEAR_ACT: 1}


@pytest.mark.parametrize(
    ("node", "activation"),
    [
        ("relu(%lin)", "relu"),
        ("clip(%lin) {max=6.0, min=0.0}", "relu6"),
        ("clip(%lin) {min=0.0}", "relu"),
        ("gelu(%lin)", "gelu"),
        ('gelu(%lin) {approximate="tanh"}', "gelu_tanh"),
        ("silu(%lin)", "silu"),
        ("sigmoid(%lin)", "sigmoid"),
        ("tanh(%lin)", "tanh"),
    ],
)
def test_each_activation_maps_to_its_linear_attribute(node: str, activation: str) -> None:
    after, result = run_text(FUSE_LINEAR, DENSE_RELU.replace("relu(%lin)", node))
    assert after == DENSE_RELU_FUSED.replace('"relu"', f'"{activation}"')
    assert result.stats[LINEAR_ACT] == 1


def test_silu_written_as_y_times_sigmoid_y_folds_as_silu() -> None:
    text = DENSE_RELU.replace(
        "  %y = relu(%lin) : f32[N,3]  # m.py:2\n",
        "  %sig = sigmoid(%lin) : f32[N,3]  # m.py:2\n"
        "  %y = mul(%sig, %lin) : f32[N,3]  # m.py:2\n",
    )
    after, result = run_text(FUSE_LINEAR, text)
    assert after == DENSE_RELU_FUSED.replace('"relu"', '"silu"')
    assert result.stats == {MATMUL_ADD: 1, SILU: 1}
    assert result.near_misses == []  # (the sigmoid alone was one, but it is gone)


def test_y_times_sigmoid_y_with_y_used_elsewhere_is_refused() -> None:
    text = (
        DENSE_RELU.replace(
            "  %y = relu(%lin) : f32[N,3]  # m.py:2\n",
            "  %sig = sigmoid(%lin) : f32[N,3]  # m.py:2\n"
            "  %y = mul(%lin, %sig) : f32[N,3]  # m.py:2\n",
        )
        .replace("-> (f32[N,3])", "-> (f32[N,3], f32[N,3])")
        .replace("return %y", "return %y, %lin")
    )
    graph = parse_graph(text)
    result = run_graph(FUSE_LINEAR, graph)
    assert result.stats == {MATMUL_ADD: 1}
    assert sorted(str(m) for m in result.near_misses) == [
        f"{LINEAR_ACT} at sigmoid %sig (m.py:2): matched 2/2 ops, then %lin (linear) is also "
        "used elsewhere (3 uses), so fusing it would compute it twice",
        f"{SILU} at mul %y (m.py:2): matched 3/3 ops, then %lin (linear) is also used "
        "elsewhere (3 uses), so fusing it would compute it twice",
    ]


NO_BIAS_RELU = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %mm = matmul(%x, @w) : f32[N,3]  # m.py:1
  %y = sigmoid(%mm) : f32[N,3]  # m.py:2
  return %y
}
"""
NO_BIAS_RELU_FUSED = """\
graph g(%x: f32[N,2]) -> (f32[N,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %y = linear(%x, @w) {activation="sigmoid"} : f32[N,3]  # m.py:2
  return %y
}
"""


def test_matmul_then_activation_without_bias_becomes_linear() -> None:
    after, result = run_text(FUSE_LINEAR, NO_BIAS_RELU)
    assert after == NO_BIAS_RELU_FUSED
    assert result.stats == {MATMUL_ACT: 1}


def test_a_bare_matmul_stays_a_matmul() -> None:
    text = NO_BIAS_RELU.replace("  %y = sigmoid(%mm) : f32[N,3]  # m.py:2\n", "").replace(
        "return %y", "return %mm"
    )
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert not result.changed and result.near_misses == []


ROW_BIAS = """\
graph g(%x: f32[N,S,2]) -> (f32[N,S,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @b: f32[1,1,3] = [[[0.5, 0.25, 0.125]]]
  @c: f32[1] = [2.0]
  %mm = matmul(%x, @w) : f32[N,S,3]  # m.py:1
  %lin = add(%mm, @b) : f32[N,S,3]  # m.py:1
  %mm_1 = matmul(%lin, @w2) : f32[N,S,3]  # m.py:2
  %y = add(@c, %mm_1) : f32[N,S,3]  # m.py:2
  return %y
}
"""
ROW_BIAS_FUSED = """\
graph g(%x: f32[N,S,2]) -> (f32[N,S,3]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @w2: f32[3,3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
  @b.vector: f32[3] = [0.5, 0.25, 0.125]
  @c.vector: f32[3] = [2.0, 2.0, 2.0]
  %lin = linear(%x, @w, @b.vector) : f32[N,S,3]  # m.py:1
  %y = linear(%lin, @w2, @c.vector) : f32[N,S,3]  # m.py:2
  return %y
}
"""


def test_a_constant_bias_of_shape_1_1_out_or_one_element_is_made_a_vector() -> None:
    text = ROW_BIAS.replace(
        "  @c:", "  @w2: f32[3,3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]\n  @c:"
    )
    after, result = run_text(FUSE_LINEAR, text)
    assert after == ROW_BIAS_FUSED
    assert result.stats == {MATMUL_ADD: 2, "dead constants": 2}


COMPUTED = """\
graph g(%x: f32[N,2], %w: f32[2,3], %b: f32[1,3]) -> (f32[N,3]) {
  %mm = matmul(%x, %w) : f32[N,3]  # m.py:1
  %y = add(%mm, %b) : f32[N,3]  # m.py:2
  return %y
}
"""
COMPUTED_FUSED = """\
graph g(%x: f32[N,2], %w: f32[2,3], %b: f32[1,3]) -> (f32[N,3]) {
  %y.reshape = reshape(%b) {shape=[3]} : f32[3]  # m.py:2
  %y = linear(%x, %w, %y.reshape) : f32[N,3]  # m.py:2
  return %y
}
"""


def test_a_computed_weight_and_row_bias_are_accepted_the_bias_reshaped() -> None:
    after, result = run_text(FUSE_LINEAR, COMPUTED)
    assert after == COMPUTED_FUSED
    assert result.stats == {MATMUL_ADD: 1}


# golden: where it must not fire, and why ---------------------------------------------------
def test_a_batched_matmul_is_not_a_linear_layer() -> None:
    text = """\
graph g(%q: f32[N,4,S,8], %k: f32[N,4,8,S]) -> (f32[N,4,S,S]) {
  @mask: f32[S,S]
  %scores = matmul(%q, %k) : f32[N,4,S,S]  # m.py:1
  %y = add(%scores, @mask) : f32[N,4,S,S]  # m.py:2
  return %y
}
"""
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert _only_miss(result) == (
        "the weight %k of matmul %scores is f32[N,4,8,S], not a rank-2 [in, out] matrix "
        "(a batched matmul is not a linear layer)"
    )


@pytest.mark.parametrize(
    ("bias", "out_type", "reason"),
    [
        (
            "f32[4,1]",
            "f32[4,3]",
            "%b: f32[4,1] is not one bias value per output feature (shape [3], or [1, .., 1, 3])",
        ),
        (
            "f32[2,1,3]",
            "f32[2,4,3]",
            "adding %b: f32[2,1,3] broadcasts matmul %mm: f32[4,3] to f32[2,4,3], "
            "so it is not a bias",
        ),
    ],
)
def test_a_bias_that_is_not_per_output_feature_is_refused(
    bias: str, out_type: str, reason: str
) -> None:
    text = f"""\
graph g(%x: f32[4,2], %b: {bias}) -> ({out_type}) {{
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %mm = matmul(%x, @w) : f32[4,3]  # m.py:1
  %y = add(%mm, %b) : {out_type}  # m.py:2
  return %y
}}
"""
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert _only_miss(result) == reason


def test_a_matmul_used_twice_is_not_fused() -> None:
    text = DENSE.replace("-> (f32[N,3])", "-> (f32[N,3], f32[N,3])").replace(
        "return %y", "return %y, %mm"
    )
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert _only_miss(result) == (
        "%mm (matmul) is also used elsewhere (2 uses), so fusing it would compute it twice"
    )


def test_an_integer_matmul_stays() -> None:
    text = """\
graph g(%x: i64[N,2]) -> (i64[N,2]) {
  @w: i64[2,2] = [[1, 2], [3, 4]]
  @b: i64[2] = [5, 6]
  %mm = matmul(%x, @w) : i64[N,2]  # m.py:1
  %y = add(%mm, @b) : i64[N,2]  # m.py:2
  return %y
}
"""
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert _only_miss(result) == "matmul %mm multiplies i64 values; linear is float-only"


def test_a_clip_with_other_bounds_is_not_an_activation() -> None:
    text = DENSE_RELU.replace("relu(%lin)", "clip(%lin) {max=1.0, min=-1.0}")
    after, result = run_text(FUSE_LINEAR, text)
    assert after == DENSE_RELU_FUSED.replace(
        '  %y = linear(%x, @w, @b) {activation="relu"} : f32[N,3]  # m.py:2\n',
        "  %lin = linear(%x, @w, @b) : f32[N,3]  # m.py:1\n"
        "  %y = clip(%lin) {max=1.0, min=-1.0} : f32[N,3]  # m.py:2\n",
    )
    assert result.stats == {MATMUL_ADD: 1}
    assert [m.reason for m in result.near_misses] == [
        "clip %y has bounds [-1.0, 1.0]; only [0, 6] (relu6) and [0, inf] (relu) are "
        "linear activations"
    ]


def test_a_computed_weight_without_bias_keeps_its_activation_apart() -> None:
    text = """\
graph g(%x: f32[N,2], %w: f32[2,3]) -> (f32[N,3]) {
  %mm = matmul(%x, %w) : f32[N,3]  # m.py:1
  %y = relu(%mm) : f32[N,3]  # m.py:2
  return %y
}
"""
    after, result = run_text(FUSE_LINEAR, text)
    assert after == text
    assert _only_miss(result) == (
        "the weight %w of matmul %mm is computed at run time; a matmul without a bias "
        "becomes linear only with a constant weight"
    )


# numerics -----------------------------------------------------------------------------------
def _mlp() -> tuple[Graph, dict[str, np.ndarray]]:
    """x -> linear+gelu -> linear+relu6 -> matmul+tanh (no bias), random weights."""
    rng = np.random.default_rng(0)
    arrays = {
        "w1": rng.standard_normal((6, 8)).astype(np.float32),
        "b1": rng.standard_normal(8).astype(np.float32),
        "w2": rng.standard_normal((8, 5)).astype(np.float32),
        "b2": rng.standard_normal((1, 5)).astype(np.float32),
        "w3": rng.standard_normal((5, 4)).astype(np.float32),
    }
    graph = parse_graph(
        """\
graph mlp(%x: f32[N,S,6]) -> (f32[N,S,4]) {
  @w1: f32[6,8]
  @b1: f32[8]
  @w2: f32[8,5]
  @b2: f32[1,5]
  @w3: f32[5,4]
  %mm1 = matmul(%x, @w1) : f32[N,S,8]
  %l1 = add(%mm1, @b1) : f32[N,S,8]
  %a1 = gelu(%l1) : f32[N,S,8]
  %mm2 = matmul(%a1, @w2) : f32[N,S,5]
  %l2 = add(@b2, %mm2) : f32[N,S,5]
  %a2 = clip(%l2) {max=6.0, min=0.0} : f32[N,S,5]
  %mm3 = matmul(%a2, @w3) : f32[N,S,4]
  %y = tanh(%mm3) : f32[N,S,4]
  return %y
}
""",
        arrays,
    )
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    return graph, {"x": x}


def test_fused_mlp_matches_the_reference_and_onnxruntime() -> None:
    graph, feeds = _mlp()
    before = ng.compile(graph, "O0")(**feeds)["y"]
    result = run_graph(FUSE_LINEAR, graph)
    assert result.stats == {MATMUL_ADD: 2, LINEAR_ACT: 2, MATMUL_ACT: 1, "dead constants": 1}
    assert [n.op for n in graph.nodes] == ["linear", "linear", "linear"]
    after = ng.compile(graph, "O0")(**feeds)["y"]
    np.testing.assert_allclose(after, before, rtol=RTOL, atol=ATOL)
    ort = ng.compile(graph, "O0", backend="ort-cpu")(**feeds)["y"]
    np.testing.assert_allclose(ort, before, rtol=ORT_RTOL, atol=ORT_ATOL)
