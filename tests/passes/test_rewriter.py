"""The rewrite driver: fixpoints, revisits, near misses, ``Reject``, graph outputs, rule bugs.

Each test parses a hand-written graph, runs ``apply_rules`` and compares the printed graph
with the expected text written here; every rewritten graph is verified (SSA, types,
topological order). Some rules below are not identities (``sigmoid -> tanh``): they exist
to drive the worklist, and say so in their names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import nanograph.passes.rewriter as rewriter
from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.types import TensorType
from nanograph.ir.verify import verify
from nanograph.passes.pattern import Match, const, either, op, scalar, such_that, var
from nanograph.passes.records import NearMiss, PassResult, Rewrite
from nanograph.passes.rewriter import Reject, Rule, apply_rules

SIG = "(%x: f32[4], %y: f32[4]) -> (f32[4])"


def parse(body: str, signature: str = SIG) -> Graph:
    graph = parse_graph(f"graph g{signature} {{\n{body}}}\n")
    verify(graph)
    return graph


def rewrite(graph: Graph, *rules: Rule) -> PassResult:
    result = apply_rules(graph, rules)
    verify(graph)
    return result


def body(graph: Graph) -> str:
    """The printed graph without its first and last lines."""
    return "".join(line + "\n" for line in print_graph(graph).splitlines()[1:-1])


def emit(name: str) -> Callable[[Match, GraphEmitter], Sequence[Value]]:
    """A build emitting op ``name`` on the capture ``x``."""
    return lambda m, em: [em.op(name, m["x"])]


X = var("x")
NEG_NEG = Rule("neg(neg(x))->x", op.neg(op.neg(X)), lambda m, em: [m["x"]])
RELU_RELU = Rule("relu(relu(x))->relu(x)", op.relu(op.relu(X)), emit("relu"))
SIGMOID_TO_TANH = Rule("sigmoid->tanh (test only)", op.sigmoid(X), emit("tanh"))
TANH_TO_RELU = Rule("tanh->relu (test only)", op.tanh(X), emit("relu"))
MUL_ONE = Rule("mul(x,1)->x", op.mul(X, scalar(equal_to=1.0)), lambda m, em: [m["x"]])


# fixpoints and revisits --------------------------------------------------------------------
def test_a_rule_applies_to_its_own_results_until_nothing_matches() -> None:
    g = parse(
        "  %a = relu(%x) : f32[4]  # m.py:1\n"
        "  %b = relu(%a) : f32[4]  # m.py:2\n"
        "  %c = relu(%b) : f32[4]  # m.py:3\n"
        "  %d = relu(%c) : f32[4]  # m.py:4\n"
        "  return %d\n"
    )
    result = rewrite(g, RELU_RELU)
    assert body(g) == "  %d = relu(%x) : f32[4]  # m.py:4\n  return %d\n"
    assert result.stats[RELU_RELU.name] == 3 and result.changed
    assert [str(r) for r in result.rewrites] == [
        "relu(relu(x))->relu(x): relu %b + relu %a -> relu %b at m.py:2, m.py:1",
        "relu(relu(x))->relu(x): relu %c + relu %b -> relu %c at m.py:3, m.py:2",
        "relu(relu(x))->relu(x): relu %d + relu %c -> relu %d at m.py:4, m.py:3",
    ]


def test_two_rules_compose_to_a_fixpoint() -> None:
    g = parse(
        "  @one: f32[] = 1.0\n"
        "  %n = neg(%x) : f32[4]\n"
        "  %m = mul(@one, %n) : f32[4]\n"
        "  %nn = neg(%m) : f32[4]\n"
        "  %s = add(%nn, %y) : f32[4]\n"
        "  return %s\n"
    )
    result = rewrite(g, NEG_NEG, MUL_ONE)
    # mul(1, n) -> n exposes neg(neg(x)) -> x
    assert body(g) == "  @one: f32[] = 1.0\n  %s = add(%x, %y) : f32[4]\n  return %s\n"
    assert [r.rule for r in result.rewrites] == [MUL_ONE.name, NEG_NEG.name]


def test_users_of_new_results_are_revisited() -> None:
    # exp is tried (and fails) before tanh is rewritten to relu at the end of the worklist;
    # only a revisit of relu's users lets exp(relu(x)) fire
    exp_relu = Rule("exp(relu(x))->relu (test only)", op.exp(op.relu(X)), emit("relu"))
    g = parse(
        "  %s = sigmoid(%x) : f32[4]  # m.py:1\n  %e = exp(%s) : f32[4]  # m.py:2\n  return %e\n"
    )
    result = rewrite(g, SIGMOID_TO_TANH, TANH_TO_RELU, exp_relu)
    assert body(g) == "  %e = relu(%x) : f32[4]  # m.py:2\n  return %e\n"
    assert [r.rule for r in result.rewrites] == [
        SIGMOID_TO_TANH.name,
        TANH_TO_RELU.name,
        exp_relu.name,
    ]


def test_anchors_as_deep_as_the_deepest_pattern_are_revisited() -> None:
    # log(exp(relu(x))) is anchored two users below the relu that appears last
    log_exp = Rule(
        "log(exp(r))->r", op.log(op.exp(op.relu(X, capture="r"))), lambda m, em: [m["r"]]
    )
    g = parse(
        "  %s = sigmoid(%x) : f32[4]  # m.py:1\n"
        "  %e = exp(%s) : f32[4]  # m.py:2\n"
        "  %l = log(%e) : f32[4]  # m.py:3\n"
        "  return %l\n"
    )
    rewrite(g, SIGMOID_TO_TANH, TANH_TO_RELU, log_exp)
    # the existing relu replaces the graph output, so it takes the output's name
    assert body(g) == "  %l = relu(%x) : f32[4]  # m.py:1\n  return %l\n"


def test_revisits_stay_linear_on_a_value_with_many_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value with many users, each rewritten to use it directly. Revisiting all its users
    after every rewrite (not just those whose input changed) would look at O(n^2) users; the
    driver must look at O(n) users and try O(n) matches."""
    n = 300
    g = Graph("star")
    x = g.add_input("x", TensorType.of("f32", (4,)))
    s = g.add("exp", [x], names=["s"]).output
    total = g.add("neg", [g.add("neg", [s]).output]).output
    for _ in range(n - 1):
        y = g.add("neg", [g.add("neg", [s]).output]).output
        total = g.add("add", [total, y]).output
    g.outputs = [total]
    nodes = len(g.nodes)
    counts = {"tries": 0, "users seen": 0}
    real_match, real_users = rewriter.match, Value.users

    def counting_match(*args: object) -> object:
        counts["tries"] += 1
        return real_match(*args)  # type: ignore[arg-type]

    def counting_users(value: Value) -> list[Node]:
        users: list[Node] = real_users.fget(value)  # type: ignore[attr-defined]
        counts["users seen"] += len(users)
        return users

    monkeypatch.setattr(rewriter, "match", counting_match)
    monkeypatch.setattr(Value, "users", property(counting_users))
    add_zero = Rule("add(x,0)->x", op.add(X, scalar(equal_to=0.0)), lambda m, em: [m["x"]])
    result = rewrite(g, NEG_NEG, add_zero)  # add_zero: every add is tried, and never fires
    assert result.stats[NEG_NEG.name] == n
    assert "neg" not in {node.op for node in g.nodes}
    assert counts["tries"] <= 2 * nodes, counts
    assert counts["users seen"] <= 5 * nodes, counts


