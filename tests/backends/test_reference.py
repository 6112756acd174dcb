"""The reference interpreter on hand-built graphs: results, freeing, type checks, errors."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

import nanograph.backends.reference as reference_module
from nanograph.backends.reference import (
    ExecutionError,
    InternalError,
    ReferenceInterpreter,
    run_reference,
)
from nanograph.ir.attrs import Attrs
from nanograph.ir.errors import InputError, ShapeError
from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops import OPS, OpDef
from nanograph.ir.types import TensorType

F32_N3 = TensorType.of("f32", ("N", 3))


def two_input_graph() -> tuple[Graph, Value, Value]:
    g = Graph("g")
    return g, g.add_input("x", F32_N3), g.add_input("y", F32_N3)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf)
    return (0.5 * x * (1 + erf(x.astype(np.float64) / math.sqrt(2)))).astype(np.float32)


def test_elementwise_graph_matches_plain_numpy() -> None:
    g, x, y = two_input_graph()
    s = g.add("add", [x, y], loc="m.py:1").output
    r = g.add("relu", [s], loc="m.py:2").output
    out = g.add("mul", [r, g.add("gelu", [y], loc="m.py:3").output], loc="m.py:4").output
    g.outputs = [out]
    xs, ys = rand(4, 3, seed=1), rand(4, 3, seed=2)
    got = run_reference(g, {"x": xs, "y": ys})
    assert list(got) == [out.name]
    np.testing.assert_allclose(got[out.name], np.maximum(xs + ys, 0) * gelu(ys), rtol=1e-6)


def test_constants_feed_nodes() -> None:
    g = Graph("g")
    x = g.add_input("x", F32_N3)
    w = g.add_constant("w", np.array([1.0, -2.0, 3.0], np.float32))
    g.outputs = [g.add("mul", [x, w]).output]
    got = run_reference(g, {"x": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(next(iter(got.values())), [[1, -2, 3], [1, -2, 3]])


def test_a_value_used_twice_and_returned_survives_freeing() -> None:
    g, x, y = two_input_graph()
    a = g.add("add", [x, y], names=["a"]).output
    b = g.add("relu", [a], names=["b"]).output
    c = g.add("mul", [a, b], names=["c"]).output
    d = g.add("sub", [c, a], names=["d"]).output
    g.outputs = [d, a]
    xs, ys = rand(2, 3, seed=3), rand(2, 3, seed=4)
    got = run_reference(g, {"x": xs, "y": ys})
    ref_a = xs + ys
    np.testing.assert_allclose(got["a"], ref_a)
    np.testing.assert_allclose(got["d"], ref_a * np.maximum(ref_a, 0) - ref_a)


def test_values_are_released_after_their_last_use() -> None:
    g = Graph("static")  # static, so specialize (which also drops dead nodes) is a no-op
    x, y = (
        g.add_input("x", TensorType.of("f32", (2, 3))),
        g.add_input("y", TensorType.of("f32", (2, 3))),
    )
    a = g.add("add", [x, y]).output
    dead = g.add("neg", [x]).output  # never used: released as soon as it is made
    b = g.add("relu", [a]).output
    g.outputs = [b]
    plan = ReferenceInterpreter(g).plan_for({})
    assert [[v.name for v in vs] for vs in plan.release_after] == [["y"], ["x", dead.name], ["add"]]
    assert plan.release_first == []


def test_peak_live_values_stay_small_on_a_long_chain() -> None:
    g = Graph("chain")
    v = g.add_input("x", F32_N3)
    for _ in range(50):
        v = g.add("relu", [v]).output
    g.outputs = [v]
    interp = ReferenceInterpreter(g)
    interp.run({"x": rand(2, 3)})
    assert interp.peak_live <= 2


def test_one_interpreter_runs_several_symbol_bindings() -> None:
    g, x, y = two_input_graph()
    g.outputs = [g.add("add", [x, y], names=["s"]).output]
    interp = ReferenceInterpreter(g)
    for n in (1, 5, 1):
        out = interp.run({"x": rand(n, 3), "y": rand(n, 3)})["s"]
        assert out.shape == (n, 3)
    assert interp.plan_for({"N": 1}) is interp.plan_for({"N": 1})  # cached per binding


def test_symbolic_dim_attributes_are_specialized_before_running() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", ("N", 6)))
    g.outputs = [g.add("reshape", [x], {"shape": ["N", 2, 3]}, names=["r"]).output]
    got = run_reference(g, {"x": rand(4, 6)})["r"]
    np.testing.assert_array_equal(got, rand(4, 6).reshape(4, 2, 3))


def test_outputs_never_alias_inputs_or_constants() -> None:
    g = Graph("g")
    x = g.add_input("x", F32_N3)
    c = g.add_constant("c", np.ones(3, np.float32))
    g.outputs = [x, c]
    xs = rand(2, 3)
    got = run_reference(g, {"x": xs})
    assert not np.shares_memory(got["x"], xs)
    assert got["c"].flags.writeable
    np.testing.assert_array_equal(got["x"], xs)


def test_bad_feeds_raise_input_error() -> None:
    g, x, y = two_input_graph()
    g.outputs = [g.add("add", [x, y]).output]
    with pytest.raises(InputError, match="missing y"):
        run_reference(g, {"x": rand(2, 3)})


def test_constant_without_data_is_refused_when_building() -> None:
    g = Graph("g")
    x = g.add_input("x", F32_N3)
    w = g.add_constant("w", None, TensorType.of("f32", (3,)))
    g.outputs = [g.add("mul", [x, w]).output]
    with pytest.raises(ExecutionError, match=r"constant\(s\) @w: f32\[3\] have no data"):
        ReferenceInterpreter(g)


def test_numpy_errors_are_wrapped_with_op_loc_and_shapes() -> None:
    g = Graph("g")
    a = g.add_input("a", TensorType.of("i64", (2,)))
    b = g.add_input("b", TensorType.of("i64", (2,)))
    g.outputs = [g.add("div", [a, b], loc="model.py:7").output]
    with pytest.raises(ExecutionError) as info:
        run_reference(g, {"a": np.array([1, 2]), "b": np.array([1, 0])})
    err = info.value
    assert err.loc == "model.py:7"
    assert "div failed on inputs (a: i64[2], b: i64[2])" in err.message
    assert "ZeroDivisionError" in err.message
    assert isinstance(err.__cause__, ZeroDivisionError)


def patch_reference(
    monkeypatch: pytest.MonkeyPatch,
    op: str,
    fn: Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]],
) -> None:
    """Make the interpreter see ``op`` with reference ``fn`` (the registry is untouched)."""
    fake = dataclasses.replace(OPS[op], reference=fn)

    def get_op(name: str) -> OpDef:
        return fake if name == op else OPS[name]

    monkeypatch.setattr(reference_module, "get_op", get_op)


def relu_graph() -> Graph:
    g = Graph("g")
    x = g.add_input("x", F32_N3)
    g.outputs = [g.add("relu", [x], loc="net.py:3", names=["r"]).output]
    return g


def test_any_exception_inside_a_reference_is_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ins: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        return [ins[0][[10]]]  # IndexError from deep inside NumPy

    patch_reference(monkeypatch, "relu", boom)
    with pytest.raises(ExecutionError) as info:
        run_reference(relu_graph(), {"x": rand(2, 3)})
    assert "relu failed on inputs (x: f32[2,3]): IndexError" in info.value.message
    assert info.value.loc == "net.py:3"


def test_nanograph_errors_keep_their_class_and_gain_the_loc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def shape_error(ins: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        raise ShapeError("inner shapes differ")

    patch_reference(monkeypatch, "relu", shape_error)
    with pytest.raises(ShapeError) as info:
        run_reference(relu_graph(), {"x": rand(2, 3)})
    assert info.value.message == "relu: inner shapes differ (running on x: f32[2,3])"
    assert info.value.loc == "net.py:3"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (lambda x: [x[:1]], r"output %r: expected f32\[2,3\], got shape \[1,3\]"),
        (lambda x: [x.astype(np.float64)], r"output %r is float64, its type says f32\[2,3\]"),
        (lambda x: [x, x], r"gave 2 results for 1 outputs"),
    ],
)
def test_results_that_disagree_with_the_type_are_internal_errors(
    monkeypatch: pytest.MonkeyPatch,
    result: Callable[[np.ndarray], list[np.ndarray]],
    expected: str,
) -> None:
    patch_reference(monkeypatch, "relu", lambda ins, attrs: result(ins[0]))
    with pytest.raises(InternalError, match=r"internal error: relu " + expected) as info:
        run_reference(relu_graph(), {"x": rand(2, 3)})
    assert info.value.loc == "net.py:3"
