"""The pattern DSL: captures, commutative matching, single use, attributes, ``either``, and the
failures (how far a match got, in words) that become near misses.

Every test parses a small hand-written graph and matches at a named node; matching never
changes the graph (checked by ``match_at``).
"""

from __future__ import annotations

import pytest

from nanograph.ir.errors import AttributeValueError, UnknownOpError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.verify import verify
from nanograph.passes.pattern import (
    EitherPattern,
    Match,
    MatchFailure,
    OpPattern,
    const,
    either,
    match,
    op,
    scalar,
    such_that,
    var,
)


def parse(body: str, signature: str = "(%x: f32[4], %y: f32[4]) -> (f32[4])") -> Graph:
    """A graph from its node lines (``return`` included), checked by the verifier."""
    graph = parse_graph(f"graph g{signature} {{\n{body}}}\n")
    verify(graph)
    return graph


def value(graph: Graph, name: str) -> Value:
    return next(v for v in graph.values() if v.name == name)


def node(graph: Graph, name: str) -> Node:
    producer = value(graph, name).producer
    assert producer is not None, name
    return producer


def match_at(pattern: OpPattern | EitherPattern, graph: Graph, name: str) -> Match | MatchFailure:
    before = print_graph(graph)
    found = match(pattern, node(graph, name))
    assert print_graph(graph) == before, "matching changed the graph"
    return found


def matched(pattern: OpPattern | EitherPattern, graph: Graph, name: str) -> Match:
    found = match_at(pattern, graph, name)
    assert isinstance(found, Match), found
    return found


def failed(pattern: OpPattern | EitherPattern, graph: Graph, name: str) -> MatchFailure:
    found = match_at(pattern, graph, name)
    assert isinstance(found, MatchFailure), f"expected a failure, matched {found.nodes}"
    return found


RELU_ADD = """\
  %r = relu(%x) : f32[4]
  %s = add(%r, %y) : f32[4]
  return %s
"""


# captures --------------------------------------------------------------------------------
def test_captures_name_values_and_nodes_and_nodes_are_listed_root_first() -> None:
    g = parse(RELU_ADD)
    m = matched(op.add(op.relu(var("a"), capture="r"), var("b")), g, "s")
    assert m.root is node(g, "s")
    assert m.nodes == [node(g, "s"), node(g, "r")]
    assert m["a"] is value(g, "x") and m["b"] is value(g, "y")
    assert m["r"] is value(g, "r") and m.node("r") is node(g, "r")
    assert m.get("nothing") is None
    with pytest.raises(KeyError):
        m["nothing"]


def test_a_repeated_name_must_bind_the_same_value() -> None:
    pattern = op.sub(var("v"), op.relu(var("v")))
    same = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%x, %r) : f32[4]\n  return %s\n")
    assert matched(pattern, same, "s")["v"] is value(same, "x")
    other = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%y, %r) : f32[4]\n  return %s\n")
    # var v took %y first (sub's input 0); relu's input is %x
    assert failed(pattern, other, "s") == MatchFailure(2, "%x is not %y (both must be 'v')")


def test_an_op_capture_and_a_var_of_the_same_name_must_agree_in_either_order() -> None:
    shared = op.relu(var("a"), capture="r", single_use=False)
    var_first = op.sub(var("r"), shared)
    g = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%r, %r) : f32[4]\n  return %s\n")
    assert matched(var_first, g, "s")["r"] is value(g, "r")
    h = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%y, %r) : f32[4]\n  return %s\n")
    # the op capture comes second: it must not overwrite %y silently
    assert failed(var_first, h, "s") == MatchFailure(2, "%r is not %y (both must be 'r')")
    op_first = op.sub(shared, var("r"))
    k = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%r, %y) : f32[4]\n  return %s\n")
    assert failed(op_first, k, "s") == MatchFailure(2, "%y is not %r (both must be 'r')")


def test_the_same_node_matched_twice_is_listed_once() -> None:
    g = parse("  %r = relu(%x) : f32[4]\n  %m = mul(%r, %r) : f32[4]\n  return %m\n")
    r = op.relu(var("a"), single_use=False)
    m = matched(op.mul(r, r), g, "m")
    assert m.nodes == [node(g, "m"), node(g, "r")]


# commutative ops -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["add", "mul", "maximum", "minimum"])
@pytest.mark.parametrize("relu_first", [True, False])
def test_commutative_ops_match_their_inputs_in_either_order(name: str, relu_first: bool) -> None:
    args = "%r, %y" if relu_first else "%y, %r"
    g = parse(f"  %r = relu(%x) : f32[4]\n  %s = {name}({args}) : f32[4]\n  return %s\n")
    m = matched(getattr(op, name)(op.relu(var("a")), var("b")), g, "s")
    assert (m["a"], m["b"]) == (value(g, "x"), value(g, "y"))
    assert m.nodes == [node(g, "s"), node(g, "r")]


