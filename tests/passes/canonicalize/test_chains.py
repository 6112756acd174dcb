"""``simplify``'s chain rules: transpose and reshape chains collapse to one op, or none.

Golden tests (the composed permutations worked out by hand in comments),
the cases where a chain must stay with the exact near miss, and numeric
tests: every pair of rank-3 permutations composed by the pass against NumPy
applying the two transposes one after the other (exact: no arithmetic).
"""

from __future__ import annotations

import itertools

import numpy as np

import nanograph as ng
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType
from nanograph.passes.canonicalize.simplify import SIMPLIFY
from tests.passes.golden import misses, rewrites, run_graph, run_text

KEYS = """\
graph g(%k: f32[N,S,4,16], %q: f32[N,4,S,16]) -> (f32[N,4,S,S]) {
  %kh = transpose(%k) {perm=[0,2,1,3]} : f32[N,4,S,16]  # m.py:1
  %kt = transpose(%kh) {perm=[0,1,3,2]} : f32[N,4,16,S]  # m.py:2
  %s = matmul(%q, %kt) : f32[N,4,S,S]  # m.py:3
  return %s
}
"""
# kt[i] = kh[[0,1,3,2][i]] = k[[0,2,1,3][[0,1,3,2][i]]]: perm [0,2,3,1]
KEYS_COMPOSED = """\
graph g(%k: f32[N,S,4,16], %q: f32[N,4,S,16]) -> (f32[N,4,S,S]) {
  %kt = transpose(%k) {perm=[0,2,3,1]} : f32[N,4,16,S]  # m.py:2
  %s = matmul(%q, %kt) : f32[N,4,S,S]  # m.py:3
  return %s
}
"""


def test_two_transposes_become_one_with_the_composed_perm() -> None:
    after, result = run_text(SIMPLIFY, KEYS)
    assert after == KEYS_COMPOSED
    assert rewrites(result) == [
        "transpose-of-transpose: transpose %kt + transpose %kh -> transpose %kt at m.py:2, m.py:1"
    ]


ROUND_TRIP = """\
graph g(%x: f32[N,3,5]) -> (f32[N,3,5]) {
  %h = relu(%x) : f32[N,3,5]  # m.py:1
  %a = transpose(%h) {perm=[1,2,0]} : f32[3,5,N]  # m.py:2
  %b = transpose(%a) {perm=[1,0,2]} : f32[5,3,N]  # m.py:3
  %c = transpose(%b) {perm=[2,1,0]} : f32[N,3,5]  # m.py:4
  %y = neg(%c) : f32[N,3,5]  # m.py:5
  return %y
}
"""
# b = h[[1,2,0][[1,0,2]]] = perm [2,1,0]; c = [2,1,0][[2,1,0]] = [0,1,2]: the identity
ROUND_TRIP_REMOVED = """\
graph g(%x: f32[N,3,5]) -> (f32[N,3,5]) {
  %h = relu(%x) : f32[N,3,5]  # m.py:1
  %y = neg(%h) : f32[N,3,5]  # m.py:5
  return %y
}
"""


def test_a_chain_of_three_transposes_that_round_trips_disappears() -> None:
    after, result = run_text(SIMPLIFY, ROUND_TRIP)
    assert after == ROUND_TRIP_REMOVED
    assert result.stats == {"transpose-of-transpose": 2}


SHARED = """\
graph g(%x: f32[2,3,4]) -> (f32[3,2,4], f32[3,4,2]) {
  %a = transpose(%x) {perm=[1,0,2]} : f32[3,2,4]  # m.py:1
  %b = transpose(%a) {perm=[0,2,1]} : f32[3,4,2]  # m.py:2
  %y = neg(%a) : f32[3,2,4]  # m.py:3
  %z = neg(%b) : f32[3,4,2]  # m.py:4
  return %y, %z
}
"""
# b = x[[1,0,2][[0,2,1]]] = perm [1,2,0]
SHARED_COMPOSED = """\
graph g(%x: f32[2,3,4]) -> (f32[3,2,4], f32[3,4,2]) {
  %a = transpose(%x) {perm=[1,0,2]} : f32[3,2,4]  # m.py:1
  %b = transpose(%x) {perm=[1,2,0]} : f32[3,4,2]  # m.py:2
  %y = neg(%a) : f32[3,2,4]  # m.py:3
  %z = neg(%b) : f32[3,4,2]  # m.py:4
  return %y, %z
}
"""


