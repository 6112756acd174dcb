"""``fuse-qkv``: projections of one input -> one matmul/linear + split; packed ones -> split.

Golden tests use hand-written weights small enough to print inline, so the
concatenated constants are checked value by value.

Numeric tolerances: rtol 1e-5, atol 1e-5 for the reference interpreter
before vs after. The reference matmul accumulates in float64 and rounds once
to float32, so each output column is the same number whether it comes from
its own matmul or from a column block of the wide one: the results agree to
the bit, and the tolerance only absorbs nothing. Against PyTorch's recorded
outputs and onnxruntime (float32 accumulation in other orders), rtol 1e-4,
atol 1e-5, as in the fixture tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.api import optimize
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.model_loading import load_model
from nanograph.passes.fusion.linear import FUSE_LINEAR
from nanograph.passes.fusion.qkv_projection import FUSE_QKV, PACKED, SEPARATE
from nanograph.passes.manager import run_pipeline
from tests.fixtures.torch_onnx_fixtures import load_fixture
from tests.passes.golden import run_graph, run_text

RTOL, ATOL = 1e-5, 1e-5
ORT_RTOL, ORT_ATOL = 1e-4, 1e-5


# golden: separate projections ----------------------------------------------------------------
QKV = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,1]) {
  @wq: f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]
  @bq: f32[2] = [0.5, 0.25]
  @wk: f32[2,2] = [[5.0, 6.0], [7.0, 8.0]]
  @bk: f32[2] = [1.5, 1.25]
  @wv: f32[2,1] = [[9.0], [10.0]]
  @bv: f32[1] = [2.5]
  %q = linear(%x, @wq, @bq) : f32[N,2]  # m.py:1
  %r = relu(%q) : f32[N,2]  # m.py:4
  %k = linear(%x, @wk, @bk) : f32[N,2]  # m.py:2
  %v = linear(%x, @wv, @bv) : f32[N,1]  # m.py:3
  return %r, %k, %v
}
"""
# Columns of q, then k, then v (graph order); the split keeps the projections' names.
QKV_FUSED = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,1]) {
  @q.qkv.weight: f32[2,5] = [[1.0, 2.0, 5.0, 6.0, 9.0], [3.0, 4.0, 7.0, 8.0, 10.0]]
  @q.qkv.bias: f32[5] = [0.5, 0.25, 1.5, 1.25, 2.5]
  %q.qkv = linear(%x, @q.qkv.weight, @q.qkv.bias) : f32[N,5]  # m.py:1
  %q, %k, %v = split(%q.qkv) {axis=-1, sizes=[2,2,1]} : f32[N,2], f32[N,2], f32[N,1]  # m.py:1
  %r = relu(%q) : f32[N,2]  # m.py:4
  return %r, %k, %v
}
"""


def test_three_projections_of_one_input_become_one_linear_and_a_split() -> None:
    after, result = run_text(FUSE_QKV, QKV)
    assert after == QKV_FUSED
    assert result.stats == {SEPARATE: 1, "dead constants": 6}
    assert [str(r) for r in result.rewrites] == [
        f"{SEPARATE}: linear %q + linear %k + linear %v -> linear %q.qkv, split %q "
        "at m.py:1, m.py:2, m.py:3"
    ]
    assert result.near_misses == []


KV = """\
graph g(%x: f32[N,S,2], %mem: f32[N,T,2]) -> (f32[N,S,2], f32[N,T,2], f32[N,T,1]) {
  @wq: f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]
  @wk: f32[2,2] = [[5.0, 6.0], [7.0, 8.0]]
  @wv: f32[2,1] = [[9.0], [10.0]]
  %q = matmul(%x, @wq) : f32[N,S,2]  # m.py:1
  %k = matmul(%mem, @wk) : f32[N,T,2]  # m.py:2
  %v = matmul(%mem, @wv) : f32[N,T,1]  # m.py:3
  return %q, %k, %v
}
"""
KV_FUSED = """\
graph g(%x: f32[N,S,2], %mem: f32[N,T,2]) -> (f32[N,S,2], f32[N,T,2], f32[N,T,1]) {
  @wq: f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]
  @k.qkv.weight: f32[2,3] = [[5.0, 6.0, 9.0], [7.0, 8.0, 10.0]]
  %q = matmul(%x, @wq) : f32[N,S,2]  # m.py:1
  %k.qkv = matmul(%mem, @k.qkv.weight) : f32[N,T,3]  # m.py:2
  %k, %v = split(%k.qkv) {axis=-1, sizes=[2,1]} : f32[N,T,2], f32[N,T,1]  # m.py:2
  return %q, %k, %v
}
"""


def test_cross_attention_k_and_v_matmuls_fuse_and_q_of_another_input_stays() -> None:
    after, result = run_text(FUSE_QKV, KV)
    assert after == KV_FUSED
    assert result.stats == {SEPARATE: 1, "dead constants": 2}
    assert result.near_misses == []


MIXED = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,2]) {
  @wq: f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]
  @wk: f32[2,2] = [[5.0, 6.0], [7.0, 8.0]]
  @wv: f32[2,2] = [[9.0, 10.0], [11.0, 12.0]]
  %q = linear(%x, @wq) {activation="relu"} : f32[N,2]  # m.py:1
  %k = linear(%x, @wk) : f32[N,2]  # m.py:2
  %v = linear(%x, @wv) {activation="relu"} : f32[N,2]  # m.py:3
  return %q, %k, %v
}
"""
MIXED_FUSED = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,2]) {
  @wk: f32[2,2] = [[5.0, 6.0], [7.0, 8.0]]
  @q.qkv.weight: f32[2,4] = [[1.0, 2.0, 9.0, 10.0], [3.0, 4.0, 11.0, 12.0]]
  %q.qkv = linear(%x, @q.qkv.weight) {activation="relu"} : f32[N,4]  # m.py:1
  %q, %v = split(%q.qkv) {axis=-1, sizes=[2,2]} : f32[N,2], f32[N,2]  # m.py:1
  %k = linear(%x, @wk) : f32[N,2]  # m.py:2
  return %q, %k, %v
}
"""


def test_projections_with_another_activation_stay_apart_as_a_near_miss() -> None:
    after, result = run_text(FUSE_QKV, MIXED)
    assert after == MIXED_FUSED
    assert result.stats[SEPARATE] == 1
    assert [str(m) for m in result.near_misses] == [
        f"{SEPARATE} at linear %k (m.py:2): matched 2/3 ops, then linear %k has activation "
        "'none' but linear %q has 'relu' (a fused projection has one activation)"
    ]


def test_a_computed_weight_is_a_near_miss_and_the_others_still_fuse() -> None:
    text = QKV.replace("graph g(%x: f32[N,2])", "graph g(%x: f32[N,2], %wk: f32[2,2])")
    text = text.replace("  @wk: f32[2,2] = [[5.0, 6.0], [7.0, 8.0]]\n", "")
    text = text.replace("@wk, @bk", "%wk, @bk")
    graph = parse_graph(text)
    result = run_graph(FUSE_QKV, graph)
    assert result.stats[SEPARATE] == 1
    assert [m.reason for m in result.near_misses] == [
        "the weight %wk of linear %k is computed at run time, not a constant, so it cannot "
        "be concatenated with the others"
    ]
    assert [n.op for n in graph.nodes] == ["linear", "split", "relu", "linear"]


def test_a_bias_in_some_projections_only_is_a_near_miss() -> None:
    text = MIXED.replace("linear(%x, @wk)", "linear(%x, @wk, @bk)").replace(
        "  %q = ", "  @bk: f32[2] = [1.0, 2.0]\n  %q = "
    )
    text = text.replace('{activation="relu"} ', "")
    after, result = run_text(FUSE_QKV, text)
    assert "split(%q.qkv) {axis=-1, sizes=[2,2]}" in after
    assert [m.reason for m in result.near_misses] == [
        "linear %k has a bias but linear %q has none (a bias must be in all projections or none)"
    ]


def test_one_projection_of_an_input_is_not_news() -> None:
    text = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2]) {
  @wq: f32[2,2] = [[1.0, 2.0], [3.0, 4.0]]
  %q = matmul(%x, @wq) : f32[N,2]  # m.py:1
  %r = relu(%x) : f32[N,2]  # m.py:2
  return %q, %r
}
"""
    after, result = run_text(FUSE_QKV, text)
    assert after == text
    assert not result.changed and result.near_misses == []