# near misses ---------------------------------------------------------------------------------
LINEAR = Rule(
    "matmul+add->linear",
    op.add(op.matmul(var("x"), var("w")), const("b")),
    build=lambda m, em: [em.op("linear", m["x"], m["w"], m["b"])],
    checks=[lambda m: None if m["b"].type.rank == 1 else "the bias is not 1-D"],
)
MM_SIG = "(%x: f32[2,3], %w: f32[3,4]) -> (f32[2,4])"


def test_a_failed_check_is_a_near_miss_with_its_reason() -> None:
    text = (
        "  @b: f32[2,4] = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]\n"
        "  %m = matmul(%x, %w) : f32[2,4]\n"
        "  %a = add(%m, @b) : f32[2,4]  # m.py:7\n"
        "  return %a\n"
    )
    g = parse(text, MM_SIG)
    result = rewrite(g, LINEAR)
    assert body(g) == text and not result.changed and not result.rewrites
    assert result.near_misses == [
        NearMiss("matmul+add->linear", "a", "add", "m.py:7", 2, 2, "the bias is not 1-D")
    ]
    assert str(result.near_misses[0]) == (
        "matmul+add->linear at add %a (m.py:7): matched 2/2 ops, then the bias is not 1-D"
    )


def test_checks_run_in_order_and_the_first_failing_one_is_reported() -> None:
    g = parse("  %a = neg(%x) : f32[4]\n  %b = neg(%a) : f32[4]\n  return %b\n")
    rule = Rule(
        "checked",
        op.neg(op.neg(X)),
        lambda m, em: [m["x"]],
        checks=[lambda m: None, lambda m: "second says no", lambda m: "third says no"],
    )
    assert [m.reason for m in rewrite(g, rule).near_misses] == ["second says no"]