def test_an_inner_transpose_with_other_users_stays_for_them() -> None:
    after, _ = run_text(SIMPLIFY, SHARED)
    assert after == SHARED_COMPOSED


RESHAPES = """\
graph g(%x: f32[N,4,8]) -> (f32[N,32], f32[N,4,8], f32[N,32]) {
  %h = relu(%x) : f32[N,4,8]  # m.py:1
  %r1 = reshape(%h) {shape=[N,2,16]} : f32[N,2,16]  # m.py:2
  %r2 = reshape(%r1) {shape=[-1,32]} : f32[N,32]  # m.py:3
  %u = unsqueeze(%h) {axes=[0]} : f32[1,N,4,8]  # m.py:4
  %s = squeeze(%u) {axes=[0]} : f32[N,4,8]  # m.py:5
  %f = flatten(%u) {axis=2} : f32[N,32]  # m.py:6
  %y = neg(%r2) : f32[N,32]  # m.py:7
  %z = neg(%s) : f32[N,4,8]  # m.py:8
  %w = neg(%f) : f32[N,32]  # m.py:9
  return %y, %z, %w
}
"""
RESHAPES_COLLAPSED = """\
graph g(%x: f32[N,4,8]) -> (f32[N,32], f32[N,4,8], f32[N,32]) {
  %h = relu(%x) : f32[N,4,8]  # m.py:1
  %r2 = reshape(%h) {shape=[-1,32]} : f32[N,32]  # m.py:3
  %f = reshape(%h) {shape=[N,32]} : f32[N,32]  # m.py:6
  %y = neg(%r2) : f32[N,32]  # m.py:7
  %z = neg(%h) : f32[N,4,8]  # m.py:8
  %w = neg(%f) : f32[N,32]  # m.py:9
  return %y, %z, %w
}
"""


def test_reshape_chains_become_one_reshape_and_cancelling_pairs_disappear() -> None:
    after, result = run_text(SIMPLIFY, RESHAPES)
    assert after == RESHAPES_COLLAPSED
    assert result.stats == {"reshape-of-reshape": 3}


UNDO_INPUT = """\
graph g(%x: f32[2,3]) -> (f32[2,3]) {
  %t = transpose(%x) {perm=[1,0]} : f32[3,2]  # m.py:1
  %y = transpose(%t) {perm=[1,0]} : f32[2,3]  # m.py:2
  return %y
}
"""


def test_a_chain_that_cancels_into_a_graph_output_stays_and_says_why() -> None:
    after, result = run_text(SIMPLIFY, UNDO_INPUT)
    assert after == UNDO_INPUT
    assert misses(result) == [
        "transpose-of-transpose at transpose %y (m.py:2): matched 2/2 ops, then it would "
        "rename graph output %y to %x"
    ]


def test_every_pair_of_rank_3_permutations_composes_like_numpy() -> None:
    x = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    perms = list(itertools.permutations(range(3)))
    for p, q in itertools.product(perms, perms):
        g = Graph("g")
        xv = g.add_input("x", TensorType.of("f32", x.shape))
        a = g.add("transpose", [xv], {"perm": p}).output
        b = g.add("transpose", [a], {"perm": q}).output
        g.outputs = [g.add("neg", [b], names=["y"]).output]
        run_graph(SIMPLIFY, g)
        assert [n.op for n in g.nodes].count("transpose") <= 1
        got = ng.compile(g, "O0")(x=x)["y"]
        np.testing.assert_array_equal(got, -np.transpose(np.transpose(x, p), q), err_msg=f"{p} {q}")