def test_sub_is_not_commutative() -> None:
    pattern = op.sub(op.relu(var("a")), var("b"))
    assert isinstance(
        match_at(
            pattern,
            parse("  %r = relu(%x) : f32[4]\n  %s = sub(%r, %y) : f32[4]\n  return %s\n"),
            "s",
        ),
        Match,
    )
    swapped = parse("  %r = relu(%x) : f32[4]\n  %s = sub(%y, %r) : f32[4]\n  return %s\n")
    assert failed(pattern, swapped, "s") == MatchFailure(
        1, "%y is a graph input, not the output of relu"
    )


def test_a_commutative_match_keeps_no_captures_from_the_order_that_failed() -> None:
    # order 1 binds a=%y through the var, then fails at relu; order 2 must start afresh
    g = parse("  %r = relu(%x) : f32[4]\n  %s = add(%y, %r) : f32[4]\n  return %s\n")
    m = matched(op.add(var("a"), op.relu(var("b"))), g, "s")
    assert (m["a"], m["b"]) == (value(g, "y"), value(g, "x"))
    g2 = parse("  %r = relu(%x) : f32[4]\n  %s = add(%r, %y) : f32[4]\n  return %s\n")
    m2 = matched(op.add(var("a"), op.relu(var("b"))), g2, "s")
    assert (m2["a"], m2["b"]) == (value(g2, "y"), value(g2, "x"))
    assert m2.nodes == [node(g2, "s"), node(g2, "r")]


# single use --------------------------------------------------------------------------------
SHARED_RELU = """\
  %r = relu(%x) : f32[4]
  %s = add(%r, %y) : f32[4]
  %t = mul(%r, %s) : f32[4]
  return %t
"""


def test_inner_ops_must_be_used_once_by_default() -> None:
    g = parse(SHARED_RELU)
    assert failed(op.add(op.relu(var("a")), var("b")), g, "s") == MatchFailure(
        2, "%r (relu) is also used elsewhere (2 uses), so fusing it would compute it twice"
    )
    assert isinstance(
        match_at(op.add(op.relu(var("a"), single_use=False), var("b")), g, "s"), Match
    )


def test_the_root_may_have_many_uses() -> None:
    g = parse(SHARED_RELU)
    assert isinstance(match_at(op.relu(var("a")), g, "r"), Match)


def test_a_graph_output_counts_as_a_use() -> None:
    g = parse(
        RELU_ADD.replace("return %s", "return %s, %r"),
        "(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4])",
    )
    assert failed(op.add(op.relu(var("a")), var("b")), g, "s").reason == (
        "%r (relu) is also used elsewhere (2 uses), so fusing it would compute it twice"
    )


# attributes --------------------------------------------------------------------------------
TRANSPOSE = """\
  %t = transpose(%x) {perm=[1,0]} : f32[3,2]
  return %t
"""
T_SIG = "(%x: f32[2,3]) -> (f32[3,2])"


def test_attribute_values_are_compared_as_the_node_stores_them() -> None:
    g = parse(TRANSPOSE, T_SIG)
    assert isinstance(match_at(op.transpose(var("a"), perm=[1, 0]), g, "t"), Match)
    assert isinstance(match_at(op.transpose(var("a"), perm=(1, 0)), g, "t"), Match)
    assert failed(op.transpose(var("a"), perm=[0, 1]), g, "t") == MatchFailure(
        1, "transpose %t has perm=(1, 0), not (0, 1)"
    )


def test_attributes_left_at_their_default_are_matched_by_it() -> None:
    g = parse(
        "  %a, %b = split(%x) {sizes=[1,3]} : f32[1], f32[3]\n  return %a, %b\n",
        "(%x: f32[4]) -> (f32[1], f32[3])",
    )
    assert isinstance(match_at(op.split(var("a"), axis=0), g, "a"), Match)


def test_such_that_predicates_say_what_did_not_hold() -> None:
    g = parse(TRANSPOSE, T_SIG)
    swaps = such_that(lambda p: p == (1, 0), "a swap of two axes")
    assert isinstance(match_at(op.transpose(var("a"), perm=swaps), g, "t"), Match)
    identity = such_that(lambda p: list(p) == sorted(p), "the identity")
    assert failed(op.transpose(var("a"), perm=identity), g, "t") == MatchFailure(
        1, "transpose %t has perm=(1, 0), which is not the identity"
    )


