"""The public API: compile's level/backend vocabulary, the report, calling a Compiled."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nanograph as ng
import nanograph.api as api
from nanograph import nn
from nanograph.api import BACKENDS, LEVELS, ConfigError, level_passes, optimize, pipeline
from nanograph.ir.errors import InputError, VerificationError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType
from nanograph.passes import PIPELINES, Pass, PassResult
from nanograph.passes import pipelines as pipelines_module
from nanograph.passes.pattern import op, var
from nanograph.passes.pipelines import pipeline_for
from nanograph.passes.rewriter import Rule, apply_rules

README = Path(__file__).resolve().parents[1] / "README.md"


def small_graph() -> Graph:
    g = Graph("small")
    x = g.add_input("x", TensorType.of("f32", ("N", 4)))
    y = g.add_input("y", TensorType.of("f32", ("N", 4)))
    s = g.add("add", [x, y], names=["s"]).output
    g.outputs = [g.add("relu", [s], names=["out"]).output]
    return g


def feeds(n: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal((n, 4)).astype(np.float32) for k in ("x", "y")}


def expected(f: dict[str, np.ndarray]) -> np.ndarray:
    return np.maximum(f["x"] + f["y"], 0)


def test_vocabulary_is_the_designs() -> None:
    assert list(LEVELS) == ["O0", "O1", "O2", "O3"]
    assert list(BACKENDS) == ["numpy-ref", "numpy", "ort-cpu", "ort-cuda"]


def test_default_compile_runs_the_reference_with_an_honest_report() -> None:
    exe = ng.compile(small_graph())
    r = exe.report
    assert (r.level, r.backend, r.pipeline, r.notes) == ("O0", "numpy-ref", (), ())
    assert (r.nodes_before, r.nodes_after) == (2, 2)
    np.testing.assert_array_equal(exe(feeds())["out"], expected(feeds()))
    assert "passes: none" in str(r) and "nodes: 2 -> 2" in str(r)


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
@pytest.mark.parametrize("backend", ["numpy-ref", "numpy"])
def test_every_level_and_backend_runs_and_says_what_it_did(level: str, backend: str) -> None:
    exe = ng.compile(small_graph(), level=level, backend=backend)
    np.testing.assert_array_equal(exe(feeds(3))["out"], expected(feeds(3)))
    r = exe.report
    assert r.pipeline == tuple(p.name for p in pipeline_for(level, backend)) != ()
    assert [rec.name for rec in r.passes.records] == list(r.pipeline)
    assert f"passes: {', '.join(r.pipeline)}" in str(r)
    notes = " ".join(r.notes)
    same_as_o2 = level == "O3" and level_passes("O3", backend) == level_passes("O2", backend)
    assert ("so O3 runs O2's passes" in notes) == same_as_o2
    assert "reference interpreter" not in notes  # backend numpy is the planned executor


@pytest.mark.parametrize("level", list(LEVELS))
def test_pipeline_lists_the_levels_passes(level: str) -> None:
    passes = pipeline(level)
    assert [p.name for p in passes] == [p.name for p in PIPELINES[level]]
    assert all(isinstance(p, Pass) and callable(p.run) for p in passes)
    assert level_passes(level) == tuple(p.name for p in passes)
    passes.clear()  # a copy: the level's pipeline is untouched
    assert level_passes(level) == tuple(p.name for p in PIPELINES[level])


def negations() -> Graph:
    """x -> neg -> neg -> relu, plus a dead exp."""
    g = Graph("negations")
    x = g.add_input("x", TensorType.of("f32", ("N", 4)))
    g.add("exp", [x], names=["dead"], loc="m.py:1")
    a = g.add("neg", [x], names=["a"], loc="m.py:2").output
    b = g.add("neg", [a], names=["b"], loc="m.py:3").output
    g.outputs = [g.add("relu", [b], names=["out"], loc="m.py:4").output]
    return g


def fold_negations(graph: Graph) -> PassResult:
    """neg(neg(x)) -> x."""
    rule = Rule("neg(neg(x))->x", op.neg(op.neg(var("x"))), lambda m, em: [m["x"]])
    return apply_rules(graph, [rule])


def test_the_report_says_which_rules_fired(monkeypatch: pytest.MonkeyPatch) -> None:
    pipelines = dict(PIPELINES, O1=(Pass("fold-negations", fold_negations), *PIPELINES["O1"]))
    monkeypatch.setattr(api, "PIPELINES", pipelines)
    monkeypatch.setattr(pipelines_module, "PIPELINES", pipelines)  # what pipeline_for reads
    exe = ng.compile(negations(), "O1")
    r = exe.report
    assert r.pipeline[0] == "fold-negations"
    assert r.passes.rewrite_counts() == {"neg(neg(x))->x": 1}
    assert "rewrites: neg(neg(x))->x x1" in str(r)
    assert "  %out = relu(%x) : f32[N,4]  # m.py:4\n" in ng.print_graph(exe.graph)
    assert (r.nodes_before, r.nodes_after) == (4, 1)  # the dead exp went too
    f = {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)}
    np.testing.assert_array_equal(exe(f)["out"], np.maximum(f["x"], 0))
    assert "rewrites:" not in str(ng.compile(small_graph(), "O1").report)


@pytest.mark.parametrize("level", list(LEVELS))
def test_compile_never_changes_the_callers_graph(level: str) -> None:
    model, spec = ng.zoo.MODELS["lenet"].build()
    for graph in (negations(), ng.trace(model, spec)):
        before = ng.print_graph(graph)
        exe = ng.compile(graph, level)
        assert ng.print_graph(graph) == before
        assert not set(map(id, exe.graph.nodes)) & set(map(id, graph.nodes))
        work, _ = optimize(graph, level)
        assert ng.print_graph(graph) == before and work is not graph


def test_capture_and_verify_each_go_through_compile() -> None:
    graph = negations()
    last = PIPELINES["O1"][-1].name
    exe = ng.compile(graph, "O1", capture=("input", last), verify_each=True)
    passes = exe.report.passes
    assert passes.verified_each
    assert passes.ir_before == ng.print_graph(graph)
    assert passes.record(last).ir_after == ng.print_graph(exe.graph)
    with pytest.raises(ConfigError, match="capture names no pass of this pipeline: nope"):
        ng.compile(graph, "O1", capture=("nope",))


def test_optimize_returns_the_rewritten_copy_and_the_report() -> None:
    graph = negations()
    work, report = optimize(graph, "O1", capture=("all",))
    assert [r.name for r in report.records] == [p.name for p in PIPELINES["O1"]]
    assert report.ir_before == ng.print_graph(graph)
    assert report.records[-1].ir_after == ng.print_graph(work)
    assert "%dead" not in ng.print_graph(work)  # O1 removes dead code
    with pytest.raises(ConfigError, match="unknown level 'O7'"):
        optimize(graph, "O7")


def test_unknown_level_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        ng.compile(small_graph(), level="O4")
    assert "unknown level 'O4'" in str(info.value)
    assert all(level in str(info.value) for level in LEVELS)


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        ng.compile(small_graph(), backend="tensorrt")
    assert "unknown backend 'tensorrt'" in str(info.value)
    assert all(backend in str(info.value) for backend in BACKENDS)


def test_compile_verifies_the_graph() -> None:
    g = Graph("broken")
    x = g.add_input("x", TensorType.of("f32", (2,)))
    node = g.create_node("relu", [x], types=[TensorType.of("f32", (3,))])  # wrong type
    g.append(node)
    g.outputs = [node.output]
    with pytest.raises(VerificationError):
        ng.compile(g)


def test_inputs_by_keyword_by_dict_or_both() -> None:
    exe = ng.compile(small_graph())
    f = feeds()
    want = expected(f)
    np.testing.assert_array_equal(exe(x=f["x"], y=f["y"])["out"], want)
    np.testing.assert_array_equal(exe(f)["out"], want)
    np.testing.assert_array_equal(exe({"x": f["x"]}, y=f["y"])["out"], want)
    assert exe.input_names == ["x", "y"] and exe.output_names == ["out"]


def test_call_mistakes_are_input_errors() -> None:
    exe = ng.compile(small_graph())
    f = feeds()
    with pytest.raises(InputError, match=r"x given both in the dict and by keyword"):
        exe({"x": f["x"]}, x=f["x"], y=f["y"])
    with pytest.raises(InputError, match=r"(?s)pass inputs by name.*exe\(x=\.\.\., y=\.\.\.\)"):
        exe(f["x"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"missing y"):
        exe(x=f["x"])


def test_public_names() -> None:
    for name in ("trace", "compile", "InputSpec", "ModelSpec", "DType", "Graph", "errors"):
        assert hasattr(ng, name), name
    for name in ("print_graph", "parse_graph", "verify", "specialize", "nn", "F", "functional"):
        assert hasattr(ng, name), name
    assert ng.F is ng.functional
    assert issubclass(ng.errors.InputError, ng.errors.NanographError)
    assert "lenet" in ng.zoo.MODELS


def test_zoo_model_through_the_api() -> None:
    model, spec = ng.zoo.MODELS["lenet"].build()
    graph = ng.trace(model, spec)
    out = ng.compile(graph, level="O3", backend="numpy")(spec.random_inputs(seed=0))
    (logits,) = out.values()
    assert logits.shape == (1, 10) and np.isfinite(logits).all()


def test_readme_walkthrough_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "graph tiny_cnn(%x: f32[N,3,32,32])" in printed
    assert ": (2, 10)}" in printed


def test_a_sequence_longer_than_the_position_table_is_a_located_input_error() -> None:
    class Positions(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pe = nn.SinusoidalPositionalEncoding(8, max_len=4)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.pe(x)  # the user's line the error must name

    exe = ng.compile(ng.trace(Positions(), ng.InputSpec("x", ("N", "S", 8))))
    assert exe(x=np.ones((1, 4, 8), np.float32))["pe"].shape == (1, 4, 8)
    with pytest.raises(InputError) as info:
        exe(x=np.ones((1, 6, 8), np.float32))
    line = next(
        i
        for i, text in enumerate(Path(__file__).read_text().splitlines(), 1)
        if "the user's line the error must name" in text
    )
    assert info.value.loc == f"test_api.py:{line}"
    assert "S=6" in str(info.value)
