"""``nanograph bench`` end to end: one tiny run of every target on lenet, then its outputs.

The run (budget 0.05 s, at least 2 reps, batches 1 and 2, one thread) is
made once for the module; the tests read its exit status, printed table,
JSON and PNG. Targets that cannot run here (no CUDA; no torch in CI) must be
reported with their status, never crash the run. No test asserts a timing.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from nanograph.bench.jobs import ATOL, PINNING_VARIABLES
from nanograph.bench.schema import problems
from nanograph.bench.targets import known_targets
from nanograph.cli import main

TARGETS = [t.name for t in known_targets("O2")]
ALWAYS = ("numpy-ref", "ort-cpu", "onnx-reference")  # need only nanograph's own dependencies


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("bench")
    json_path, png_path = folder / "out.json", folder / "out.png"
    argv = ["bench", "lenet", "--budget", "0.05", "--min-reps", "2", "--batch", "1,2"]
    argv += ["--threads", "1", "--json", str(json_path), "--plot", str(png_path)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    document = json.loads(json_path.read_text())
    return {"status": status, "out": out.getvalue(), "doc": document, "png": png_path}


def _results(run: dict[str, Any], target: str) -> list[dict[str, Any]]:
    return [r for r in run["doc"]["results"] if r["target"] == target]


def test_exits_0_and_prints_the_table(run: dict[str, Any]) -> None:
    assert run["status"] == 0, run["out"]
    out = run["out"]
    assert "lenet" in out and "GEMM peak GFLOP/s" in out and "time / ort-cpu" in out
    for name in TARGETS:
        assert name in out
    assert "ort-cuda" in out and ("not available" in out or "ort-cuda" in out)
    assert "own worker process" in out  # the method is stated


def test_every_target_has_a_result_per_batch(run: dict[str, Any]) -> None:
    for target in TARGETS:
        results = _results(run, target)
        assert sorted(r["batch"] for r in results) == [1, 2], target
        statuses = {r["status"] for r in results}
        if target in ALWAYS:
            assert statuses == {"ok"}, (target, results[0]["reason"])
        elif target in ("torch", "torch-ort"):
            assert statuses <= {"ok", "not installed"}, (target, results[0]["reason"])
        else:
            assert statuses <= {"ok", "not available"}


def test_timed_results_are_well_formed(run: dict[str, Any]) -> None:
    timed = [r for r in run["doc"]["results"] if r["status"] == "ok"]
    assert len(timed) >= 2 * len(ALWAYS)
    for r in timed:
        assert len(r["samples_ns"]) >= 2 and len(r["warmup_ns"]) >= 2
        assert r["stats"]["reps"] == len(r["samples_ns"])
        assert r["stats"]["median_ns"] == statistics.median(r["samples_ns"])
        assert r["stats"]["min_ns"] == min(r["samples_ns"]) <= r["stats"]["max_ns"]
        assert 0 <= r["max_abs_diff"] <= ATOL * 10  # agreed with the reference
        assert r["flops"] == run["doc"]["models"][0]["flops"][str(r["batch"])] > 0
        median_s = r["stats"]["median_ns"] / 1e9
        assert r["items_per_s"] == pytest.approx(r["batch"] / median_s)
        assert r["gflops"] == pytest.approx(r["flops"] / median_s / 1e9)


def test_ratios_and_peak_fractions_come_from_the_same_run(run: dict[str, Any]) -> None:
    doc = run["doc"]
    assert doc["baseline"] == "ort-cpu"
    peak = {p["threads"]: p["gflops"] for p in doc["gemm_peak"]}
    assert peak[1] > 0
    for r in (r for r in doc["results"] if r["status"] == "ok"):
        (base,) = [b for b in _results(run, "ort-cpu") if b["batch"] == r["batch"]]
        expected = r["stats"]["median_ns"] / base["stats"]["median_ns"]
        assert r["ratio_to_baseline"] == pytest.approx(expected)
        assert r["peak_fraction"] == pytest.approx(r["gflops"] / peak[r["threads"]])
    assert all(b["ratio_to_baseline"] == 1.0 for b in _results(run, "ort-cpu"))


def test_workers_report_pinned_threads(run: dict[str, Any]) -> None:
    for r in (r for r in run["doc"]["results"] if r["status"] == "ok"):
        seen = r["worker"]["threads"]
        assert seen["env"] == dict.fromkeys(PINNING_VARIABLES, "1"), r["target"]
        assert seen["blas_threads"] in (1, None)
        settings = r["worker"]["settings"]
        if r["target"] in ("ort-cpu", "torch-ort"):
            assert settings["ort_intra_op_threads"] == 1 and settings["ort_spinning"] is False
        if r["target"] in ("torch", "torch-ort"):
            assert settings["torch_threads"] == 1


def test_json_has_the_documented_schema(run: dict[str, Any]) -> None:
    doc = run["doc"]
    assert problems(doc) == []
    assert doc["schema_version"] == 1 and isinstance(doc["created"], str)
    assert {"cpu", "logical_cores", "packages", "blas"} <= set(doc["environment"])
    assert {"numpy", "onnx", "onnxruntime", "torch"} <= set(doc["environment"]["packages"])
    assert [t["name"] for t in doc["targets"]] == TARGETS
    assert doc["config"]["timing"]["budget_s"] == 0.05


def test_schema_check_catches_broken_documents(run: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(run["doc"]))
    del doc["results"][0]["samples_ns"]
    doc["results"][1]["batch"] = "one"
    doc["results"][2]["status"] = "fast"
    doc["gemm_peak"][0]["threads"] = True  # a bool is not an int here
    found = "\n".join(problems(doc))
    assert "results[0]: missing key 'samples_ns'" in found
    assert "results[1].batch: str 'one' is not int" in found
    assert "gemm_peak[0].threads" in found
    doc = json.loads(json.dumps(run["doc"]))
    doc["results"][2]["status"] = "fast"
    doc["schema_version"] = 2
    found = "\n".join(problems(doc))
    assert "'fast' not in" in found and "schema_version: 2, expected 1" in found


def test_plot_is_a_valid_png(run: dict[str, Any]) -> None:
    import matplotlib.image

    data = Path(run["png"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(run["png"])
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_make_report_writes_markdown_from_the_json(run: dict[str, Any]) -> None:
    """``benchmarks/make_report.py`` renders BENCHMARKS.md from this JSON (no new run)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "make_report.py"
    spec = importlib.util.spec_from_file_location("make_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render_report(run["doc"], "nanograph bench lenet", "Our findings.\n")
    assert "<!-- findings:begin -->\nOur findings.\n<!-- findings:end -->" in text
    ran = {r["target"] for r in run["doc"]["results"] if r["status"] == "ok"}
    assert set(ALWAYS) <= ran  # torch peers run where torch is installed, CUDA where present
    columns = " | ".join(["threads", "batch", *[t for t in TARGETS if t in ran]])
    assert "## lenet" in text and f"| {columns} |" in text
    assert "Time relative to ort-cpu" in text and "1.00x" in text
    assert module._findings(text) == "Our findings.\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench"], "name at least one MODEL"),
        (["bench", "lenet", "--targets", "numpy"], "no column of its own"),
        (["bench", "lenet", "--dims", "N=4"], "use --batch"),
        (["bench", "lenet", "--dims", "S=4"], "which no model uses"),
        (["bench", "lenet", "--baseline", "torch", "--targets", "numpy-ref"], "--baseline"),
    ],
)
def test_usage_errors_exit_2_before_any_worker(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
