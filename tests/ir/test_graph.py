"""The Graph mutation API keeps use-lists and order consistent."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.ir import Graph, TensorType, Value, VerificationError, print_graph, verify

F = TensorType.of("f32", ["N", 4])


def chain() -> tuple[Graph, dict[str, Value]]:
    """%a = relu(%x); %b = exp(%a); %c = add(%b, %x); return %c -- and its values by name."""
    g = Graph("chain")
    x = g.add_input("x", F)
    a = g.add("relu", [x], names=["a"]).output
    b = g.add("exp", [a], names=["b"]).output
    c = g.add("add", [b, x], names=["c"]).output
    g.outputs = [c]
    return g, {"x": x, "a": a, "b": b, "c": c}


def uses(v: Value) -> list[tuple[str, int]]:
    return [(n.op, i) for n, i in v.uses]


def test_append_records_uses_in_order() -> None:
    g, v = chain()
    x, c = v["x"], v["c"]
    assert uses(x) == [("relu", 0), ("add", 1)]
    assert [n.op for n in x.users] == ["relu", "add"]
    assert uses(c) == []
    assert [n.op for n in g.nodes] == ["relu", "exp", "add"]
    assert len(g.nodes) == 3
    assert [n.op for n in reversed(g.nodes)] == ["add", "exp", "relu"]


def test_a_node_that_uses_a_value_twice_has_two_uses() -> None:
    g = Graph()
    x = g.add_input("x", F)
    node = g.add("mul", [x, x])
    assert uses(x) == [("mul", 0), ("mul", 1)]
    assert x.users == [node]


def test_num_uses_counts_node_uses_as_the_use_list_does() -> None:
    g, v = chain()
    x, a, c = v["x"], v["a"], v["c"]
    assert (x.num_uses, a.num_uses, c.num_uses) == (2, 1, 0)  # graph outputs are not uses
    twice = g.add("mul", [a, a])
    assert a.num_uses == 3 == len(a.uses)  # exp, and mul twice
    g.remove(twice)
    g.set_input(c.producer, 1, a)  # add(%b, %a): x loses a use, a gains one
    assert (x.num_uses, a.num_uses) == (1, 2)


def test_insert_before_and_after() -> None:
    g, v = chain()
    x, a, b, c = v["x"], v["a"], v["b"], v["c"]
    exp = b.producer
    early = g.create_node("tanh", [a], names=["t"])
    g.insert_before(exp, early)
    late = g.create_node("sigmoid", [c], names=["s"])
    g.insert_after(c.producer, late)
    assert [n.op for n in g.nodes] == ["relu", "tanh", "exp", "add", "sigmoid"]
    assert uses(a) == [("exp", 0), ("tanh", 0)]
    assert uses(c) == [("sigmoid", 0)]
    head = g.create_node("neg", [x], names=["n"])
    g.insert_before(next(iter(g.nodes)), head)
    assert next(iter(g.nodes)) is head
    verify(g)


def test_remove_of_a_used_node_refuses() -> None:
    g, v = chain()
    a, c = v["a"], v["c"]
    with pytest.raises(VerificationError, match="still used"):
        g.remove(a.producer)
    with pytest.raises(VerificationError, match="still used"):
        g.remove(c.producer)  # a graph output counts as a use
    assert len(g.nodes) == 3


def test_remove_drops_uses_and_frees_the_name() -> None:
    g, v = chain()
    a, b = v["a"], v["b"]
    g.replace_all_uses(b, a)
    g.remove(b.producer)
    assert uses(a) == [("add", 0)]
    assert [n.op for n in g.nodes] == ["relu", "add"]
    assert g.unique_name("b") == "b"
    assert g.unique_name("a") == "a_1"
    verify(g)


def test_set_input_moves_the_use() -> None:
    g, v = chain()
    x, a, b, c = v["x"], v["a"], v["b"], v["c"]
    add = c.producer
    g.set_input(add, 1, a)
    assert uses(x) == [("relu", 0)]
    assert uses(a) == [("exp", 0), ("add", 1)]
    assert add.inputs == (b, a)
    verify(g)


def test_set_input_on_a_node_outside_the_graph_records_uses_on_insert() -> None:
    g, v = chain()
    x, a = v["x"], v["a"]
    node = g.create_node("mul", [x, x], names=["m"])
    g.set_input(node, 1, a)
    assert uses(a) == [("exp", 0)]
    g.append(node)
    assert uses(a) == [("exp", 0), ("mul", 1)]
    assert uses(x) == [("relu", 0), ("add", 1), ("mul", 0)]


def test_replace_all_uses_moves_uses_and_graph_outputs() -> None:
    g, v = chain()
    x, a = v["x"], v["a"]
    g.replace_all_uses(x, a)
    assert uses(x) == []
    assert uses(a) == [("exp", 0), ("relu", 0), ("add", 1)]
    g2, v2 = chain()
    b2, c2 = v2["b"], v2["c"]
    g2.replace_all_uses(c2, b2)
    assert g2.outputs == [b2]


def test_replace_all_uses_requires_equal_types() -> None:
    g, v = chain()
    x = v["x"]
    other = g.add_input("y", TensorType.of("f32", [4]))
    with pytest.raises(VerificationError, match="same type"):
        g.replace_all_uses(x, other)


def test_sort_restores_topological_order() -> None:
    g, v = chain()
    a, c = v["a"], v["c"]
    late = g.create_node("sigmoid", [c], names=["s"])
    g.insert_before(a.producer, late)  # uses %c before it is defined
    with pytest.raises(VerificationError, match="before its definition"):
        verify(g)
    g.sort()
    assert [n.op for n in g.nodes] == ["relu", "exp", "add", "sigmoid"]
    assert [n.op for n in reversed(g.nodes)] == ["sigmoid", "add", "exp", "relu"]
    verify(g)


def test_sort_keeps_a_valid_order_unchanged() -> None:
    g, _ = chain()
    before = print_graph(g)
    g.sort()
    assert print_graph(g) == before


def test_sort_refuses_a_cycle() -> None:
    g, v = chain()
    a, b = v["a"], v["b"]
    g.set_input(a.producer, 0, b)  # relu(exp(relu(...)))
    with pytest.raises(VerificationError, match="cycle"):
        g.sort()


def test_copy_is_deep() -> None:
    g, v = chain()
    c = v["c"]
    w = g.add_constant("w", np.ones(4, np.float32))
    g.add("mul", [c, w], names=["m"])
    copy = g.copy()
    assert print_graph(copy) == print_graph(g)
    originals = {id(v) for v in g.values()} | {id(n) for n in g.nodes}
    assert not originals & ({id(v) for v in copy.values()} | {id(n) for n in copy.nodes})
    assert copy.constants["w"].const is not None
    assert np.shares_memory(copy.constants["w"].const, w.const)  # read-only data is shared
    node = next(iter(copy.nodes))
    assert node.graph is copy
    copy.replace_all_uses(copy.outputs[0], copy.inputs[0])
    assert g.outputs == [c]
    assert uses(c) == [("mul", 0)]
    verify(g)
    verify(copy)


def test_constants_keep_their_rank_and_are_read_only() -> None:
    g = Graph()
    data = np.array(0.5, np.float32)
    scale = g.add_constant("scale", data)
    assert scale.type == TensorType.of("f32", [])
    assert scale.const is not None and scale.const.shape == ()
    assert not scale.const.flags.writeable
    assert data.flags.writeable  # the caller's array is left alone
    declared = g.add_constant("w", None, TensorType.of("f32", [3]))
    assert declared.const is None and not declared.is_const


def test_duplicate_names_are_refused() -> None:
    g = Graph()
    g.add_input("x", F)
    with pytest.raises(VerificationError, match="used twice"):
        g.add_constant("x", np.zeros(1, np.float32))


def test_unique_names_are_deterministic() -> None:
    g = Graph()
    x = g.add_input("x", F)
    names = [g.add("relu", [x]).output.name for _ in range(3)]
    assert names == ["relu", "relu_1", "relu_2"]


def test_unique_names_reuse_the_smallest_freed_suffix() -> None:
    g = Graph()
    x = g.add_input("x", F)
    nodes = [g.add("relu", [x]) for _ in range(5)]  # relu, relu_1, ..., relu_4
    g.remove(nodes[3])
    g.remove(nodes[1])
    assert g.unique_name("relu") == "relu_1"
    g.rename(nodes[2].output, "renamed")  # frees relu_2
    assert [g.add("relu", [x]).output.name for _ in range(4)] == [
        "relu_1",
        "relu_2",
        "relu_3",
        "relu_5",
    ]


def test_removing_users_last_to_first_keeps_the_other_uses_in_order() -> None:
    g = Graph()
    x = g.add_input("x", F)
    users = [g.add(op, [x]) for op in ("relu", "exp", "tanh", "neg", "abs")]
    for node in reversed(users[1:4]):
        g.remove(node)
    assert uses(x) == [("relu", 0), ("abs", 0)]
    verify(g)
