"""``cse``: equal nodes and equal one-element constants are merged; graph outputs keep names.

Golden tests with hand-written expected text; must-not-merge cases (other
attributes, other inputs, bitwise-different constants, two graph outputs,
with its near miss); a numeric check that merging changes no result.
"""

from __future__ import annotations

import numpy as np

import nanograph as ng
from nanograph.ir.text import parse_graph
from nanograph.passes.canonicalize.cse import CSE
from tests.passes.golden import misses, rewrites, run_graph, run_text

MASKS = """\
graph g(%a: f32[N,4,S,S], %b: f32[N,4,S,S]) -> (f32[N,4,S,S]) {
  @w: i64[] = 2
  @inf: f32[] = -inf
  @w_1: i64[] = 2
  @inf_1: f32[] = -inf
  %r = range() {limit=S} : i64[S]  # m.py:1
  %r2 = range() {limit=S} : i64[S]  # m.py:1
  %rows = unsqueeze(%r) {axes=[1]} : i64[S,1]  # m.py:1
  %cols = unsqueeze(%r2) {axes=[0]} : i64[1,S]  # m.py:1
  %d = sub(%rows, %cols) : i64[S,S]  # m.py:1
  %keep = less_equal(%d, @w) : bool[S,S]  # m.py:1
  %a2 = where(%keep, %a, @inf) : f32[N,4,S,S]  # m.py:1
  %r3 = range() {limit=S} : i64[S]  # m.py:2
  %rows_1 = unsqueeze(%r3) {axes=[1]} : i64[S,1]  # m.py:2
  %cols_1 = unsqueeze(%r3) {axes=[0]} : i64[1,S]  # m.py:2
  %d_1 = sub(%rows_1, %cols_1) : i64[S,S]  # m.py:2
  %keep_1 = less_equal(%d_1, @w_1) : bool[S,S]  # m.py:2
  %b2 = where(%keep_1, %b, @inf_1) : f32[N,4,S,S]  # m.py:2
  %y = add(%a2, %b2) : f32[N,4,S,S]  # m.py:3
  return %y
}
"""
MASKS_MERGED = """\
graph g(%a: f32[N,4,S,S], %b: f32[N,4,S,S]) -> (f32[N,4,S,S]) {
  @w: i64[] = 2
  @inf: f32[] = -inf
  %r = range() {limit=S} : i64[S]  # m.py:1
  %rows = unsqueeze(%r) {axes=[1]} : i64[S,1]  # m.py:1
  %cols = unsqueeze(%r) {axes=[0]} : i64[1,S]  # m.py:1
  %d = sub(%rows, %cols) : i64[S,S]  # m.py:1
  %keep = less_equal(%d, @w) : bool[S,S]  # m.py:1
  %a2 = where(%keep, %a, @inf) : f32[N,4,S,S]  # m.py:1
  %b2 = where(%keep, %b, @inf) : f32[N,4,S,S]  # m.py:2
  %y = add(%a2, %b2) : f32[N,4,S,S]  # m.py:3
  return %y
}
"""


def test_a_mask_computed_twice_is_computed_once() -> None:
    after, result = run_text(CSE, MASKS)
    assert after == MASKS_MERGED
    assert rewrites(result) == [
        "cse-constant: constant @w_1 -> constant @w",
        "cse-constant: constant @inf_1 -> constant @inf",
        "cse: range %r2 -> range %r at m.py:1",
        "cse: range %r3 -> range %r at m.py:2",
        "cse: unsqueeze %rows_1 -> unsqueeze %rows at m.py:2",
        "cse: unsqueeze %cols_1 -> unsqueeze %cols at m.py:2",
        "cse: sub %d_1 -> sub %d at m.py:2",
        "cse: less_equal %keep_1 -> less_equal %keep at m.py:2",
    ]


def test_merging_changes_no_result() -> None:
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((2, 4, 5, 5)).astype(np.float32) for k in ("a", "b")}
    want = ng.compile(parse_graph(MASKS), "O0")(feeds)["y"]
    graph = parse_graph(MASKS)
    assert run_graph(CSE, graph).rewrites
    np.testing.assert_array_equal(ng.compile(graph, "O0")(feeds)["y"], want)


DIFFERENT = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  @zero: f32[] = 0.0
  @negzero: f32[] = -0.0
  @pair: f32[2] = [1.0, 2.0]
  @pair_1: f32[2] = [1.0, 2.0]
  %a = softmax(%x) {axis=0} : f32[N,4]  # m.py:1
  %b = softmax(%x) : f32[N,4]  # m.py:2
  %c = sub(%a, %b) : f32[N,4]  # m.py:3
  %d = sub(%b, %a) : f32[N,4]  # m.py:4
  %e = add(%c, @zero) : f32[N,4]  # m.py:5
  %f = add(%d, @negzero) : f32[N,4]  # m.py:6
  %g = mul(%e, %f) : f32[N,4]  # m.py:7
  %h = reshape(%g) {shape=[N,2,2]} : f32[N,2,2]  # m.py:8
  %i = mul(%h, @pair) : f32[N,2,2]  # m.py:9
  %j = mul(%h, @pair_1) : f32[N,2,2]  # m.py:10
  %k = add(%i, %j) : f32[N,2,2]  # m.py:11
  %y = reshape(%k) {shape=[N,4]} : f32[N,4]  # m.py:12
  return %y
}
"""


def test_other_attributes_inputs_order_or_bits_are_not_merged() -> None:
    after, result = run_text(CSE, DIFFERENT)
    assert after == DIFFERENT
    assert result.rewrites == [] and result.near_misses == []


OUTPUTS = """\
graph g(%x: f32[4]) -> (f32[4], f32[4], f32[4]) {
  %a = relu(%x) : f32[4]  # m.py:1
  %b = relu(%x) : f32[4]  # m.py:2
  %c = neg(%a) : f32[4]  # m.py:3
  %d = relu(%x) : f32[4]  # m.py:4
  return %c, %b, %d
}
"""
OUTPUTS_MERGED = """\
graph g(%x: f32[4]) -> (f32[4], f32[4], f32[4]) {
  %b = relu(%x) : f32[4]  # m.py:1
  %c = neg(%b) : f32[4]  # m.py:3
  %d = relu(%x) : f32[4]  # m.py:4
  return %c, %b, %d
}
"""


def test_graph_outputs_keep_their_names_and_are_never_merged_into_one() -> None:
    after, result = run_text(CSE, OUTPUTS)
    assert after == OUTPUTS_MERGED
    assert rewrites(result) == ["cse: relu %b -> relu %a at m.py:2"]
    assert misses(result) == [
        "cse at relu %d (m.py:4): matched 1/1 ops, then graph outputs %b and %d would become "
        "one value"
    ]
