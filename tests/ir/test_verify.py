"""``verify`` on hand-built broken graphs: each names what is wrong and where."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir import (
    Attrs,
    Graph,
    Node,
    TensorType,
    Value,
    VerificationError,
    get_op,
    parse_graph,
    verify,
)

F = TensorType.of("f32", ["N", 4])


def chain() -> tuple[Graph, dict[str, Value]]:
    """%a = relu(%x) (at m.py:1); %b = exp(%a) (m.py:2); %c = add(%b, %x) (m.py:3)."""
    g = Graph("chain")
    x = g.add_input("x", F)
    a = g.add("relu", [x], names=["a"], loc="m.py:1").output
    b = g.add("exp", [a], names=["b"], loc="m.py:2").output
    c = g.add("add", [b, x], names=["c"], loc="m.py:3").output
    g.outputs = [c]
    return g, {"x": x, "a": a, "b": b, "c": c}


def broken(g: Graph) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(g)
    return info.value


def test_a_valid_graph_passes() -> None:
    g, _ = chain()
    verify(g)
    verify(Graph("empty"))


def test_parsed_graphs_verify() -> None:
    verify(
        parse_graph(
            "graph g(%x: f32[N,4]) -> (f32[N,4], f32[N,2], f32[N,2]) {\n"
            "  @w: f32[4] = [1.0, 2.0, 3.0, 4.0]\n"
            "  %y = mul(%x, @w) : f32[N,4]  # m.py:1\n"
            "  %a, %b = split(%y) {axis=1, sizes=[2,2]} : f32[N,2], f32[N,2]\n"
            "  return %y, %a, %b\n"
            "}\n"
        )
    )


def test_use_before_definition() -> None:
    g, v = chain()
    early = g.create_node("neg", [v["b"]], names=["early"], loc="m.py:9")
    g.insert_before(v["a"].producer, early)
    err = broken(g)
    assert "%b (input 0 of neg node (%early)) is used before its definition" in err.message
    assert "by exp node (%b)" in err.message
    assert err.loc == "m.py:9"
    assert "Graph.sort" in err.hint


def test_two_producers() -> None:
    g, v = chain()
    # A node built with another node's output value: %a now has two producers.
    twin = Node("neg", [v["x"]], get_op("neg").make_attrs({}), [v["a"]], loc="m.py:7")
    g.append(twin)
    err = broken(g)
    assert "value %a is produced by two nodes" in err.message
    assert "relu node (%a) at m.py:1" in err.message
    assert "neg node (%a) at m.py:7" in err.message


def test_two_producers_when_the_second_is_not_in_the_graph() -> None:
    g, v = chain()
    Node("neg", [v["x"]], get_op("neg").make_attrs({}), [v["b"]], loc="m.py:8")
    err = broken(g)
    assert "value %b is produced by two nodes" in err.message


def test_wrong_inferred_type_says_both_types() -> None:
    g, v = chain()
    wrong = TensorType.of("f32", [3])
    node = g.create_node("relu", [v["c"]], names=["d"], types=[wrong], loc="m.py:4")
    g.append(node)
    err = broken(g)
    assert "%d (relu) has type f32[3] but inference gives f32[N,4]" in err.message
    assert err.loc == "m.py:4"


def test_inference_failure_is_reported() -> None:
    g, v = chain()
    y = g.add_input("y", TensorType.of("f32", [5]))
    g.append(g.create_node("add", [v["c"], y], names=["d"], types=[F], loc="m.py:5"))
    err = broken(g)
    assert "add node (%d): type inference fails" in err.message
    assert "do not broadcast" in err.message
    assert err.loc == "m.py:5"


def test_a_cycle_is_named() -> None:
    g, v = chain()
    g.set_input(v["a"].producer, 0, v["b"])  # %a = relu(%b), %b = exp(%a)
    err = broken(g)
    assert "graph chain has a cycle" in err.message
    assert "%a (relu)" in err.message and "%b (exp)" in err.message
    assert "%c" not in err.message
    assert err.loc in ("m.py:1", "m.py:2")


def test_a_self_loop_is_a_cycle() -> None:
    g, v = chain()
    g.set_input(v["b"].producer, 0, v["b"])
    assert "cycle: %b (exp) -> %b (exp)" in broken(g).message


def test_dangling_value() -> None:
    g, v = chain()
    other = Graph("other")
    stray = other.add_input("stray", F)
    g.append(g.create_node("add", [v["c"], stray], names=["d"], loc="m.py:6"))
    err = broken(g)
    assert "%stray (input 1 of add node (%d)) is dangling" in err.message
    assert "neither a graph input, a constant, nor the output of a node" in err.message
    assert err.loc == "m.py:6"


def test_undefined_graph_output() -> None:
    g, v = chain()
    g.outputs = [v["c"], Value("ghost", F)]
    err = broken(g)
    assert "graph output 1 %ghost is not defined" in err.message


def test_output_of_a_removed_node_is_undefined() -> None:
    g, v = chain()
    g.outputs = [v["b"]]
    g.remove(v["c"].producer)
    verify(g)
    g.outputs = [v["c"]]
    assert "graph output 0 %c is not defined" in broken(g).message


def test_duplicate_value_names() -> None:
    g, v = chain()
    clash = Node("neg", [v["c"]], get_op("neg").make_attrs({}), [Value("a", F)], loc="m.py:5")
    g.append(clash)
    err = broken(g)
    assert "value name %a is used twice: by relu node (%a) and by neg node (%a)" in err.message
    assert err.loc == "m.py:5"


def test_attribute_that_fails_validation() -> None:
    g, v = chain()
    bad = Node("gelu", [v["c"]], Attrs({"approximate": "fast"}), [Value("d", F)], loc="m.py:5")
    g.append(bad)
    err = broken(g)
    assert "gelu node (%d): gelu: attribute approximate='fast' is not allowed" in err.message
    assert "use one of 'none', 'tanh'" in err.hint
    assert err.loc == "m.py:5"


def test_unknown_attribute_and_unnormalized_attributes() -> None:
    g, v = chain()
    g.append(Node("relu", [v["c"]], Attrs({"alpha": 1}), [Value("d", F)]))
    assert "unknown attribute(s) alpha" in broken(g).message
    g2, v2 = chain()
    g2.append(Node("gelu", [v2["c"]], Attrs({}), [Value("d", F)]))
    assert "are not normalized (expected {'approximate': 'none'})" in broken(g2).message


def test_unknown_op() -> None:
    g, v = chain()
    g.append(Node("rleu", [v["c"]], Attrs({}), [Value("d", F)]))
    err = broken(g)
    assert "unknown op 'rleu'" in err.message
    assert "relu" in err.hint


def test_stale_use_list() -> None:
    g, v = chain()
    v["c"].producer._inputs[1] = v["a"]  # bypasses Graph.set_input on purpose
    err = broken(g)
    assert "the use-list of %x is stale" in err.message
    assert "input 1 of add node (%c)" in err.message


def test_graph_input_with_a_producer() -> None:
    g, v = chain()
    Node("neg", [v["a"]], get_op("neg").make_attrs({}), [v["x"]])
    assert "graph input %x is also the output of neg node" in broken(g).message


def test_constant_data_must_match_its_type() -> None:
    g, _ = chain()
    g.add_constant("w", np.zeros(3, np.float32), TensorType.of("f32", [4]))
    assert (
        "constant @w is typed f32[4] but holds a float32 array of shape (3,)" in broken(g).message
    )
    g2, _ = chain()
    g2.add_constant("w", np.zeros(4, np.float64), TensorType.of("f32", [4]))
    assert "holds a float64 array of shape (4,)" in broken(g2).message


def test_a_node_listed_but_not_owned() -> None:
    g, v = chain()
    v["a"].producer.graph = None
    assert "relu node (%a) is in the node list of graph chain" in broken(g).message