def test_value_predicates_say_what_did_not_hold() -> None:
    g = parse(RELU_ADD)
    positive = var("b", such_that(lambda v: v.name == "z", "is not named z"))
    assert failed(op.add(op.relu(var("a")), positive), g, "s") == MatchFailure(
        2, "%y is not named z"
    )


def test_pattern_mistakes_are_raised_when_the_pattern_is_built() -> None:
    with pytest.raises(UnknownOpError, match="did you mean transpose"):
        op.transpsoe(var("a"))
    with pytest.raises(AttributeValueError, match=r"unknown attribute 'prem'(?s:.*)perm"):
        op.transpose(var("a"), prem=[1, 0])
    with pytest.raises(AttributeValueError, match="not a valid ints"):
        op.transpose(var("a"), perm="10")
    with pytest.raises(TypeError, match="inputs must be patterns"):
        op.relu("x")
    with pytest.raises(TypeError):
        either()


# inputs: ``...`` and the input count -----------------------------------------------------
LINEARS = """\
  @w: f32[3,4] = [[1,2,3,4],[5,6,7,8],[9,10,11,12]]
  @b: f32[4] = [1,2,3,4]
  %l2 = linear(%x, @w) : f32[2,4]
  %l3 = linear(%x, @w, @b) : f32[2,4]
  return %l2, %l3
"""
L_SIG = "(%x: f32[2,3]) -> (f32[2,4], f32[2,4])"


def test_ellipsis_accepts_any_further_inputs() -> None:
    g = parse(LINEARS, L_SIG)
    with_more = op.linear(var("a"), const("w"), ...)
    assert isinstance(match_at(with_more, g, "l2"), Match)
    m = matched(with_more, g, "l3")
    assert m["w"] is value(g, "w") and "b" not in m.values


def test_a_different_input_count_is_a_failure_at_that_op() -> None:
    g = parse(LINEARS, L_SIG)
    assert failed(op.linear(var("a"), var("w")), g, "l3") == MatchFailure(
        1, "linear %l3 has 3 inputs, not 2"
    )
    assert failed(op.linear(var("a"), var("w"), var("b")), g, "l2") == MatchFailure(
        1, "linear %l2 has 2 inputs, not 3"
    )


def test_const_accepts_constants_only() -> None:
    g = parse(LINEARS, L_SIG)
    assert failed(op.linear(const("a"), const("w"), ...), g, "l2") == MatchFailure(
        1, "%x is not a constant"
    )


# multi-output ops --------------------------------------------------------------------------
SPLIT = """\
  %a, %b = split(%x) {sizes=[2,2]} : f32[2], f32[2]
  %ra = relu(%a) : f32[2]
  %rb = relu(%b) : f32[2]
  return %ra, %rb
"""
S_SIG = "(%x: f32[4]) -> (f32[2], f32[2])"


def test_output_selects_one_output_of_a_multi_output_op() -> None:
    g = parse(SPLIT, S_SIG)
    second = op.relu(op.split(var("a"), output=1, capture="part"))
    assert matched(second, g, "rb")["part"] is value(g, "b")
    assert failed(second, g, "ra") == MatchFailure(2, "%a is not output 1 of split")
    assert isinstance(match_at(op.relu(op.split(var("a"))), g, "ra"), Match)  # any output


def test_output_at_the_root_starts_the_match_there() -> None:
    g = parse(SPLIT, S_SIG)
    m = matched(op.split(var("a"), output=1, capture="part"), g, "a")
    assert m.root is node(g, "a") and m["part"] is value(g, "b")
    assert failed(op.split(var("a"), output=5), g, "a") == MatchFailure(
        1, "split %a has 2 outputs, so no output 5"
    )


# either ------------------------------------------------------------------------------------
def test_either_takes_the_first_alternative_that_matches() -> None:
    act = either(op.relu(var("a"), capture="act"), op.sigmoid(var("a"), capture="act"))
    for name in ("relu", "sigmoid"):
        g = parse(f"  %r = {name}(%x) : f32[4]\n  %s = mul(%r, %y) : f32[4]\n  return %s\n")
        m = matched(op.mul(act, var("b")), g, "s")
        assert m.node("act").op == name and m["a"] is value(g, "x")


@pytest.mark.parametrize("deep_first", [True, False])
def test_either_reports_the_deepest_failure_whatever_the_order(deep_first: bool) -> None:
    g = parse(
        "  %r = relu(%x) : f32[4]\n  %t = tanh(%r) : f32[4]\n  %e = exp(%t) : f32[4]\n  return %e\n"
    )
    shallow = op.exp(op.sigmoid(var("a")))  # fails at tanh: 1 op matched
    deep = op.exp(op.tanh(op.sigmoid(var("a"))))  # fails at relu: 2 ops matched
    pattern = either(deep, shallow) if deep_first else either(shallow, deep)
    assert failed(pattern, g, "e") == MatchFailure(2, "%r is produced by relu, not sigmoid")
    assert pattern.count_ops() == 3