# golden: packed in-projections ---------------------------------------------------------------
SLICED = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,2]) {
  @w: f32[2,6] = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]
  %qkv = linear(%x, @w) : f32[N,6]  # m.py:1
  %v = slice(%qkv) {axes=[-1], ends=[9223372036854775807], starts=[4]} : f32[N,2]  # m.py:4
  %q = slice(%qkv) {axes=[1], ends=[2], starts=[0]} : f32[N,2]  # m.py:2
  %k = slice(%qkv) {axes=[1], ends=[4], starts=[2]} : f32[N,2]  # m.py:3
  return %q, %k, %v
}
"""
SLICED_SPLIT = """\
graph g(%x: f32[N,2]) -> (f32[N,2], f32[N,2], f32[N,2]) {
  @w: f32[2,6] = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]
  %qkv = linear(%x, @w) : f32[N,6]  # m.py:1
  %q, %k, %v = split(%qkv) {axis=-1, sizes=[2,2,2]} : f32[N,2], f32[N,2], f32[N,2]  # m.py:4
  return %q, %k, %v
}
"""


def test_slices_tiling_a_packed_projection_become_one_split() -> None:
    after, result = run_text(FUSE_QKV, SLICED)
    assert after == SLICED_SPLIT
    assert result.stats == {PACKED: 1}
    assert [str(r) for r in result.rewrites] == [
        f"{PACKED}: linear %qkv + slice %v + slice %q + slice %k -> split %q "
        "at m.py:1, m.py:4, m.py:2, m.py:3"
    ]


def test_slices_that_leave_a_gap_are_a_near_miss() -> None:
    text = SLICED.replace("ends=[4], starts=[2]", "ends=[3], starts=[1]")
    after, result = run_text(FUSE_QKV, text)
    assert after == text
    assert [m.reason for m in result.near_misses] == [
        "the slices [0:2], [1:3], [4:6] of %qkv do not cut its last axis 0..6 in pieces"
    ]


# PyTorch's nn.MultiheadAttention: unflatten(-1, (3, E)).unsqueeze(0).transpose(0, -2)
# .squeeze(-2), then [0], [1], [2] (both exporters write this).
TORCH_PACKED = """\
graph g(%x: f32[S,N,2]) -> (f32[S,N,2], f32[S,N,2], f32[S,N,2]) {
  @w: f32[2,6] = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]
  @i0: i64[] = 0
  @i1: i64[] = 1
  @i2: i64[] = -1
  %qkv = linear(%x, @w) : f32[S,N,6]  # m.py:1
  %view = reshape(%qkv) {shape=[S,N,3,2]} : f32[S,N,3,2]  # m.py:2
  %unsq = unsqueeze(%view) {axes=[0]} : f32[1,S,N,3,2]  # m.py:2
  %swap = transpose(%unsq) {perm=[3,1,2,0,4]} : f32[3,S,N,1,2]  # m.py:2
  %sq = squeeze(%swap) {axes=[-2]} : f32[3,S,N,2]  # m.py:2
  %q = gather(%sq, @i0) : f32[S,N,2]  # m.py:3
  %k = gather(%sq, @i1) : f32[S,N,2]  # m.py:4
  %v = gather(%sq, @i2) : f32[S,N,2]  # m.py:5
  return %q, %k, %v
}
"""
TORCH_PACKED_SPLIT = """\
graph g(%x: f32[S,N,2]) -> (f32[S,N,2], f32[S,N,2], f32[S,N,2]) {
  @w: f32[2,6] = [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]]
  %qkv = linear(%x, @w) : f32[S,N,6]  # m.py:1
  %q, %k, %v = split(%qkv) {axis=-1, sizes=[2,2,2]} : f32[S,N,2], f32[S,N,2], f32[S,N,2]  # m.py:2
  return %q, %k, %v
}
"""


def test_torch_multihead_attention_packing_becomes_one_split() -> None:
    after, result = run_text(FUSE_QKV, TORCH_PACKED)
    assert after == TORCH_PACKED_SPLIT
    assert result.stats == {PACKED: 1, "dead constants": 3}


def test_the_packing_with_reshape_and_unsqueeze_merged_by_o1_becomes_one_split() -> None:
    text = TORCH_PACKED.replace(
        "  %view = reshape(%qkv) {shape=[S,N,3,2]} : f32[S,N,3,2]  # m.py:2\n"
        "  %unsq = unsqueeze(%view) {axes=[0]} : f32[1,S,N,3,2]  # m.py:2\n",
        "  %unsq = reshape(%qkv) {shape=[1,S,N,3,2]} : f32[1,S,N,3,2]  # m.py:2\n",
    )
    after, result = run_text(FUSE_QKV, text)
    assert after == TORCH_PACKED_SPLIT
    assert result.stats[PACKED] == 1


def test_a_squeeze_of_another_transpose_is_not_news() -> None:
    text = TORCH_PACKED.replace("perm=[3,1,2,0,4]", "perm=[3,2,1,0,4]").replace(
        "f32[3,S,N,1,2]", "f32[3,N,S,1,2]"
    )
    text = text.replace("f32[3,S,N,2]", "f32[3,N,S,2]").replace(
        "(f32[S,N,2], f32[S,N,2], f32[S,N,2]) {", "(f32[N,S,2], f32[N,S,2], f32[N,S,2]) {"
    )
    text = text.replace("@i0) : f32[S,N,2]", "@i0) : f32[N,S,2]").replace(
        "@i1) : f32[S,N,2]", "@i1) : f32[N,S,2]"
    )
    text = text.replace("@i2) : f32[S,N,2]", "@i2) : f32[N,S,2]")
    after, result = run_text(FUSE_QKV, text)
    assert after == text
    assert not result.changed and result.near_misses == []


def test_a_packed_projection_whose_bias_is_not_fused_yet_is_a_near_miss() -> None:
    text = TORCH_PACKED.replace(
        "  %qkv = linear(%x, @w) : f32[S,N,6]  # m.py:1\n",
        "  %mm = matmul(%x, @w) : f32[S,N,6]  # m.py:1\n"
        "  %qkv = add(%mm, @b) : f32[S,N,6]  # m.py:1\n",
    ).replace("  @i0:", "  @b: f32[6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]\n  @i0:")
    after, result = run_text(FUSE_QKV, text)
    assert after == text
    assert [str(m) for m in result.near_misses] == [
        f"{PACKED} at squeeze %sq (m.py:2): matched 4/4 ops, then the packed q/k/v %qkv is "
        "produced by add, not by a matmul or linear with a rank-2 weight (run fuse-linear "
        "first to absorb its bias)"
    ]


def test_a_squeezed_pack_used_by_a_non_select_is_a_near_miss() -> None:
    text = TORCH_PACKED.replace(
        "%v = gather(%sq, @i2) : f32[S,N,2]", "%v = relu(%sq) : f32[3,S,N,2]"
    )
    text = text.replace("f32[S,N,2]) {", "f32[3,S,N,2]) {")
    after, result = run_text(FUSE_QKV, text)
    assert after == text
    assert [m.reason for m in result.near_misses] == [
        "%sq is used by more than selects of one constant piece each"
    ]


# numerics: real exports ------------------------------------------------------------------------
@pytest.mark.parametrize("o1", [False, True], ids=["as-imported", "after-O1"])
@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("mha_classic", SEPARATE),
        ("mha_dynamo", SEPARATE),
        ("encoder_layer_classic", PACKED),
        ("encoder_layer_dynamo", PACKED),
    ],
)
def test_pytorch_exports_fuse_once_and_still_match_pytorch(name: str, rule: str, o1: bool) -> None:
    recorded = load_fixture(name)
    graph, inputs, expected = import_onnx(recorded.path), recorded.inputs, recorded.outputs
    if o1:
        graph, _ = optimize(graph, "O1")
    before = ng.compile(graph, "O0")(**inputs)
    report = run_pipeline(graph, [FUSE_LINEAR, FUSE_QKV], verify_each=True)
    qkv = report.record("fuse-qkv").result
    assert {k: v for k, v in qkv.stats.items() if k != "dead constants"} == {rule: 1}
    assert qkv.near_misses == []
    after = ng.compile(graph, "O0")(**inputs)
    ort = ng.compile(graph, "O0", backend="ort-cpu")(**inputs)
    for out, want in expected.items():
        np.testing.assert_allclose(after[out], before[out], rtol=RTOL, atol=ATOL, err_msg=out)
        np.testing.assert_allclose(after[out], want, rtol=ORT_RTOL, atol=ORT_ATOL, err_msg=out)
        np.testing.assert_allclose(ort[out], want, rtol=ORT_RTOL, atol=ORT_ATOL, err_msg=out)


# the zoo ---------------------------------------------------------------------------------------
def _after_o1(model: str) -> Graph:
    """The zoo model as O1 leaves it: the frontend traces ``nn.Linear`` as
    ``x @ transpose(@W) + b`` and O1 folds the transpose into a constant ``[in, out]``."""
    graph, _ = optimize(load_model(model).trace(), "O1")
    return graph


@pytest.mark.parametrize("model", ["pos_tagger", "vit_tiny", "banded_speech"])
def test_each_zoo_encoder_layer_gets_one_qkv_fusion(model: str) -> None:
    graph = _after_o1(model)
    report = run_pipeline(graph, [FUSE_LINEAR, FUSE_QKV], verify_each=True)
    assert report.rewrite_counts()[SEPARATE] == 2  # two encoder layers each
    assert report.near_misses == []


def test_without_o1_the_traced_transposed_weights_are_near_misses() -> None:
    graph = load_model("pos_tagger").trace()
    report = run_pipeline(graph, [FUSE_LINEAR, FUSE_QKV], verify_each=True)
    assert SEPARATE not in report.rewrite_counts()
    misses = [m for m in report.near_misses if m.rule == SEPARATE]
    assert len(misses) == 6  # q, k and v of both layers
    assert misses[0].reason == (
        "the weight %layers.0.self_attn.q_proj.transpose of linear %layers.0.self_attn.q_proj "
        "is computed at run time, not a constant, so it cannot be concatenated with the others"
    )


def test_pos_tagger_after_fusion_matches_the_reference() -> None:
    graph = _after_o1("pos_tagger")
    rng = np.random.default_rng(0)
    feeds = {"tokens": rng.integers(0, 1000, size=(2, 9)).astype(np.int64)}
    before = ng.compile(graph, "O0")(**feeds)
    run_pipeline(graph, [FUSE_LINEAR, FUSE_QKV], verify_each=True)
    after = ng.compile(graph, "O0")(**feeds)
    for out, want in before.items():
        np.testing.assert_allclose(after[out], want, rtol=RTOL, atol=ATOL, err_msg=out)
