"""GraphEmitter and expand_fused: decompositions written into the IR, golden text and numerics."""

from __future__ import annotations

import numpy as np
import pytest

from nanograph.backends.reference import run_reference
from nanograph.ir.decompose import GraphEmitter, expand_fused
from nanograph.ir.errors import VerificationError
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph
from nanograph.ir.types import TensorType
from nanograph.ir.verify import verify


def linear_graph() -> Graph:
    g = Graph("lin")
    x = g.add_input("x", TensorType.of("f32", ("N", 3)))
    w = g.add_constant("w", np.arange(6, dtype=np.float32).reshape(3, 2) / 10)
    b = g.add_constant("b", np.array([0.5, -0.5], np.float32))
    y = g.add("linear", [x, w, b], {"activation": "gelu"}, loc="m.py:4", names=["fc"]).output
    g.outputs = [g.add("relu", [y], loc="m.py:5", names=["out"]).output]
    return g


def test_expand_fused_keeps_names_types_locations_and_meaning() -> None:
    g = linear_graph()
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    before = run_reference(g, {"x": x})["out"]
    fused = next(n for n in g.nodes if n.op == "linear")
    created = expand_fused(g, fused)
    verify(g)
    assert [n.op for n in created] == ["matmul", "add", "gelu"]
    assert [n.op for n in g.nodes] == ["matmul", "add", "gelu", "relu"]
    assert created[-1].output.name == "fc"  # users see the same value name
    assert {n.loc for n in created} == {"m.py:4"}
    np.testing.assert_allclose(run_reference(g, {"x": x})["out"], before, rtol=1e-6)
    assert print_graph(g).splitlines()[3:7] == [
        "  %fc.matmul = matmul(%x, @w) : f32[N,2]  # m.py:4",
        "  %fc.add = add(%fc.matmul, @b) : f32[N,2]  # m.py:4",
        "  %fc = gelu(%fc.add) : f32[N,2]  # m.py:4",
        "  %out = relu(%fc) : f32[N,2]  # m.py:5",
    ]


def test_expand_fused_of_a_graph_output() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", (2, 3)))
    w = g.add_input("w", TensorType.of("f32", (3, 4)))
    g.outputs = [g.add("linear", [x, w], names=["y"]).output]
    expand_fused(g, next(iter(g.nodes)))
    verify(g)
    assert [v.name for v in g.outputs] == ["y"] and g.outputs[0].producer is not None


def test_graph_emitter_inserts_before_its_anchor_and_makes_constants() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", ("N",)))
    anchor = g.add("relu", [x], names=["r"])
    g.outputs = [anchor.output]
    em = GraphEmitter(g, anchor)
    c = em.const(np.array(2.0, np.float32))
    y = em.op("mul", x, c)
    assert em.shape_of(y) == x.type.shape and str(em.dtype_of(y)) == "f32"
    assert [n.op for n in g.nodes] == ["mul", "relu"]
    assert c.name == "r.const" and y.name == "r.mul"


def test_expand_fused_refuses_core_ops() -> None:
    g = linear_graph()
    relu = next(n for n in g.nodes if n.op == "relu")
    with pytest.raises(VerificationError, match="not a fused op"):
        expand_fused(g, relu)
