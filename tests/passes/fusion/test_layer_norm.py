"""``recognize-layer-norm``: (x - mean) / sqrt(var + eps) * gamma + beta -> ``layer_norm``.

Golden tests write the decomposition as PyTorch's classic exporter emits it
below opset 17 (and its variants) as IR text; the expected text is one
``layer_norm`` named and located like the last op it replaces.

Numeric tolerances: rtol 1e-5, atol 1e-5 for the reference interpreter
before vs after. ``layer_norm``'s reference computes in float64 and rounds
once; the decomposed graph rounds to float32 after each of its nine ops
(the means are float64 sums rounded once), so on normalized values of size
O(1) they differ by a few float32 ulps (~1e-6 at most). A wrong epsilon,
axis or affine order is off by far more. onnxruntime's LayerNormalization
(float32) and PyTorch's recorded outputs are held to rtol 1e-4, atol 1e-5,
as in the fixture tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.api import optimize
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.text import parse_graph
from nanograph.passes.fusion.gelu import RECOGNIZE_GELU
from nanograph.passes.fusion.layer_norm import RECOGNIZE_LAYER_NORM
from nanograph.passes.fusion.linear import FUSE_LINEAR
from nanograph.passes.manager import run_pipeline
from tests.fixtures.torch_onnx_fixtures import load_fixture
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5
NORMALIZE, SCALE, SHIFT = (
    "mean-variance->layer_norm",
    "layer_norm*scale->layer_norm",
    "layer_norm+bias->layer_norm",
)
FIXTURE = "decomposed/ln_gelu_classic14"
EPS = "epsilon=9.999999747378752e-06"  # 1e-5 as float32 stores it


# golden: where it fires ------------------------------------------------------------------------
CLASSIC = """\
graph g(%x: f32[N,S,4]) -> (f32[N,S,4]) {
  @two: f32[] = 2.0
  @eps: f32[] = 1e-05
  @gamma: f32[4] = [1.0, 2.0, 3.0, 4.0]
  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]
  %mean = reduce_mean(%x) {axes=[-1], keepdims=true} : f32[N,S,1]  # m.py:1
  %d = sub(%x, %mean) : f32[N,S,4]  # m.py:2
  %sq = pow(%d, @two) : f32[N,S,4]  # m.py:3
  %var = reduce_mean(%sq) {axes=[-1], keepdims=true} : f32[N,S,1]  # m.py:4
  %ve = add(%var, @eps) : f32[N,S,1]  # m.py:5
  %std = sqrt(%ve) : f32[N,S,1]  # m.py:6
  %n = div(%d, %std) : f32[N,S,4]  # m.py:7
  %scaled = mul(%n, @gamma) : f32[N,S,4]  # m.py:8
  %y = add(%scaled, @beta) : f32[N,S,4]  # m.py:9
  return %y
}
"""
CLASSIC_FUSED = f"""\
graph g(%x: f32[N,S,4]) -> (f32[N,S,4]) {{
  @gamma: f32[4] = [1.0, 2.0, 3.0, 4.0]
  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]
  %y = layer_norm(%x, @gamma, @beta) {{{EPS}}} : f32[N,S,4]  # m.py:9
  return %y
}}
"""


def test_pytorch_classic_layer_norm_becomes_one_layer_norm() -> None:
    after, result = run_text(RECOGNIZE_LAYER_NORM, CLASSIC)
    assert after == CLASSIC_FUSED
    assert result.stats == {NORMALIZE: 1, SCALE: 1, SHIFT: 1, "dead constants": 2}
    assert [str(r) for r in result.rewrites] == [
        f"{NORMALIZE}: div %n + sub %d + reduce_mean %mean + sqrt %std + add %ve + "
        "reduce_mean %var + pow %sq -> layer_norm %n "
        "at m.py:7, m.py:2, m.py:1, m.py:6, m.py:5, m.py:4, m.py:3",
        f"{SCALE}: mul %scaled + layer_norm %n -> layer_norm %scaled at m.py:8, m.py:7",
        f"{SHIFT}: add %y + layer_norm %scaled -> layer_norm %y at m.py:9, m.py:8",
    ]
    assert result.near_misses == []


NO_AFFINE = CLASSIC.replace(
    "  %scaled = mul(%n, @gamma) : f32[N,S,4]  # m.py:8\n"
    "  %y = add(%scaled, @beta) : f32[N,S,4]  # m.py:9\n",
    "",
).replace("return %y", "return %n")
NO_AFFINE_FUSED = f"""\
graph g(%x: f32[N,S,4]) -> (f32[N,S,4]) {{
  @gamma: f32[4] = [1.0, 2.0, 3.0, 4.0]
  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]
  %n = layer_norm(%x) {{{EPS}}} : f32[N,S,4]  # m.py:7
  return %n
}}
"""


@pytest.mark.parametrize(
    ("variant", "lines"),
    [
        ("div by sqrt", None),
        ("d * d", {"%sq = pow(%d, @two)": "%sq = mul(%d, %d)", "  @two: f32[] = 2.0\n": ""}),
        (
            "times reciprocal(sqrt)",
            {
                "%n = div(%d, %std) : f32[N,S,4]": "%r = reciprocal(%std) : f32[N,S,1]  # m.py:7\n"
                "  %n = mul(%r, %d) : f32[N,S,4]"
            },
        ),
        (
            "times 1 / sqrt",
            {
                "%n = div(%d, %std) : f32[N,S,4]": "%r = div(@one, %std) : f32[N,S,1]  # m.py:7\n"
                "  %n = mul(%d, %r) : f32[N,S,4]",
                "  @two:": "  @one: f32[] = 1.0\n  @two:",
            },
        ),
        (
            "times (v + eps)^-0.5",
            {
                "%std = sqrt(%ve) : f32[N,S,1]": "%std = pow(%ve, @rsqrt) : f32[N,S,1]",
                "%n = div(%d, %std)": "%n = mul(%d, %std)",
                "  @two:": "  @rsqrt: f32[] = -0.5\n  @two:",
            },
        ),
    ],
)
def test_every_normalization_variant_without_affine_becomes_layer_norm(
    variant: str, lines: dict[str, str] | None
) -> None:
    text = NO_AFFINE
    for old, new in (lines or {}).items():
        assert old in text, variant
        text = text.replace(old, new)
    after, result = run_text(RECOGNIZE_LAYER_NORM, text)
    assert after == NO_AFFINE_FUSED
    assert result.stats[NORMALIZE] == 1
    assert result.near_misses == []


def test_two_trailing_axes_give_axis_minus_two() -> None:
    text = (
        NO_AFFINE.replace("axes=[-1]", "axes=[1,2]")
        .replace("f32[N,S,1]", "f32[N,1,1]")
        .replace("f32[N,S,4]", "f32[N,3,4]")
    )
    after, result = run_text(RECOGNIZE_LAYER_NORM, text)
    assert f"%n = layer_norm(%x) {{axis=-2, {EPS}}} : f32[N,3,4]  # m.py:7" in after
    assert result.stats[NORMALIZE] == 1


def test_a_bias_without_scale_gets_a_scale_of_ones() -> None:
    text = CLASSIC.replace("  %scaled = mul(%n, @gamma) : f32[N,S,4]  # m.py:8\n", "")
    after, result = run_text(
        RECOGNIZE_LAYER_NORM, text.replace("add(%scaled, @beta)", "add(@beta, %n)")
    )
    assert after == (
        "graph g(%x: f32[N,S,4]) -> (f32[N,S,4]) {\n"
        "  @gamma: f32[4] = [1.0, 2.0, 3.0, 4.0]\n"
        "  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]\n"
        "  @beta.ones: f32[4] = [1.0, 1.0, 1.0, 1.0]\n"
        f"  %y = layer_norm(%x, @beta.ones, @beta) {{{EPS}}} : f32[N,S,4]  # m.py:9\n"
        "  return %y\n"
        "}\n"
    )
    assert result.stats[SHIFT] == 1


def test_a_scale_of_shape_1_1_d_is_reshaped_to_d() -> None:
    text = CLASSIC.replace("@gamma: f32[4] = [1.0,", "@gamma: f32[1,1,4] = [[[1.0,").replace(
        "4.0]\n  @beta", "4.0]]]\n  @beta"
    )
    after, result = run_text(RECOGNIZE_LAYER_NORM, text)
    assert after == CLASSIC_FUSED.replace(
        "  @gamma: f32[4] = [1.0, 2.0, 3.0, 4.0]\n  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]\n",
        "  @beta: f32[4] = [0.5, 0.25, 0.125, 0.0]\n"
        "  @gamma.reshaped: f32[4] = [1.0, 2.0, 3.0, 4.0]\n",
    ).replace("@gamma, @beta", "@gamma.reshaped, @beta")
    assert result.stats[SCALE] == 1


# golden: where it must not fire, and why -------------------------------------------------------
def _only_miss(text: str) -> str:
    after, result = run_text(RECOGNIZE_LAYER_NORM, text)
    assert after == text
    assert len(result.near_misses) == 1, [str(m) for m in result.near_misses]
    return str(result.near_misses[0])


def test_a_mean_over_a_middle_axis_is_not_a_layer_norm() -> None:
    text = NO_AFFINE.replace("axes=[-1]", "axes=[1]").replace("f32[N,S,1]", "f32[N,1,4]")
    assert _only_miss(text) == (
        # 8: the pattern's longest alternative (times reciprocal(sqrt)) has one op more
        f"{NORMALIZE} at div %n (m.py:7): matched 8/8 ops, then reduce_mean %mean reduces "
        "axes [1] of %x: f32[N,S,4], not its trailing axes"
    )


def test_mean_and_variance_over_different_axes_are_refused() -> None:
    text = NO_AFFINE.replace(
        "%var = reduce_mean(%sq) {axes=[-1], keepdims=true} : f32[N,S,1]",
        "%var = reduce_mean(%sq) {axes=[1,2], keepdims=true} : f32[N,1,1]",
    )
    text = text.replace("%ve = add(%var, @eps) : f32[N,S,1]", "%ve = add(%var, @eps) : f32[N,1,1]")
    text = text.replace("%std = sqrt(%ve) : f32[N,S,1]", "%std = sqrt(%ve) : f32[N,1,1]")
    assert _only_miss(text).endswith(
        "the mean %mean reduces axes [2] but the variance %var axes [1, 2]"
    )


def test_a_mean_of_another_tensor_is_refused() -> None:
    text = NO_AFFINE.replace("graph g(%x: f32[N,S,4])", "graph g(%x: f32[N,S,4], %w: f32[N,S,4])")
    text = text.replace("reduce_mean(%x)", "reduce_mean(%w)")
    assert _only_miss(text).endswith("matched 3/8 ops, then %w is not %x (both must be 'x')")


def test_a_centered_value_used_elsewhere_is_refused() -> None:
    text = NO_AFFINE.replace("-> (f32[N,S,4])", "-> (f32[N,S,4], f32[N,S,4])").replace(
        "return %n", "return %n, %d"
    )
    assert _only_miss(text).endswith(
        "x - mean(x) %d is also used by a graph output, so fusing would compute it twice"
    )


def test_a_mean_without_keepdims_is_refused() -> None:
    text = """\
