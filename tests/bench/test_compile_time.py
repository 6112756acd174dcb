"""The compile-time benchmark's machinery: synthetic graphs, the exponent fit, the JSON and
the table. Correctness only: nothing here asserts how fast anything is."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from nanograph.api import pipeline
from nanograph.bench import compile_stages
from nanograph.bench.compile_time import (
    QUADRATIC_EXPONENT,
    SCHEMA,
    CompileBenchResult,
    Timing,
    fit_exponent,
    run_compile_benchmark,
)
from nanograph.bench.synthetic import BLOCK_NODES, MIN_NODES, op_mix, synthetic_graph
from nanograph.ir.errors import ConfigError
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.ir.text import print_graph
from nanograph.ir.verify import verify

TINY = (20, 40)

# the generator ------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [MIN_NODES, 20, 100, 1000])
def test_synthetic_graph_has_exactly_the_requested_size_and_verifies(nodes: int) -> None:
    graph = synthetic_graph(nodes, seed=1)
    assert len(graph.nodes) == nodes
    verify(graph)
    assert graph_symbols(graph) == ["N"]
    assert all(c.const is not None for c in graph.constants.values())


def test_synthetic_graph_mixes_the_documented_op_families() -> None:
    mix = op_mix(synthetic_graph(1000))
    families = {"conv2d", "relu", "max_pool2d", "matmul", "add", "gelu", "layer_norm"}
    families |= {"reshape", "transpose", "mul", "softmax"}
    assert families <= set(mix)
    assert sum(mix.values()) == 1000
    # attention is written from primitives: one softmax and one scale per block
    assert mix["softmax"] == mix["mul"]
    assert mix["relu"] == mix["conv2d"] == mix["max_pool2d"]


def test_synthetic_graph_shares_constants_and_fans_out() -> None:
    graph = synthetic_graph(1000)
    assert len(graph.constants["position"].users) > 5
    assert len(graph.constants["attention.scale"].users) > 5
    assert max(c.size for c in (v.const for v in graph.constants.values()) if c is not None) <= 576


def test_synthetic_graph_is_deterministic_per_seed() -> None:
    assert print_graph(synthetic_graph(200, seed=3)) == print_graph(synthetic_graph(200, seed=3))
    assert print_graph(synthetic_graph(200, seed=3)) != print_graph(synthetic_graph(200, seed=4))


def test_synthetic_graph_specializes_and_rejects_tiny_sizes() -> None:
    bound = specialize(synthetic_graph(100), {"N": 2})
    assert graph_symbols(bound) == []
    verify(bound)
    with pytest.raises(ValueError, match="at least"):
        synthetic_graph(MIN_NODES - 1)
    assert max(BLOCK_NODES.values()) < 100


def test_rewrite_every_node_leaves_the_same_graph() -> None:
    graph = synthetic_graph(300)
    before = print_graph(graph)
    compile_stages.rewrite_every_node(graph)
    verify(graph)
    assert print_graph(graph) == before


# the exponent fit ---------------------------------------------------------------------


@pytest.mark.parametrize("k", [0.5, 1.0, 1.5, 2.0, 3.0])
def test_fit_recovers_the_exponent_of_a_power_law(k: float) -> None:
    nodes = [100, 1000, 10000]
    assert fit_exponent(nodes, [3e-6 * n**k for n in nodes]) == pytest.approx(k)


def test_fit_is_least_squares_over_noisy_times() -> None:
    nodes = np.array([100, 300, 1000, 3000, 10000])
    noise = np.array([1.1, 0.9, 1.05, 0.95, 1.0])
    want = np.polyfit(np.log(nodes), np.log(2e-5 * nodes**1.2 * noise), 1)[0]
    assert fit_exponent(list(nodes), list(2e-5 * nodes**1.2 * noise)) == pytest.approx(want)


def test_fit_needs_two_sizes_and_survives_zero_times() -> None:
    assert math.isnan(fit_exponent([100], [1.0]))
    assert math.isnan(fit_exponent([100, 100], [1.0, 2.0]))
    assert math.isfinite(fit_exponent([100, 1000], [0.0, 1e-3]))
    with pytest.raises(ValueError):
        fit_exponent([100, 1000], [1.0])


def _injected(k: float, stage: str = "verify", level: str | None = None) -> CompileBenchResult:
    """A result whose one stage takes ``1e-7 * n**k`` seconds at 100, 1,000 and 10,000 nodes."""
    rows = {(stage, level, n): Timing(n, (1e-7 * n**k,) * 3) for n in (100, 1000, 10000)}
    return CompileBenchResult(rows, (100, 1000, 10000), repeats=3)


def test_result_exponents_by_label() -> None:
    result = _injected(2.0, "compile:numpy-ref", "O2")
    assert result.exponents == {"compile:numpy-ref@O2": pytest.approx(2.0)}
    assert result.step_exponents == {"compile:numpy-ref@O2": pytest.approx(2.0)}


def test_flag_follows_the_steepest_exponent_and_ignores_noise() -> None:
    assert _injected(2.0).flagged("verify", None)
    assert not _injected(1.0).flagged("verify", None)
    # linear at first, quadratic at the last step: the step exponent catches it
    times = {100: 1e-3, 1000: 1e-2, 10000: 1e0}
    rows = {("sort", None, n): Timing(n, (t,)) for n, t in times.items()}
    late = CompileBenchResult(rows, (100, 1000, 10000))
    assert late.exponents["sort"] < QUADRATIC_EXPONENT < late.step_exponents["sort"]
    assert late.flagged("sort", None)
    tiny = {("copy", None, n): Timing(n, (1e-12 * n**2,)) for n in (100, 1000, 10000)}
    assert not CompileBenchResult(tiny, (100, 1000, 10000)).flagged("copy", None)


# render and JSON ----------------------------------------------------------------------


def _rendered(result: CompileBenchResult) -> str:
    console = Console(record=True, width=160, color_system=None)
    result.render(console)
    return console.export_text()


def test_render_flags_an_injected_quadratic_stage() -> None:
    text = _rendered(_injected(2.0, "passes", "O2"))
    assert "passes@O2" in text and "QUADRATIC?" in text and "2.00" in text
    assert "QUADRATIC?" not in _rendered(_injected(1.0))


def test_render_shows_seconds_at_each_size() -> None:
    text = _rendered(_injected(1.0))
    assert "10,000 nodes" in text and "1.0 ms" in text and "10 µs" in text


# a real (tiny) run ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run() -> CompileBenchResult:
    return run_compile_benchmark(sizes=TINY, levels=None, repeats=1)


def _pass_rows(level: str) -> set[tuple[str, str]]:
    """The rows of the passes stage at ``level``: one per pass, ``#2`` for a second run."""
    runs: dict[str, int] = {}
    rows = set()
    for p in pipeline(level):
        runs[p.name] = runs.get(p.name, 0) + 1
        rows.add(f"pass:{p.name}" if runs[p.name] == 1 else f"pass:{p.name}#{runs[p.name]}")
    return {(row, level) for row in rows}