def test_a_partial_match_is_reported_from_min_near_miss_ops() -> None:
    text = "  %m = mul(%x, %y) : f32[2,4]\n  %a = add(%m, %x) : f32[2,4]\n  return %a\n"
    sig = "(%x: f32[2,4], %y: f32[2,4]) -> (f32[2,4])"
    # add matched, then mul is not matmul: 1 op, below the default of 2
    assert rewrite(parse(text, sig), LINEAR).near_misses == []
    eager = Rule(LINEAR.name, LINEAR.pattern, LINEAR.build, LINEAR.checks, min_near_miss=1)
    (miss,) = rewrite(parse(text, sig), eager).near_misses
    assert (miss.matched, miss.total) == (1, 2)
    # both orders of add fail after the root: the first seen is reported
    assert miss.reason == "%m is produced by mul, not matmul"
    # a check failing after a full match is always reported
    strict = Rule("strict", op.neg(op.neg(X)), NEG_NEG.build, [lambda m: "no"], min_near_miss=9)
    g = parse("  %a = neg(%x) : f32[4]\n  %b = neg(%a) : f32[4]\n  return %b\n")
    assert [(m.matched, m.total, m.reason) for m in rewrite(g, strict).near_misses] == [
        (2, 2, "no")
    ]


def test_the_deepest_alternative_is_the_near_miss() -> None:
    rule = Rule(
        "either",
        either(op.exp(op.relu(X)), op.exp(op.tanh(op.sigmoid(X)))),
        lambda m, em: [m["x"]],
    )
    g = parse("  %t = tanh(%x) : f32[4]\n  %e = exp(%t) : f32[4]\n  return %e\n")
    (miss,) = rewrite(g, rule).near_misses
    assert (miss.matched, miss.total, miss.reason) == (
        2,
        3,
        "%x is a graph input, not the output of sigmoid",
    )


def test_near_misses_at_anchors_a_later_rule_rewrote_are_dropped() -> None:
    zero_bias = Rule("add(x,0)->x", op.add(X, scalar(equal_to=0.0)), lambda m, em: [m["x"]])
    g = parse(
        "  @zero: f32[] = 0.0\n"
        "  %m = matmul(%x, %w) : f32[2,4]\n"
        "  %a = add(%m, @zero) : f32[2,4]\n"
        "  %r = relu(%a) : f32[2,4]\n"
        "  return %r\n",
        MM_SIG,
    )
    result = rewrite(g, LINEAR, zero_bias)  # linear fails its check at %a, then %a goes
    assert [r.rule for r in result.rewrites] == ["add(x,0)->x"]
    assert result.near_misses == []
    assert "  %r = relu(%m) : f32[2,4]\n" in body(g)


def test_a_near_miss_describes_the_final_graph_one_per_rule_and_anchor() -> None:
    # exp(tanh(x)) first matches fully and fails its check (2/2); then tanh becomes relu and
    # exp's pattern stops at its input (1/2): only the second is still true
    exp_tanh = Rule(
        "exp(tanh)", op.exp(op.tanh(X)), emit("exp"), [lambda m: "check says no"], min_near_miss=1
    )
    g = parse("  %t = sigmoid(%x) : f32[4]\n  %e = exp(%t) : f32[4]\n  return %e\n")
    result = rewrite(g, SIGMOID_TO_TANH, TANH_TO_RELU, exp_tanh)
    assert [(m.anchor, m.matched, m.reason) for m in result.near_misses] == [
        ("e", 1, "%t is produced by relu, not tanh")
    ]


