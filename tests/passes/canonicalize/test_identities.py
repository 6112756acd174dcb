"""``simplify``'s identity rules: each no-op is removed; near no-ops stay, with a reason.

Each golden case is one no-op between a ``relu`` (so the input is a node
output) and a ``neg`` (so the result is not a graph output): the expected
graph is the same text without the no-op, ``neg`` reading the ``relu``.
Must-not-fire cases check that the graph is unchanged and the exact near
miss, or that there is none where the op is simply not a no-op (a real
reshape is no near miss of ``reshape-to-same-shape``). Numeric test: the
reference interpreter before and after, equal to the bit (removing a no-op
changes no arithmetic).
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.ir.text import parse_graph
from nanograph.passes.canonicalize.simplify import SIMPLIFY
from tests.passes.golden import misses, rewrites, run_text


def _graph(x_type: str, constants: str, noop: str, out_type: str | None = None) -> str:
    out_type = out_type or x_type
    return f"""\
graph g(%x: {x_type}) -> ({out_type}) {{
{constants}  %h = relu(%x) : {x_type}  # m.py:1
  %n = {noop} : {out_type}  # m.py:2
  %y = neg(%n) : {out_type}  # m.py:3
  return %y
}}
"""


def _removed(x_type: str, constants: str) -> str:
    return f"""\
