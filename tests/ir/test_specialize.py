"""``specialize``: bind symbols, fold static shape computation, keep the meaning."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir import (
    Graph,
    InputError,
    TensorType,
    get_op,
    graph_symbols,
    parse_graph,
    print_graph,
    specialize,
    verify,
)

BEFORE = """\
graph model(%x: f32[N,S,4]) -> (f32[N*S,4], i64[3], i64[N], f32[H-2]) {
  %flat = reshape(%x) {shape=[N*S,-1]} : f32[N*S,4]  # m.py:1
  %act = relu(%x) : f32[N,S,4]  # m.py:2
  %dims = shape(%act) : i64[3]  # m.py:3
  %pos = range() {limit=N+1, start=1} : i64[N]  # m.py:4
  %win = range() {limit=H-2} : i64[H-2]
  %cast = cast(%win) {to=f32} : f32[H-2]
  return %flat, %dims, %pos, %cast
}
"""

AFTER_ALL = """\
graph model(%x: f32[2,3,4]) -> (f32[6,4], i64[3], i64[2], f32[3]) {
  @dims: i64[3] = [2, 3, 4]
  @pos: i64[2] = [1, 2]
  @win: i64[3] = [0, 1, 2]
  %flat = reshape(%x) {shape=[6,-1]} : f32[6,4]  # m.py:1
  %cast = cast(@win) {to=f32} : f32[3]
  return %flat, @dims, @pos, %cast
}
"""

AFTER_N = """\
graph model(%x: f32[2,S,4]) -> (f32[2*S,4], i64[3], i64[2], f32[H-2]) {
  @pos: i64[2] = [1, 2]
  %flat = reshape(%x) {shape=[2*S,-1]} : f32[2*S,4]  # m.py:1
  %act = relu(%x) : f32[2,S,4]  # m.py:2
  %dims = shape(%act) : i64[3]  # m.py:3
  %win = range() {limit=H-2} : i64[H-2]
  %cast = cast(%win) {to=f32} : f32[H-2]
  return %flat, %dims, @pos, %cast
}
"""


def test_graph_symbols_come_from_types_and_dim_attributes() -> None:
    g = parse_graph(BEFORE)
    assert graph_symbols(g) == ["H", "N", "S"]
    h = Graph()
    x = h.add_input("x", TensorType.of("f32", [6]))
    h.add("reshape", [x], {"shape": [2, 3]})
    assert graph_symbols(h) == []
    h.add("range", [], {"limit": "K"})
    assert graph_symbols(h) == ["K"]


def test_specialize_all_symbols_folds_shape_and_range() -> None:
    g = parse_graph(BEFORE)
    out = specialize(g, {"N": 2, "S": 3, "H": 5})
    assert print_graph(out) == AFTER_ALL
    verify(out)
    assert graph_symbols(out) == []
    assert print_graph(g) == BEFORE  # the input graph is unchanged


def test_specialize_some_symbols_folds_only_what_became_static() -> None:
    out = specialize(parse_graph(BEFORE), {"N": 2})
    assert print_graph(out) == AFTER_N
    verify(out)
    assert graph_symbols(out) == ["H", "S"]


def test_specialize_twice_equals_specialize_once() -> None:
    g = parse_graph(BEFORE)
    twice = specialize(specialize(g, {"N": 2}), {"S": 3, "H": 5})
    # Same lines; constants are declared in the order they were folded.
    assert sorted(print_graph(twice).splitlines()) == sorted(AFTER_ALL.splitlines())


def test_specialize_with_no_bindings_is_a_copy() -> None:
    g = parse_graph(BEFORE)
    out = specialize(g, {})
    assert out is not g
    assert print_graph(out) == BEFORE


def _run(g: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Evaluate a graph with the ops' references (enough for these tests)."""
    env = {id(v): feeds[v.name] for v in g.inputs}
    env.update({id(c): c.const for c in g.constants.values()})
    for node in g.nodes:
        outs = get_op(node.op).reference([env[id(v)] for v in node.inputs], node.attrs)
        env.update({id(v): a for v, a in zip(node.outputs, outs, strict=True)})
    return [env[id(v)] for v in g.outputs]


def test_specialized_graph_computes_what_the_folded_ops_would() -> None:
    out = specialize(parse_graph(BEFORE), {"N": 2, "S": 3, "H": 5})
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    flat, dims, pos, cast = _run(out, {"x": x})
    assert np.array_equal(flat, x.reshape(6, 4))
    assert dims.dtype == np.int64 and dims.tolist() == list(x.shape)
    assert pos.dtype == np.int64 and pos.tolist() == [1, 2]
    assert cast.dtype == np.float32 and cast.tolist() == [0.0, 1.0, 2.0]


def test_dead_nodes_are_removed() -> None:
    g = parse_graph(
        "graph g(%x: f32[N]) -> (i64[1]) {\n"
        "  %a = relu(%x) : f32[N]\n"
        "  %b = exp(%a) : f32[N]\n"
        "  %s = shape(%b) : i64[1]\n"
        "  return %s\n"
        "}\n"
    )
    out = specialize(g, {"N": 7})
    assert len(out.nodes) == 0
    assert out.outputs == [out.constants["s"]]
    const = out.constants["s"].const
    assert const is not None and const.tolist() == [7]


def test_unknown_symbol_lists_the_graph_symbols() -> None:
    with pytest.raises(InputError, match="graph model has no dimension symbol 'B'") as info:
        specialize(parse_graph(BEFORE), {"B": 2})
    assert info.value.hint == "its symbols are: H, N, S"


def test_a_static_graph_says_it_has_no_symbols() -> None:
    g = Graph("static")
    g.add_input("x", TensorType.of("f32", [2]))
    with pytest.raises(InputError) as info:
        specialize(g, {"N": 1})
    assert "none (the graph is fully static)" in info.value.hint


@pytest.mark.parametrize(
    "size, message",
    [(0, "must be positive, got 0"), (-3, "must be positive"), (2.5, "must be an int")],
)
def test_sizes_must_be_positive_ints(size: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        specialize(parse_graph(BEFORE), {"N": size})  # type: ignore[dict-item]
    assert "H, N, S" in info.value.hint


def test_bool_and_numpy_sizes() -> None:
    with pytest.raises(InputError, match="must be an int"):
        specialize(parse_graph(BEFORE), {"N": True})
    out = specialize(parse_graph(BEFORE), {"N": np.int64(2), "S": 3, "H": 5})  # type: ignore[dict-item]
    assert print_graph(out) == AFTER_ALL


def test_a_binding_that_makes_a_dim_negative_is_refused() -> None:
    with pytest.raises(InputError, match=r"H=1, %win would have the negative shape i64\[-1\]"):
        specialize(parse_graph(BEFORE), {"H": 1})


def test_sizes_that_break_a_traced_assumption_name_the_node() -> None:
    # rows [0, S) of a 4-row table: the type f32[S,8] assumes S <= 4
    g = Graph("table")
    x = g.add_input("x", TensorType.of("f32", ["S", 8]))
    table = g.add_constant("table", np.zeros((4, 8), np.float32))
    rows = g.add("slice", [table], {"starts": [0], "ends": ["S"]}, loc="model.py:7")
    g.outputs = [g.add("add", [x, rows.output]).output]
    assert specialize(g, {"S": 4}).outputs[0].type == TensorType.of("f32", [4, 8])
    with pytest.raises(InputError) as info:
        specialize(g, {"S": 6})
    text = str(info.value)
    assert "S=6" in text and "f32[4,8]" in text and "f32[6,8]" in text
    assert info.value.loc == "model.py:7"