def test_among_equally_deep_failures_the_first_is_reported() -> None:
    g = parse(RELU_ADD)
    pattern = op.add(either(op.exp(var("a")), op.tanh(var("a"))), var("b"))
    # order (r, y): exp fails at %r (depth 1); tanh too; order (y, r): %y is an input
    assert failed(pattern, g, "s") == MatchFailure(1, "%r is produced by relu, not exp")


def test_ops_accepts_further_op_names() -> None:
    relu_like = op.relu(var("a"), ops=("sigmoid",))
    assert relu_like.ops == ("relu", "sigmoid")
    g = parse(
        "  %r = sigmoid(%x) : f32[4]\n  %t = tanh(%x) : f32[4]\n  %s = add(%r, %t) : f32[4]\n"
        "  return %s\n"
    )
    assert isinstance(match_at(relu_like, g, "r"), Match)
    assert failed(relu_like, g, "t") == MatchFailure(
        0, "%t is produced by tanh, not relu or sigmoid"
    )


# scalars -----------------------------------------------------------------------------------
HALF = """\
  @c: f32[] = 0.5
  @v: f32[2] = [0.5, 0.5]
  %m = mul(%x, @c) : f32[2]
  %n = sub(%x, @v) : f32[2]
  return %m, %n
"""
H_SIG = "(%x: f32[2]) -> (f32[2], f32[2])"


def test_scalar_matches_one_element_constants_and_their_value() -> None:
    g = parse(HALF, H_SIG)
    assert matched(op.mul(var("a"), scalar("c")), g, "m")["c"] is value(g, "c")
    assert isinstance(match_at(op.mul(var("a"), scalar("c", equal_to=0.5)), g, "m"), Match)
    # both orders of mul fail at depth 1; the first seen (order x, c) is reported
    assert failed(op.mul(var("a"), scalar("c", equal_to=2.0)), g, "m") == MatchFailure(
        1, "%c is not a one-element constant = 2"
    )
    assert failed(op.sub(var("a"), scalar("c")), g, "n") == MatchFailure(
        1, "%v is not a one-element constant"
    )


# how far a match got -----------------------------------------------------------------------
DEPTHS = """\
  %r = relu(%x) : f32[4]
  %t = transpose(%r) {perm=[0]} : f32[4]
  %e = exp(%t) : f32[4]
  %s = add(%e, %y) : f32[4]
  return %s
"""


@pytest.mark.parametrize(
    "pattern, expected",
    [
        # the root's op is wrong: nothing matched
        (op.mul(var("a"), var("b")), MatchFailure(0, "%s is produced by add, not mul")),
        # the root matched, its input is produced by another op
        (op.add(op.tanh(var("a")), var("b")), MatchFailure(1, "%e is produced by exp, not tanh")),
        # an op whose name matched but whose attribute did not counts as reached
        (
            op.add(op.exp(op.transpose(var("a"), perm=[1])), var("b")),
            MatchFailure(3, "transpose %t has perm=(0,), not (1,)"),
        ),
        # a value pattern failing counts only the ops before it
        (
            op.add(op.exp(op.transpose(const("a"))), var("b")),
            MatchFailure(3, "%r is not a constant"),
        ),
        # the deepest op's producer is wrong
        (
            op.add(op.exp(op.transpose(op.sigmoid(var("a")))), var("b")),
            MatchFailure(3, "%r is produced by relu, not sigmoid"),
        ),
    ],
)
def test_matched_counts_ops_reached_before_the_failure(
    pattern: OpPattern, expected: MatchFailure
) -> None:
    assert failed(pattern, parse(DEPTHS), "s") == expected


def test_a_full_match_reaches_count_ops() -> None:
    full = op.add(op.exp(op.transpose(op.relu(var("a")))), var("b"))
    m = matched(full, parse(DEPTHS), "s")
    assert full.count_ops() == len(m.nodes) == 4
    assert [n.op for n in m.nodes] == ["add", "exp", "transpose", "relu"]


def test_depth_is_the_longest_chain_of_ops() -> None:
    assert var("a").depth() == 0
    assert op.relu(var("a")).depth() == 1
    assert op.add(op.relu(op.exp(var("a"))), op.tanh(var("b"))).depth() == 3
    assert either(op.relu(var("a")), op.relu(op.exp(var("a")))).depth() == 2