graph g(%x: f32[4,4]) -> (f32[4,4]) {
  @two: f32[] = 2.0
  @eps: f32[] = 1e-05
  %mean = reduce_mean(%x) {axes=[-1]} : f32[4]  # m.py:1
  %d = sub(%x, %mean) : f32[4,4]  # m.py:2
  %sq = pow(%d, @two) : f32[4,4]  # m.py:3
  %var = reduce_mean(%sq) {axes=[-1], keepdims=true} : f32[4,1]  # m.py:4
  %ve = add(%var, @eps) : f32[4,1]  # m.py:5
  %std = sqrt(%ve) : f32[4,1]  # m.py:6
  %n = div(%d, %std) : f32[4,4]  # m.py:7
  return %n
}
"""
    assert _only_miss(text).endswith("reduce_mean %mean has keepdims=False, not True")


def test_a_cube_is_not_a_variance() -> None:
    text = NO_AFFINE.replace("@two: f32[] = 2.0", "@two: f32[] = 3.0")
    assert _only_miss(text).endswith("%two is not a one-element constant = 2")


def test_a_scale_that_varies_along_a_batch_axis_is_refused() -> None:
    text = NO_AFFINE.replace("graph g(%x: f32[N,S,4])", "graph g(%x: f32[N,S,4], %g: f32[S,4])")
    text = text.replace("  return %n", "  %y = mul(%n, %g) : f32[N,S,4]  # m.py:8\n  return %y")
    graph = parse_graph(text)
    result = run_graph(RECOGNIZE_LAYER_NORM, graph)
    assert result.stats[NORMALIZE] == 1 and SCALE not in result.stats
    assert [m.reason for m in result.near_misses] == [
        "gamma %g: f32[S,4] varies along axes that layer_norm %n does not normalize "
        "(its last 1 of f32[N,S,4])"
    ]


# numerics ------------------------------------------------------------------------------------
def test_recognized_layer_norm_matches_the_formula_and_onnxruntime() -> None:
    rng = np.random.default_rng(0)
    graph = parse_graph(
        CLASSIC.replace(" = [1.0, 2.0, 3.0, 4.0]", "").replace(" = [0.5, 0.25, 0.125, 0.0]", ""),
        {
            "gamma": rng.uniform(0.5, 1.5, 4).astype(np.float32),
            "beta": rng.standard_normal(4).astype(np.float32),
        },
    )
    feeds = {"x": (rng.standard_normal((3, 5, 4)) * 3 + 1).astype(np.float32)}
    before = ng.compile(graph, "O0")(**feeds)["y"]
    assert run_graph(RECOGNIZE_LAYER_NORM, graph).stats[SHIFT] == 1
    after = ng.compile(graph, "O0")(**feeds)["y"]
    np.testing.assert_allclose(after, before, rtol=RTOL, atol=ATOL)
    ort = ng.compile(graph, "O0", backend="ort-cpu")(**feeds)["y"]
    np.testing.assert_allclose(ort, before, rtol=ORT_RTOL, atol=ORT_ATOL)


@pytest.mark.parametrize("o1", [False, True], ids=["as-imported", "after-O1"])
def test_pytorch_classic_opset14_export_fuses_to_five_ops_and_matches_pytorch(o1: bool) -> None:
    """Linear -> LayerNorm -> GELU -> GELU(tanh) -> Linear, written out by the exporter."""
    recorded = load_fixture(FIXTURE)
    graph = import_onnx(recorded.path)
    if o1:  # folds nothing here, but CSE shares the two GELUs' equal constants
        graph, _ = optimize(graph, "O1")
    x, want = recorded.inputs["x"], recorded.outputs["y"]
    before = ng.compile(graph, "O0")(x=x)["y"]
    report = run_pipeline(
        graph, [RECOGNIZE_GELU, RECOGNIZE_LAYER_NORM, FUSE_LINEAR], verify_each=True
    )
    assert [n.op for n in graph.nodes] == ["linear", "layer_norm", "gelu", "gelu", "linear"]
    assert report.near_misses == []
    after = ng.compile(graph, "O0")(x=x)["y"]
    np.testing.assert_allclose(after, before, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(after, want, rtol=ORT_RTOL, atol=ORT_ATOL)
    ort = ng.compile(graph, "O0", backend="ort-cpu")(x=x)["y"]
    np.testing.assert_allclose(ort, want, rtol=ORT_RTOL, atol=ORT_ATOL)