def test_a_near_miss_names_its_anchor_as_it_is_named_at_the_end() -> None:
    refuse = Rule("relu (refused)", op.relu(X), emit("relu"), [lambda m: "refused"])
    g = parse(
        "  %p = relu(%x) : f32[4]  # m.py:1\n"
        "  %a = neg(%p) : f32[4]\n"
        "  %out = neg(%a) : f32[4]\n"
        "  return %out\n"
    )
    result = rewrite(g, refuse, NEG_NEG)  # %p replaces the output %out and takes its name
    assert body(g) == "  %out = relu(%x) : f32[4]  # m.py:1\n  return %out\n"
    assert [str(m) for m in result.near_misses] == [
        "relu (refused) at relu %out (m.py:1): matched 1/1 ops, then refused"
    ]


def test_near_misses_are_listed_in_graph_order_then_rule_order() -> None:
    never = [lambda m: "never"]
    first = Rule("first", op.neg(op.neg(X)), NEG_NEG.build, never)
    second = Rule("second", op.neg(op.neg(X)), NEG_NEG.build, never)
    g = parse(
        "  %a = neg(%x) : f32[4]\n  %b = neg(%a) : f32[4]\n  %c = neg(%b) : f32[4]\n  return %c\n"
    )
    result = rewrite(g, first, second)
    assert [(m.rule, m.anchor) for m in result.near_misses] == [
        ("first", "b"),
        ("second", "b"),
        ("first", "c"),
        ("second", "c"),
    ]


# build: Reject, existing values, graph outputs ----------------------------------------------
def test_reject_undoes_what_build_emitted() -> None:
    def build(m: Match, em: GraphEmitter) -> list[Value]:
        scale = em.const(np.full((4,), 2.0, np.float32))
        em.op("mul", em.op("relu", m["x"]), scale)
        raise Reject("the test declines")

    text = "  %a = neg(%x) : f32[4]  # m.py:1\n  %b = neg(%a) : f32[4]  # m.py:2\n  return %b\n"
    g = parse(text)
    constants = dict(g.constants)
    result = rewrite(g, Rule("declines", op.neg(op.neg(X)), build))
    assert body(g) == text and g.constants == constants
    assert result.near_misses == [
        NearMiss("declines", "b", "neg", "m.py:2", 2, 2, "the test declines")
    ]
    assert not result.changed


def test_an_existing_value_replaces_the_root_and_keeps_its_name() -> None:
    g = parse(
        "  %e = exp(%x) : f32[4]\n"
        "  %a = neg(%e) : f32[4]\n"
        "  %b = neg(%a) : f32[4]\n"
        "  %s = add(%b, %y) : f32[4]\n"
        "  return %s\n"
    )
    result = rewrite(g, NEG_NEG)
    assert body(g) == "  %e = exp(%x) : f32[4]\n  %s = add(%e, %y) : f32[4]\n  return %s\n"
    assert result.rewrites == [Rewrite("neg(neg(x))->x", "b", ("neg %b", "neg %a"), (), ())]
    assert str(result.rewrites[0]) == "neg(neg(x))->x: neg %b + neg %a -> nothing (removed)"


def test_graph_outputs_keep_their_names() -> None:
    g = parse(
        "  %e = exp(%x) : f32[4]\n"
        "  %a = neg(%e) : f32[4]\n"
        "  %out = neg(%a) : f32[4]\n"
        "  %r1 = relu(%y) : f32[4]\n"
        "  %out2 = relu(%r1) : f32[4]\n"
        "  return %out, %out2\n",
        "(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4])",
    )
    rewrite(g, NEG_NEG, RELU_RELU)
    assert body(g) == (
        "  %out = exp(%x) : f32[4]\n  %out2 = relu(%y) : f32[4]\n  return %out, %out2\n"
    )


