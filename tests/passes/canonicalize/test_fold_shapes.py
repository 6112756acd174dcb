"""``fold-shapes``: reads of static dims become constants, the symbolic rest stays.

Golden tests: the expected text is written by hand (the dims read off the
input types). Numeric tests: the reference interpreter before and after, at
two bindings of the symbols, must agree exactly (shape reads are integers).
"""

from __future__ import annotations

import numpy as np

import nanograph as ng
from nanograph.ir.text import parse_graph
from nanograph.passes.canonicalize.fold_shapes import FOLD_SHAPES
from tests.passes.golden import rewrites, run_text

STATIC = """\
graph g(%x: f32[2,3]) -> (i64[2]) {
  @one: i64[] = 1
  %s = shape(%x) : i64[2]  # m.py:1
  %y = add(%s, @one) : i64[2]  # m.py:2
  return %y
}
"""
STATIC_FOLDED = """\
graph g(%x: f32[2,3]) -> (i64[2]) {
  @one: i64[] = 1
  @s: i64[2] = [2, 3]
  %y = add(@s, @one) : i64[2]  # m.py:2
  return %y
}
"""


def test_the_shape_of_a_static_tensor_is_a_constant_though_the_tensor_is_not() -> None:
    after, result = run_text(FOLD_SHAPES, STATIC)
    assert after == STATIC_FOLDED
    assert rewrites(result) == ["fold-shapes: shape %s -> constant @s at m.py:1"]


PARTLY = """\
graph g(%x: f32[N,3,4]) -> (i64[3], i64[1], i64[2]) {
  @last: i64[1] = [2]
  %s = shape(%x) : i64[3]  # m.py:1
  %n = slice(%s) {ends=[1], starts=[0]} : i64[1]  # m.py:2
  %hw = slice(%s) {ends=[3], starts=[1]} : i64[2]  # m.py:3
  %cat = concat(%n, %hw) {axis=0} : i64[3]  # m.py:4
  %w = gather(%cat, @last) : i64[1]  # m.py:5
  %y = add(%cat, %cat) : i64[3]  # m.py:6
  %z = add(%w, %w) : i64[1]  # m.py:7
  %v = add(%hw, %hw) : i64[2]  # m.py:8
  return %y, %z, %v
}
"""
PARTLY_FOLDED = """\
graph g(%x: f32[N,3,4]) -> (i64[3], i64[1], i64[2]) {
  @last: i64[1] = [2]
  @hw: i64[2] = [3, 4]
  @w: i64[1] = [4]
  %s = shape(%x) : i64[3]  # m.py:1
  %n = slice(%s) {ends=[1], starts=[0]} : i64[1]  # m.py:2
  %cat = concat(%n, @hw) {axis=0} : i64[3]  # m.py:4
  %y = add(%cat, %cat) : i64[3]  # m.py:6
  %z = add(@w, @w) : i64[1]  # m.py:7
  %v = add(@hw, @hw) : i64[2]  # m.py:8
  return %y, %z, %v
}
"""


def test_static_dims_picked_from_a_symbolic_shape_fold_and_the_rest_stays() -> None:
    after, result = run_text(FOLD_SHAPES, PARTLY)
    assert after == PARTLY_FOLDED
    assert result.stats == {"fold-shapes": 2}


def test_folded_shape_reads_give_the_same_numbers() -> None:
    for n in (1, 5):
        feeds = {"x": np.zeros((n, 3, 4), np.float32)}
        want = ng.compile(parse_graph(PARTLY), "O0")(feeds)
        got = ng.compile(parse_graph(PARTLY_FOLDED), "O0")(feeds)
        assert want.keys() == got.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


# where it must not fold -------------------------------------------------------------------
RUNTIME_INDEX = """\
graph g(%x: f32[N,3], %i: i64[1]) -> (i64[1]) {
  %s = shape(%x) : i64[2]  # m.py:1
  %d = gather(%s, %i) : i64[1]  # m.py:2
  %y = add(%d, %d) : i64[1]  # m.py:3
  return %y
}
"""
OUTPUT = """\
graph g(%x: f32[2,3]) -> (i64[2]) {
  %s = shape(%x) : i64[2]  # m.py:1
  return %s
}
"""


def test_an_index_known_only_at_run_time_or_a_graph_output_stays() -> None:
    for text in (RUNTIME_INDEX, OUTPUT):
        after, result = run_text(FOLD_SHAPES, text)
        assert after == text
        assert result.rewrites == [] and result.near_misses == []