graph g(%x: {x_type}) -> ({x_type}) {{
{constants}  %h = relu(%x) : {x_type}  # m.py:1
  %y = neg(%h) : {x_type}  # m.py:3
  return %y
}}
"""


ONE = "  @one: f32[] = 1.0\n"
ZERO = "  @zero: f32[1] = [0.0]\n"
NO_OPS = [
    ("identity", "f32[N,4]", "", "identity(%h)"),
    ("reshape-to-same-shape", "f32[N,4]", "", "reshape(%h) {shape=[N,4]}"),
    ("reshape-to-same-shape", "f32[N,4]", "", "reshape(%h) {shape=[-1,4]}"),
    ("reshape-to-same-shape", "f32[N,4]", "", "flatten(%h)"),
    ("reshape-to-same-shape", "f32[N,4]", "", "squeeze(%h) {axes=[]}"),
    ("transpose-identity-perm", "f32[N,4,2]", "", "transpose(%h) {perm=[0,1,2]}"),
    ("cast-to-same-dtype", "f32[N,4]", "", "cast(%h) {to=f32}"),
    ("expand-to-same-shape", "f32[N,4]", "", "expand(%h) {shape=[1,4]}"),
    ("slice-whole", "f32[S,4]", "", "slice(%h) {axes=[0], ends=[S], starts=[0], steps=[1]}"),
    ("slice-whole", "f32[3,4]", "", "slice(%h) {ends=[4611686018427387904], starts=[0]}"),
    ("concat-of-one", "f32[N,4]", "", "concat(%h) {axis=1}"),
    ("pad-by-zero", "f32[N,4]", "", "pad(%h) {pads=[0,0,0,0]}"),
    ("mul-by-one", "f32[N,4]", ONE, "mul(%h, @one)"),
    ("mul-by-one", "f32[N,4]", ONE, "mul(@one, %h)"),
    ("div-by-one", "f32[N,4]", ONE, "div(%h, @one)"),
    ("add-zero", "f32[N,4]", ZERO, "add(%h, @zero)"),
    ("add-zero", "f32[N,4]", ZERO, "add(@zero, %h)"),
    ("sub-zero", "f32[N,4]", ZERO, "sub(%h, @zero)"),
    ("mul-by-one", "i64[N,4]", "  @one: i64[] = 1\n", "mul(%h, @one)"),
]


@pytest.mark.parametrize(
    ("rule", "x_type", "constants", "noop"), NO_OPS, ids=[c[3] for c in NO_OPS]
)
def test_each_no_op_is_removed(rule: str, x_type: str, constants: str, noop: str) -> None:
    if x_type.startswith("i64"):  # relu takes floats: read an integer input through abs
        text = _graph(x_type, constants, noop).replace("relu(%x)", "abs(%x)")
        expected = _removed(x_type, constants).replace("relu(%x)", "abs(%x)")
    else:
        text, expected = _graph(x_type, constants, noop), _removed(x_type, constants)
    after, result = run_text(SIMPLIFY, text)
    assert after == expected
    assert rewrites(result) == [f"{rule}: {noop.split('(')[0]} %n -> nothing (removed) at m.py:2"]
    assert result.near_misses == []


def test_removing_no_ops_changes_no_result() -> None:
    rng = np.random.default_rng(0)
    for _, x_type, constants, noop in NO_OPS:
        text = _graph(x_type, constants, noop)
        if x_type.startswith("i64"):
            text = text.replace("relu(%x)", "abs(%x)")
            x = rng.integers(-9, 9, (3, 4))
        else:
            x = rng.standard_normal((3, 4, 2) if "4,2" in x_type else (3, 4)).astype(np.float32)
        want = ng.compile(parse_graph(text), "O0")(x=x)["y"]
        got = ng.compile(parse_graph(text), "O1")(x=x)["y"]
        np.testing.assert_array_equal(got, want, err_msg=noop)


# where it must not fire --------------------------------------------------------------------
NOT_NO_OPS = [
    ("f32[N,4]", "", "reshape(%h) {shape=[N,2,2]}", "f32[N,2,2]"),
    ("f32[N,4,2]", "", "transpose(%h) {perm=[0,2,1]}", "f32[N,2,4]"),
    ("f32[N,4]", "", "cast(%h) {to=f16}", "f16[N,4]"),
    ("f32[N,4]", "", "expand(%h) {shape=[2,N,4]}", "f32[2,N,4]"),
    ("f32[N,4]", "", "slice(%h) {axes=[1], ends=[3], starts=[1]}", "f32[N,2]"),
    ("f32[N,4]", "", "concat(%h, %h) {axis=1}", "f32[N,8]"),
    ("f32[N,4]", "", "pad(%h) {pads=[0,1,0,0]}", "f32[N,5]"),
    ("f32[N,4]", "  @c: f32[] = 1.0000001\n", "mul(%h, @c)", None),
    ("f32[N,4]", "  @c: f32[4] = [1.0, 1.0, 1.0, 1.0]\n", "mul(%h, @c)", None),
    ("f32[N,4]", ZERO, "sub(@zero, %h)", None),
    ("f32[N,4]", "  @c: f32[] = -1.0\n", "add(%h, @c)", None),
]


@pytest.mark.parametrize(
    ("x_type", "constants", "op", "out_type"), NOT_NO_OPS, ids=[c[2] for c in NOT_NO_OPS]
)
def test_an_op_that_changes_something_stays_without_a_near_miss(
    x_type: str, constants: str, op: str, out_type: str | None
) -> None:
    text = _graph(x_type, constants, op, out_type)
    after, result = run_text(SIMPLIFY, text)
    assert after == text
    assert result.rewrites == [] and result.near_misses == []


@pytest.mark.parametrize(
    ("x_type", "constants", "op", "out_type", "reason"),
    [
        (
            "f32[4]",
            "  @one: f32[1,1] = [[1.0]]\n",
            "mul(%h, @one)",
            "f32[1,4]",
            "it broadcasts %h: f32[4] to f32[1,4], so it is not a no-op",
        ),
        (
            "f32[4]",
            "  @zero: f32[1,1,1] = [[[0.0]]]\n",
            "add(@zero, %h)",
            "f32[1,1,4]",
            "it broadcasts %h: f32[4] to f32[1,1,4], so it is not a no-op",
        ),
        (
            "f32[4]",
            "",
            "slice(%h) {ends=[-5], starts=[4], steps=[-1]}",
            "f32[4]",
            "it starts at [4], not at 0",
        ),
        (
            "f32[1]",
            "",
            "slice(%h) {ends=[1], starts=[0], steps=[2]}",
            "f32[1]",
            "its steps are [2], not all 1",
        ),
    ],
    ids=["mul-broadcasts", "add-broadcasts", "slice-reverses", "slice-strides"],
)
def test_a_near_no_op_stays_and_says_why(
    x_type: str, constants: str, op: str, out_type: str, reason: str
) -> None:
    text = _graph(x_type, constants, op, out_type)
    after, result = run_text(SIMPLIFY, text)
    assert after == text
    assert result.rewrites == []
    assert [m.reason for m in result.near_misses] == [reason]


PASS_THROUGH = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  %y = identity(%x) : f32[N,4]  # m.py:1
  return %y
}
"""
TO_OUTPUT = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  %h = relu(%x) : f32[N,4]  # m.py:1
  %y = reshape(%h) {shape=[N,4]} : f32[N,4]  # m.py:2
  return %y
}
"""
TO_OUTPUT_REMOVED = """\
graph g(%x: f32[N,4]) -> (f32[N,4]) {
  %y = relu(%x) : f32[N,4]  # m.py:1
  return %y
}
"""


BOTH_OUTPUTS = """\
graph g(%x: f32[N,4]) -> (f32[N,4], f32[N,4]) {
  %h = relu(%x) : f32[N,4]  # m.py:1
  %y = identity(%h) : f32[N,4]  # m.py:2
  return %h, %y
}
"""


def test_a_graph_output_is_never_renamed_to_a_graph_input_or_merged_with_another() -> None:
    after, result = run_text(SIMPLIFY, PASS_THROUGH)
    assert after == PASS_THROUGH
    assert misses(result) == [
        "identity at identity %y (m.py:1): matched 1/1 ops, then it would rename graph "
        "output %y to %x"
    ]
    after, result = run_text(SIMPLIFY, BOTH_OUTPUTS)
    assert after == BOTH_OUTPUTS
    assert [m.reason for m in result.near_misses] == [
        "graph outputs %y and %h would become one value"
    ]


def test_a_node_output_that_becomes_a_graph_output_takes_its_name() -> None:
    after, result = run_text(SIMPLIFY, TO_OUTPUT)
    assert after == TO_OUTPUT_REMOVED
    assert result.near_misses == []