def test_a_graph_output_is_not_renamed_to_a_graph_input_or_a_constant() -> None:
    text = "  %a = neg(%x) : f32[4]\n  %out = neg(%a) : f32[4]  # m.py:2\n  return %out\n"
    g = parse(text)
    result = rewrite(g, NEG_NEG)
    assert body(g) == text
    assert result.near_misses == [
        NearMiss(
            NEG_NEG.name, "out", "neg", "m.py:2", 2, 2, "it would rename graph output %out to %x"
        )
    ]
    c = parse(
        "  @c: f32[4] = [1,2,3,4]\n  %a = neg(@c) : f32[4]\n  %out = neg(%a) : f32[4]\n"
        "  return %out\n"
    )
    assert [m.reason for m in rewrite(c, NEG_NEG).near_misses] == [
        "it would rename graph output %out to %c"
    ]


def test_two_graph_outputs_are_not_merged() -> None:
    text = (
        "  %e = exp(%x) : f32[4]\n  %a = neg(%e) : f32[4]\n  %b = neg(%a) : f32[4]\n"
        "  return %e, %b\n"
    )
    g = parse(text, "(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4])")
    result = rewrite(g, NEG_NEG)
    assert body(g) == text
    assert [m.reason for m in result.near_misses] == [
        "graph outputs %b and %e would become one value"
    ]


def test_matched_nodes_still_used_elsewhere_stay() -> None:
    shared = Rule(
        "add(neg(x), y)->sub(y, x)",
        op.add(op.neg(X, single_use=False), var("y")),
        lambda m, em: [em.op("sub", m["y"], m["x"])],
    )
    g = parse(
        "  %n = neg(%x) : f32[4]\n  %s = add(%n, %y) : f32[4]\n  %t = mul(%s, %n) : f32[4]\n"
        "  return %t\n"
    )
    rewrite(g, shared)
    assert body(g) == (
        "  %n = neg(%x) : f32[4]\n  %s = sub(%y, %x) : f32[4]\n  %t = mul(%s, %n) : f32[4]\n"
        "  return %t\n"
    )


def test_matched_nodes_the_pattern_shares_are_removed_once_unused() -> None:
    # %r is used by both matched nodes; it is dead only after %m is removed
    rule = Rule(
        "add(r, mul(r, y))",
        op.add(op.relu(X, capture="r", single_use=False), op.mul(var("r"), var("y"))),
        lambda m, em: [em.op("mul", m["r"], m["y"])],
    )
    g = parse(
        "  %r = relu(%x) : f32[4]\n  %m = mul(%r, %y) : f32[4]\n  %s = add(%r, %m) : f32[4]\n"
        "  return %s\n"
    )
    result = rewrite(g, rule)
    assert body(g) == ("  %r = relu(%x) : f32[4]\n  %s = mul(%r, %y) : f32[4]\n  return %s\n")
    assert result.rewrites[0].matched == ("add %s", "relu %r", "mul %m")


def test_build_nodes_go_before_the_root_with_its_location_and_unused_ones_are_removed() -> None:
    def build(m: Match, em: GraphEmitter) -> list[Value]:
        em.op("exp", m["x"])  # emitted, never used
        return [em.op("mul", em.op("relu", m["x"]), em.const(np.ones(4, np.float32)))]

    g = parse(
        "  %a = neg(%x) : f32[4]  # m.py:1\n"
        "  %b = neg(%a) : f32[4]  # m.py:2\n"
        "  %c = tanh(%b) : f32[4]  # m.py:3\n"
        "  return %c\n"
    )
    result = rewrite(g, Rule("emits", op.neg(op.neg(X)), build))
    assert body(g) == (
        "  @b.const: f32[4] = [1.0, 1.0, 1.0, 1.0]\n"
        "  %b.relu = relu(%x) : f32[4]  # m.py:2\n"
        "  %b = mul(%b.relu, @b.const) : f32[4]  # m.py:2\n"
        "  %c = tanh(%b) : f32[4]  # m.py:3\n"
        "  return %c\n"
    )
    assert result.rewrites[0].produced == ("relu %b.relu", "mul %b")


# bugs in rules -------------------------------------------------------------------------------
def _raises_bug(graph: Graph, rule: Rule, *words: str) -> None:
    before = print_graph(graph)
    with pytest.raises(InternalError) as info:
        apply_rules(graph, [rule])
    for w in words:
        assert w in str(info.value), str(info.value)
    assert info.value.loc == "m.py:2"
    assert print_graph(graph) == before  # what build emitted was undone
    verify(graph)


