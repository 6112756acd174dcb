"""``fold-constants``: nodes of constants become constants, named after what they compute.

Golden tests parse a small graph, run the pass (verifying after it) and
compare the printed IR with text written here by hand (the folded values
worked out by hand too: a transposed 2x3 matrix, 1/sqrt(16)). Graphs where
it must not fold check the exact near miss it reports. Numeric tests compare
the reference interpreter before and after: folding runs the op's own
reference on the same data, so results are identical (``assert_array_equal``).
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.ir.types import TensorType
from nanograph.passes.canonicalize import fold_constants as fold_module
from nanograph.passes.canonicalize.fold_constants import FOLD_CONSTANTS
from nanograph.passes.canonicalize.node_to_constants import replace_by_constants
from tests.passes.golden import misses, rewrites, run_text

LINEAR = """\
graph g(%x: f32[N,3]) -> (f32[N,2]) {
  @fc.weight: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  @fc.bias: f32[2] = [0.5, -0.5]
  %fc.transpose = transpose(@fc.weight) {perm=[1,0]} : f32[3,2]  # m.py:1
  %fc.matmul = matmul(%x, %fc.transpose) : f32[N,2]  # m.py:1
  %fc = add(%fc.matmul, @fc.bias) : f32[N,2]  # m.py:1
  return %fc
}
"""
LINEAR_FOLDED = """\
graph g(%x: f32[N,3]) -> (f32[N,2]) {
  @fc.bias: f32[2] = [0.5, -0.5]
  @fc.transpose: f32[3,2] = [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
  %fc.matmul = matmul(%x, @fc.transpose) : f32[N,2]  # m.py:1
  %fc = add(%fc.matmul, @fc.bias) : f32[N,2]  # m.py:1
  return %fc
}
"""


def test_the_transposed_weight_of_a_linear_is_folded_and_the_weight_freed() -> None:
    after, result = run_text(FOLD_CONSTANTS, LINEAR)
    assert after == LINEAR_FOLDED
    assert rewrites(result) == [
        "fold-constants: transpose %fc.transpose -> constant @fc.transpose at m.py:1"
    ]
    assert result.stats == {"fold-constants": 1, "constants freed": 1}
    assert result.near_misses == []


SCALE = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  @d: i64[] = 16
  %df = cast(@d) {to=f32} : f32[]  # m.py:1
  %root = sqrt(%df) : f32[]  # m.py:2
  %scale = reciprocal(%root) : f32[]  # m.py:3
  %y = mul(%x, %scale) : f32[N,4]  # m.py:4
  return %y
}
"""
SCALE_FOLDED = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  @scale: f32[] = 0.25
  %y = mul(%x, @scale) : f32[N,4]  # m.py:4
  return %y
}
"""


def test_a_chain_of_constant_ops_folds_in_one_walk_and_keeps_dtypes() -> None:
    after, result = run_text(FOLD_CONSTANTS, SCALE)
    assert after == SCALE_FOLDED
    assert result.stats == {"fold-constants": 3, "constants freed": 3}


RANGE = """\
graph g(%x: i64[N,4]) -> (i64[N,4]) {
  %r = range() {limit=4} : i64[4]  # m.py:1
  %y = add(%x, %r) : i64[N,4]  # m.py:2
  return %y
}
"""
RANGE_FOLDED = """\
graph g(%x: i64[N,4]) -> (i64[N,4]) {
  @r: i64[4] = [0, 1, 2, 3]
  %y = add(%x, @r) : i64[N,4]  # m.py:2
  return %y
}
"""


def test_a_node_without_inputs_and_static_attributes_folds() -> None:
    after, _ = run_text(FOLD_CONSTANTS, RANGE)
    assert after == RANGE_FOLDED


TWICE = """\
graph g(%x: f32[N,3]) -> (f32[N,2], f32[N,2]) {
  @w: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %a = transpose(@w) {perm=[1,0]} : f32[3,2]  # m.py:1
  %b = transpose(@w) {perm=[1,0]} : f32[3,2]  # m.py:2
  %y = matmul(%x, %a) : f32[N,2]  # m.py:3
  %z = matmul(%x, %b) : f32[N,2]  # m.py:4
  return %y, %z
}
"""
TWICE_FOLDED = """\
graph g(%x: f32[N,3]) -> (f32[N,2], f32[N,2]) {
  @a: f32[3,2] = [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
  %y = matmul(%x, @a) : f32[N,2]  # m.py:3
  %z = matmul(%x, @a) : f32[N,2]  # m.py:4
  return %y, %z
}
"""


def test_the_same_op_of_the_same_constants_is_folded_once() -> None:
    after, result = run_text(FOLD_CONSTANTS, TWICE)
    assert after == TWICE_FOLDED
    assert rewrites(result) == [
        "fold-constants: transpose %a -> constant @a at m.py:1",
        "fold-constants: transpose %b -> constant @a at m.py:2",
    ]


# where it must not fold -------------------------------------------------------------------
SYMBOLIC = """\
graph g(%x: f32[S,2]) -> (f32[S,2]) {
  @table: f32[4,2] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
  %pos = slice(@table) {axes=[0], ends=[S], starts=[0], steps=[1]} : f32[S,2]  # m.py:1
  %y = add(%x, %pos) : f32[S,2]  # m.py:2
  return %y
}
"""
OUTPUT = """\
graph g() -> (f32[2]) {
  @a: f32[2] = [1.0, 2.0]
  @b: f32[2] = [3.0, 4.0]
  %y = add(@a, @b) : f32[2]  # m.py:1
  return %y
}
"""
OUT_OF_RANGE = """\
graph g(%x: f32[2]) -> (f32[2]) {
  @t: f32[3,2] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
  @i: i64[] = 5
  %row = gather(@t, @i) : f32[2]  # m.py:1
  %y = add(%x, %row) : f32[2]  # m.py:2
  return %y
}
"""


@pytest.mark.parametrize(
    ("text", "miss"),
    [
        (
            SYMBOLIC,
            "fold-constants at slice %pos (m.py:1): matched 1/1 ops, then %pos: f32[S,2] has "
            "symbolic dims, so its value depends on the input sizes",
        ),
        (
            OUTPUT,
            "fold-constants at add %y (m.py:1): matched 1/1 ops, then its output is a graph "
            "output (graph outputs stay node outputs)",
        ),
        (
            OUT_OF_RANGE,
            "fold-constants at gather %row (m.py:1): matched 1/1 ops, then its reference raised "
            "IndexError: gather: index 5 is out of range for axis 0 of length 3 "
            "(left to run time)",
        ),
    ],
    ids=["symbolic", "graph-output", "reference-raises"],
)
def test_it_does_not_fold_and_says_why(text: str, miss: str) -> None:
    after, result = run_text(FOLD_CONSTANTS, text)
    assert after == text
    assert result.rewrites == []
    assert misses(result) == [miss]


TIED = """\
graph g(%tokens: i64[N]) -> (f32[N,3]) {
  @w: f32[3,2] = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
  %emb = gather(@w, %tokens) : f32[N,2]  # m.py:1
  %wt = transpose(@w) {perm=[1,0]} : f32[2,3]  # m.py:2
  %logits = matmul(%emb, %wt) : f32[N,3]  # m.py:2
  return %logits
}
"""
EXPAND = """\
graph g(%x: f32[2,3]) -> (f32[2,3]) {
  @s: f32[] = 2.0
  %big = expand(@s) {shape=[2,3]} : f32[2,3]  # m.py:1
  %y = mul(%x, %big) : f32[2,3]  # m.py:2
  return %y
}
"""
TOO_BIG = (
    "the result has 6 elements, more than FOLD_LIMIT (4), and folding it would add that "
    "much constant data (its inputs stay alive or are smaller)"
)


def test_above_the_limit_a_weight_used_elsewhere_is_not_duplicated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fold_module, "FOLD_LIMIT", 4)
    after, result = run_text(FOLD_CONSTANTS, TIED)
    assert after == TIED
    assert [m.reason for m in result.near_misses] == [TOO_BIG]


def test_above_the_limit_a_small_constant_is_not_blown_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold_module, "FOLD_LIMIT", 4)
    after, result = run_text(FOLD_CONSTANTS, EXPAND)
    assert after == EXPAND
    assert [m.reason for m in result.near_misses] == [TOO_BIG]


def test_above_the_limit_a_weight_that_dies_with_the_fold_is_folded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fold_module, "FOLD_LIMIT", 4)  # the 3x2 transpose is "large"
    after, result = run_text(FOLD_CONSTANTS, LINEAR)
    assert after == LINEAR_FOLDED
    assert result.near_misses == []


def test_below_the_limit_a_shared_weight_is_folded_and_kept() -> None:
    after, _ = run_text(FOLD_CONSTANTS, TIED)
    assert "@w: f32[3,2]" in after and "@wt: f32[2,3] = [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]" in after
    assert "%logits = matmul(%emb, @wt)" in after


# numbers and types ---------------------------------------------------------------------
def test_folding_changes_no_result() -> None:
    rng = np.random.default_rng(0)
    cases: list[tuple[str, dict[str, np.ndarray]]] = [
        (LINEAR, {"x": rng.standard_normal((3, 3)).astype(np.float32)}),
        (SCALE, {"x": rng.standard_normal((2, 4)).astype(np.float32)}),
        (RANGE, {"x": rng.integers(-5, 5, (2, 4))}),
        (TIED, {"tokens": np.array([2, 0, 1])}),
    ]
    for text, feeds in cases:
        before = ng.compile(parse_graph(text), "O0")(feeds)
        graph = parse_graph(text)
        assert fold_module.fold_constants(graph).rewrites
        after = ng.compile(graph, "O0")(feeds)
        for name, want in before.items():
            np.testing.assert_array_equal(after[name], want, err_msg=name)


def _one_node_graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("i64", (2,)))
    s = g.add("shape", [x], names=["s"]).output
    g.outputs = [g.add("add", [s, s], names=["y"]).output]
    return g


def test_a_folded_array_takes_the_output_dtype_and_a_wrong_shape_is_a_bug() -> None:
    g = _one_node_graph()
    node = next(iter(g.nodes))
    (made,) = replace_by_constants(g, node, [np.array([1], dtype=np.int32)])
    assert made.const is not None
    assert (made.name, str(made.type), made.const.dtype) == ("s", "i64[1]", np.int64)
    g = _one_node_graph()
    with pytest.raises(InternalError, match=r"folding shape gave an array of shape \[2\]"):
        replace_by_constants(g, next(iter(g.nodes)), [np.array([1, 2])])
