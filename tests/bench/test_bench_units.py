"""The benchmark's pieces without worker processes: timing, agreement, targets, twins, ratios."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pytest

import nanograph.api as api
from nanograph.bench.agreement import check_agreement
from nanograph.bench.command import _ints
from nanograph.bench.jobs import (
    PINNING_VARIABLES,
    Job,
    Timing,
    hidden_modules,
    is_pinned,
    pinned_environment,
)
from nanograph.bench.models import batch_axis, zoo_twin_module
from nanograph.bench.report import format_seconds
from nanograph.bench.results import BenchResult, Cell, Peak
from nanograph.bench.runner import resolve_baseline
from nanograph.bench.targets import (
    NOT_APPLICABLE,
    NOT_AVAILABLE,
    known_targets,
    numpy_levels,
    select_targets,
    unavailable_reason,
)
from nanograph.bench.timing import measure, summarize
from nanograph.bench.twins import twin_state
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.ir.errors import ConfigError
from nanograph.passes import Pass, PassResult
from nanograph.passes import pipelines as pipelines_module


# timing ----------------------------------------------------------------------------
def test_measure_runs_the_minimum_counts_even_with_no_budget() -> None:
    calls = []
    measured = measure(lambda: calls.append(1), Timing(budget_s=0.0, min_reps=7, warmup_calls=3))
    assert len(measured.warmup_ns) == 3 and len(measured.samples_ns) == 7
    assert len(calls) == 10
    assert all(isinstance(ns, int) and ns >= 0 for ns in measured.samples_ns)


def test_summarize_median_and_percentiles() -> None:
    stats = summarize([50, 10, 40, 20, 30])
    assert (stats.reps, stats.median_ns, stats.min_ns, stats.max_ns) == (5, 30.0, 10, 50)
    assert stats.p10_ns == pytest.approx(14.0) and stats.p90_ns == pytest.approx(46.0)
    assert summarize([4, 2]).median_ns == 3.0
    with pytest.raises(ValueError):
        summarize([])


# agreement -------------------------------------------------------------------------
def test_agreement_within_tolerance_and_beyond() -> None:
    ref = [np.linspace(-1, 1, 50, dtype=np.float32).reshape(5, 10)]
    assert check_agreement([ref[0] + 5e-5], ref, 1e-3, 1e-4).ok
    wrong = check_agreement([ref[0] + 0.5], ref, 1e-3, 1e-4)
    assert not wrong.ok and wrong.max_abs_diff == pytest.approx(0.5)
    assert "50 of 50 values" in wrong.reason


def test_agreement_shapes_counts_and_nan() -> None:
    ref = [np.zeros((2, 3), np.float32)]
    assert not check_agreement([np.zeros((3, 2), np.float32)], ref, 1e-3, 1e-4).ok
    assert not check_agreement([], ref, 1e-3, 1e-4).ok
    nan = [np.array([np.nan, 1.0], np.float32)]
    assert check_agreement(nan, nan, 1e-3, 1e-4).ok
    one_nan = check_agreement([np.array([1.0, 1.0], np.float32)], nan, 1e-3, 1e-4)
    assert not one_nan.ok and one_nan.max_abs_diff == float("inf")


# targets ---------------------------------------------------------------------------
def _levels_with_new_passes() -> list[str]:
    """O0 and each level whose numpy pipeline differs from the level below (api.level_passes)."""
    levels = list(api.LEVELS)
    return [
        level
        for i, level in enumerate(levels)
        if i == 0 or api.level_passes(level, "numpy") != api.level_passes(levels[i - 1], "numpy")
    ]


def test_numpy_columns_follow_the_levels_pipelines() -> None:
    """numpy is the planned executor: it has an O0 column beside numpy-ref, and a numpy@
    column for each level that runs passes the level below does not."""
    assert not api.NUMPY_IS_REFERENCE
    columns = [f"numpy@{level}" for level in _levels_with_new_passes()]
    assert columns[:2] == ["numpy@O0", "numpy@O1"], "O1 runs passes, so numpy@O1 differs"
    names = [t.name for t in known_targets("O2")]
    peers = ["ort-cpu", "ort-cuda", "onnx-reference", "torch", "torch-ort"]
    assert names == ["numpy-ref", *columns, *peers]
    with pytest.raises(ConfigError, match="no column of its own"):
        select_targets(["numpy"], "O2")


def test_columns_appear_when_the_executor_and_passes_land(monkeypatch: pytest.MonkeyPatch) -> None:
    def passes(*names: str) -> tuple[Pass, ...]:
        return tuple(Pass(name, lambda graph: PassResult()) for name in names)

    monkeypatch.setattr(api, "NUMPY_IS_REFERENCE", False)
    monkeypatch.setattr(pipelines_module, "NUMPY_LAYOUT", ())  # numpy's columns read pipeline_for
    monkeypatch.setattr(pipelines_module, "PIPELINES", {level: () for level in api.LEVELS})
    assert numpy_levels() == ["O0"]
    pipelines = {"O0": (), "O1": passes("canon"), "O2": passes("canon"), "O3": passes("a")}
    monkeypatch.setattr(pipelines_module, "PIPELINES", pipelines)
    assert numpy_levels() == ["O0", "O1", "O3"]  # O2 runs what O1 runs: no column
    monkeypatch.setattr(api, "NUMPY_IS_REFERENCE", True)
    assert numpy_levels() == ["O1", "O3"]
    assert "numpy@O3" in [t.name for t in known_targets("O2")]


def test_select_targets_keeps_display_order_and_refuses_unknown_names() -> None:
    assert [t.name for t in select_targets(["torch", "numpy-ref"], "O2")] == ["numpy-ref", "torch"]
    with pytest.raises(ConfigError, match="unknown benchmark target 'tensorflow'"):
        select_targets(["tensorflow"], "O2")


def test_unavailable_reasons() -> None:
    by_name = {t.name: t for t in known_targets("O2")}
    assert unavailable_reason(by_name["ort-cuda"], True, cuda=False)[0] == NOT_AVAILABLE  # type: ignore[index]
    assert unavailable_reason(by_name["ort-cuda"], True, cuda=True) is None
    assert unavailable_reason(by_name["torch"], False, cuda=False)[0] == NOT_APPLICABLE  # type: ignore[index]
    assert unavailable_reason(by_name["torch-ort"], True, cuda=False) is None
    assert unavailable_reason(by_name["numpy-ref"], False, cuda=False) is None
    assert zoo_twin_module("lenet") is not None
    assert zoo_twin_module("model.onnx") is None and zoo_twin_module("dir/lenet.py") is None


def test_baseline_default_and_choice() -> None:
    everything = select_targets(None, "O2")
    assert resolve_baseline(None, everything) == "ort-cpu"
    assert resolve_baseline(None, select_targets(["numpy-ref", "torch"], "O2")) == "numpy-ref"
    assert resolve_baseline("torch", everything) == "torch"
    with pytest.raises(ConfigError, match="not among the targets"):
        resolve_baseline("torch", select_targets(["numpy-ref"], "O2"))


def test_batch_axis() -> None:
    assert batch_axis(ModelSpec([InputSpec("x", ("N", 3))])) == ("N", None)
    assert batch_axis(ModelSpec([InputSpec("x", (4, 3))])) == (None, 4)


# twins, jobs -----------------------------------------------------------------------
def test_twin_state_packs_qkv_as_pytorch_does() -> None:
    ours = {
        f"attn.{p}.{k}": np.full((4, 4) if k == "weight" else 4, i, np.float32)
        for i, p in enumerate(("q_proj", "k_proj", "v_proj"))
        for k in ("weight", "bias")
    }
    ours["fc.weight"] = np.ones((2, 4), np.float32)
    keys = ["attn.in_proj_weight", "attn.in_proj_bias", "fc.weight", "bn.num_batches_tracked"]
    state = twin_state(ours, keys)
    assert set(state) == set(keys[:3])
    assert state["attn.in_proj_weight"].shape == (12, 4)
    assert list(state["attn.in_proj_bias"]) == [0] * 4 + [1] * 4 + [2] * 4
    with pytest.raises(ConfigError, match=r"lacks: extra\.weight"):
        twin_state(ours, ["extra.weight"])


def test_job_json_round_trip_and_pinning_environment() -> None:
    job = Job("target", 2, Timing(0.5, 3), "lenet", "torch", "O1", (1, 8), {"S": 4}, 3)
    assert Job.from_json(job.to_json()) == job
    env = pinned_environment(3, base={"PATH": "/bin"})
    assert is_pinned(3, env) and not is_pinned(2, env) and env["PATH"] == "/bin"
    assert set(PINNING_VARIABLES) <= set(env)
    assert hidden_modules({"NANOGRAPH_BENCH_HIDE": " torch, onnxscript ,"}) == (
        "torch",
        "onnxscript",
    )


# derived metrics -------------------------------------------------------------------
def test_ratios_and_peak_fraction_within_the_run() -> None:
    result = BenchResult({}, {}, baseline="ort-cpu")
    result.peaks[1] = Peak(1, 100.0)

    def cell(target: str, batch: int, samples: list[int]) -> Cell:
        return Cell("m", target, batch, 1, "ok", flops=1_000_000, samples_ns=samples)

    base, slow = cell("ort-cpu", 1, [10_000]), cell("torch", 1, [30_000, 20_000])
    other_batch = cell("torch", 8, [5_000])
    result.cells = [base, slow, other_batch, Cell("m", "torch-ort", 1, 1, "failed")]
    assert result.ratio_to_baseline(base) == 1.0
    assert result.ratio_to_baseline(slow) == pytest.approx(2.5)  # median 25 us / 10 us
    assert result.ratio_to_baseline(other_batch) is None  # no baseline at batch 8
    assert result.ratio_to_baseline(result.cells[3]) is None
    assert slow.gflops == pytest.approx(40.0) and result.peak_fraction(slow) == pytest.approx(0.4)
    assert slow.items_per_s == pytest.approx(40_000)


def test_small_formatters_and_parsers() -> None:
    assert format_seconds(0.000123) == "123 µs" and format_seconds(1.5) == "1.5 s"
    assert format_seconds(0.0123) == "12.3 ms"
    assert _ints("1, 8,1") == (1, 8)
    with pytest.raises(argparse.ArgumentTypeError):
        _ints("0,2")


def test_plot_without_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from nanograph.bench.plot import write_plot

    for name in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'nanograph\[plot\]'"):
        write_plot(BenchResult({}, {}, baseline="ort-cpu"), "never-written.png")