TRANSPOSE = "  %a = exp(%x) : f32[2,3]\n  %t = transpose(%a) {perm=[1,0]} : f32[3,2]  # m.py:2\n"
T_SIG = "(%x: f32[2,3]) -> (f32[3,2])"


def test_a_build_changing_the_type_is_an_internal_error_naming_the_rule() -> None:
    rule = Rule("bad-type", op.transpose(X), lambda m, em: [em.op("relu", m["x"])])
    _raises_bug(
        parse(TRANSPOSE + "  return %t\n", T_SIG),
        rule,
        "rule bad-type at transpose %t",
        "%t: f32[3,2] by %t.relu: f32[2,3]",
    )


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda m, em: [], "build gave 0 values for 1 outputs"),
        (lambda m, em: [m.root.outputs[0]], "the root's own output %t; raise Reject"),
        (lambda m, em: [em.op("exp", m["x"]), m["x"]], "build gave 2 values"),
        (lambda m, em: m.node("missing"), "KeyError: 'missing'"),
    ],
)
def test_other_build_bugs_are_internal_errors_naming_the_rule(
    build: Callable[[Match, GraphEmitter], Sequence[Value]], words: str
) -> None:
    rule = Rule("buggy", op.relu(X), build)
    g = parse("  %a = exp(%x) : f32[4]\n  %t = relu(%a) : f32[4]  # m.py:2\n  return %t\n")
    _raises_bug(g, rule, "rule buggy", words)


def test_a_crashing_check_or_predicate_is_an_internal_error_naming_the_rule() -> None:
    g = parse("  %a = exp(%x) : f32[4]\n  %t = relu(%a) : f32[4]  # m.py:2\n  return %t\n")
    check = Rule("bad-check", op.relu(X), emit("relu"), [lambda m: str(1 // 0)])
    _raises_bug(g, check, "rule bad-check failed in its pattern or a check at relu %t", "ZeroDiv")
    odd = var("x", such_that(lambda v: v.const.size == 1, "is one number"))  # None for %a
    predicate = Rule("bad-predicate", op.relu(odd), emit("relu"))
    _raises_bug(g, predicate, "rule bad-predicate failed", "AttributeError")


def test_a_result_computed_after_the_root_is_an_internal_error() -> None:
    g = parse(
        "  %a = exp(%x) : f32[4]\n"
        "  %t = relu(%a) : f32[4]  # m.py:2\n"
        "  %later = tanh(%x) : f32[4]\n"
        "  %s = add(%t, %later) : f32[4]\n"
        "  return %s\n"
    )
    later = next(n for n in g.nodes if n.op == "tanh").outputs[0]
    rule = Rule("from-the-future", op.relu(X), lambda m, em: [later])
    _raises_bug(g, rule, "rule from-the-future", "%later, which is computed after the root")


def test_rules_that_undo_each_other_stop_with_an_internal_error() -> None:
    there = Rule("relu->sigmoid (test only)", op.relu(X), emit("sigmoid"))
    back = Rule("sigmoid->relu (test only)", op.sigmoid(X), emit("relu"))
    g = parse("  %r = relu(%x) : f32[4]  # m.py:2\n  return %r\n")
    with pytest.raises(InternalError, match="did not reach a fixpoint") as info:
        apply_rules(g, [there, back])
    assert "two rules probably undo each other" in str(info.value)
    assert info.value.loc == "m.py:2"


def test_a_rule_needs_an_op_at_its_root() -> None:
    with pytest.raises(TypeError, match="rooted at an op"):
        Rule("no root", var("x"), lambda m, em: [m["x"]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rooted at an op"):
        Rule("no root", either(op.relu(X), var("x")), lambda m, em: [m["x"]])


def test_checks_may_be_a_list() -> None:
    rule = Rule("listed", op.relu(X), emit("relu"), checks=[lambda m: None])
    assert isinstance(rule.checks, tuple) and hash(rule)


def test_no_rules_change_nothing() -> None:
    g = parse(RELU_TEXT := "  %r = relu(%x) : f32[4]\n  return %r\n")
    result = rewrite(g)
    assert body(g) == RELU_TEXT and result == PassResult()