def test_tiny_run_times_every_stage_at_every_size(tiny_run: CompileBenchResult) -> None:
    stages = compile_stages.select_stages(None, None)
    expected = {(s.name, s.level) for s in stages}
    for s in stages:
        if s.name == "passes" and s.level is not None:
            expected |= _pass_rows(s.level)
    assert set(tiny_run.stages()) == expected
    assert {"build", "verify", "export_onnx", "import_onnx", "rewrite"} <= {s for s, _ in expected}
    assert ("compile:numpy-ref", "O0") in expected
    for stage, level in tiny_run.stages():
        series = tiny_run.series(stage, level)
        assert [size for size, _ in series] == list(TINY)
        assert all(t.nodes == size and t.min >= 0 for size, t in series)


def test_tiny_run_json_has_the_documented_keys(tiny_run: CompileBenchResult) -> None:
    data = json.loads(json.dumps(tiny_run.to_json()))
    top = {"schema", "sizes", "repeats", "seed", "levels", "gc_enabled", "quadratic_exponent"}
    top |= {"noise_floor_s", "notes", "environment", "stages"}
    assert set(data) == top
    assert data["schema"] == SCHEMA and data["sizes"] == list(TINY) and data["repeats"] == 1
    for stage in data["stages"]:
        assert set(stage) == {
            "stage",
            "level",
            "label",
            "exponent",
            "step_exponent",
            "quadratic",
            "timings",
        }
        assert isinstance(stage["exponent"], float) and isinstance(stage["quadratic"], bool)
        for timing in stage["timings"]:
            assert set(timing) == {"size", "nodes", "median_s", "min_s", "max_s", "samples_s"}
            assert timing["min_s"] <= timing["median_s"] <= timing["max_s"]
            assert len(timing["samples_s"]) == 1


def test_run_options_filter_and_are_checked() -> None:
    result = run_compile_benchmark(sizes=(20,), levels=["O0", "O2"], repeats=2, stages=["verify"])
    assert result.stages() == [("verify", None)]
    assert math.isnan(result.exponents["verify"])
    assert result.to_json()["stages"][0]["exponent"] is None
    assert len(result.series("verify", None)[0][1].samples) == 2
    compiled = run_compile_benchmark(
        sizes=(20,), levels=["O2"], repeats=1, stages=["compile:numpy-ref"]
    )
    assert compiled.stages() == [("compile:numpy-ref", "O2")]
    off = run_compile_benchmark(sizes=(20,), repeats=1, stages=["copy"], gc_enabled=False)
    assert off.to_json()["gc_enabled"] is False
    for bad in ({"levels": ["O9"]}, {"stages": ["fuse_everything"]}, {"repeats": 0}):
        with pytest.raises(ConfigError):
            run_compile_benchmark(sizes=(20,), **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least"):
        run_compile_benchmark(sizes=(MIN_NODES - 1,))


def test_passes_are_timed_one_by_one_through_the_pipeline_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []

    def fake_pipeline(level: str) -> list[tuple[str, object]]:
        def make(name: str) -> object:
            return lambda graph: ran.append(f"{name}:{len(graph.nodes)}")

        return [(name, make(name)) for name in ("canonicalize", "fuse", "canonicalize")]

    monkeypatch.setattr(compile_stages, "pipeline", fake_pipeline)
    result = run_compile_benchmark(sizes=(20,), levels=["O1"], repeats=2, stages=["passes"])
    rows = {stage for stage, _ in result.stages()}
    assert rows == {"pass:canonicalize", "pass:fuse", "pass:canonicalize#2", "passes"}
    assert {level for _, level in result.stages()} == {"O1"}
    assert ran.count("fuse:20") == 2
