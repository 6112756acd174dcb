"""Symbolic dims: normal forms, equality, substitution, floor division, text round trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanograph.ir.dims import (
    Dim,
    FloorDiv,
    SymExpr,
    add,
    as_dim,
    floordiv,
    mul,
    parse_dim,
    substitute,
    symbols_of,
)
from nanograph.ir.errors import ShapeError

N = SymExpr.symbol("N")
S = SymExpr.symbol("S")
H = SymExpr.symbol("H")


# normal forms and equality --------------------------------------------------------
def test_polynomials_that_are_equal_compare_and_hash_equal() -> None:
    assert N + N == 2 * N
    assert N * S == S * N
    assert hash(N * S) == hash(S * N)
    assert (N + 1) * (N - 1) == N * N - 1
    assert len({N * S + 1, 1 + S * N, mul(S, N) + 1}) == 1
    assert N + 1 != N + 2
    assert N != S


def test_an_expression_without_symbols_is_a_plain_int() -> None:
    zero = N - N
    assert zero == 0 and isinstance(zero, int)
    assert type(add(2, 3)) is int
    assert type(N * 0) is int
    assert type((N + 3) - N) is int


def test_printed_normal_form() -> None:
    assert str(2 * N + 1) == "2*N+1"
    assert str(1 - N) == "-N+1"
    assert str(S * N * 3) == "3*N*S"
    # the constant inside a floor is reduced to [0, d): (H-3)//2+1 == (H+1)//2-1
    assert str((H - 3) // 2 + 1) == "(H+1)//2-1"
    assert (H - 2) // 2 + 1 == H // 2
    assert repr(N * S) == "SymExpr('N*S')"


def test_symbols() -> None:
    assert ((H - 3) // 2 * N).symbols() == {"H", "N"}
    assert symbols_of([1, N, S + 1]) == {"N", "S"}


def test_as_dim() -> None:
    assert as_dim("N*S") == N * S
    assert as_dim(3) == 3
    with pytest.raises(ShapeError):
        as_dim(True)
    with pytest.raises(ShapeError):
        as_dim(1.5j)


def test_invalid_symbol_name() -> None:
    with pytest.raises(ShapeError, match="invalid dimension symbol"):
        SymExpr.symbol("2x")


# substitution -----------------------------------------------------------------------
def test_substitute_partial_and_total() -> None:
    e = N * S + 2 * N
    assert e.substitute({"N": 2}) == 2 * S + 4
    assert e.substitute({"N": 2, "S": 3}) == 10
    assert type(e.substitute({"N": 2, "S": 3})) is int
    assert substitute(7, {"N": 1}) == 7
    assert ((H - 3) // 2 + 1).substitute({"H": 32}) == 15


def test_substitute_a_symbol_by_an_expression() -> None:
    assert (N * N).substitute({"N": S + 1}) == S * S + 2 * S + 1


# floor division ---------------------------------------------------------------------
def test_floordiv_divides_exact_monomials_out() -> None:
    assert (2 * N + 4) // 2 == N + 2
    assert (2 * N + 1) // 2 == N  # (2N+1)//2 == N for every integer N
    assert (6 * N * S + 3 * S) // 3 == 2 * N * S + S


def test_floordiv_keeps_an_atom_when_it_cannot_simplify() -> None:
    e = (N + 1) // 2
    assert isinstance(e, SymExpr)
    assert e.terms == (((FloorDiv(N + 1, 2),), 1),)
    assert (2 * N + S) // 2 == N + S // 2


def test_floordiv_trivial_cases() -> None:
    assert floordiv(N, 1) == N
    assert floordiv(7, 2) == 3
    assert floordiv(-7, 2) == -4


def test_floordiv_by_a_symbol_or_non_positive_int_raises() -> None:
    with pytest.raises(ShapeError, match="symbolic dimension"):
        floordiv(N, S)
    with pytest.raises(ShapeError, match="must be positive"):
        floordiv(N, 0)
    with pytest.raises(ShapeError, match="must be positive"):
        floordiv(N, -2)


# parse / print ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["32", "-1", "N", "N*S", "S+1", "(H+1)//2-1", "2*((N+1)//2)", "-((N+1)//2)", "N-(N+1)//2"],
)
def test_text_round_trip(text: str) -> None:
    d = parse_dim(text)
    assert str(d) == text
    assert parse_dim(str(d)) == d


def test_parse_accepts_spaces_and_normalizes() -> None:
    assert parse_dim(" S * N + N ") == N * S + N
    assert parse_dim("(N)") == N


@pytest.mark.parametrize("text", ["N+", "N$", "(N", "N)", "", "//2", "N//S"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(ShapeError):
        parse_dim(text)


# properties: random expression trees ---------------------------------------------------
Tree = Any
SYMBOLS = ("N", "S", "H")
_leaves = st.one_of(
    st.sampled_from(SYMBOLS).map(lambda s: ("sym", s)),
    st.integers(-6, 6).map(lambda i: ("int", i)),
)


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*"]), children, children),
        st.tuples(st.just("//"), children, st.integers(1, 5)),
    )


trees = st.recursive(_leaves, _extend, max_leaves=7)
points = st.fixed_dictionaries({s: st.integers(-20, 20) for s in SYMBOLS})


def build(tree: Tree) -> Dim:
    """The tree through the Dim algebra."""
    kind = tree[0]
    if kind == "sym":
        return SymExpr.symbol(tree[1])
    if kind == "int":
        return int(tree[1])
    a = build(tree[1])
    if kind == "//":
        return floordiv(a, tree[2])
    b = build(tree[2])
    return {"+": add, "-": lambda x, y: add(x, mul(y, -1)), "*": mul}[kind](a, b)


def evaluate(tree: Tree, env: dict[str, int]) -> int:
    """The tree evaluated with Python integer semantics."""
    kind = tree[0]
    if kind == "sym":
        return env[tree[1]]
    if kind == "int":
        return int(tree[1])
    a = evaluate(tree[1], env)
    if kind == "//":
        return a // tree[2]
    b = evaluate(tree[2], env)
    return {"+": a + b, "-": a - b, "*": a * b}[kind]


@settings(max_examples=300, deadline=None)
@given(trees)
def test_str_parse_round_trip(tree: Tree) -> None:
    d = build(tree)
    back = parse_dim(str(d))
    assert back == d
    assert hash(back) == hash(d)
    assert str(back) == str(d)


@settings(max_examples=300, deadline=None)
@given(trees, points)
def test_substitution_commutes_with_evaluation(tree: Tree, env: dict[str, int]) -> None:
    d = build(tree)
    assert substitute(d, env) == evaluate(tree, env)


@settings(max_examples=200, deadline=None)
@given(trees, points)
def test_printed_text_means_the_same_in_python(tree: Tree, env: dict[str, int]) -> None:
    # str(d) is Python syntax with the same precedence: evaluating it agrees.
    d = build(tree)
    assert eval(str(d), {}, dict(env)) == evaluate(tree, env)


@settings(max_examples=200, deadline=None)
@given(trees, points)
def test_partial_substitution_composes(tree: Tree, env: dict[str, int]) -> None:
    d = build(tree)
    step = substitute(d, {"N": env["N"]})
    assert substitute(step, env) == substitute(d, env)
    assert "N" not in symbols_of([step])
