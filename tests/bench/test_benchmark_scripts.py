"""The scripts in benchmarks/: the report sections and the interleaved ORT-vs-torch timing.

They are scripts, not package modules, so they are loaded from their files. The
measuring parts need torch and real models and take minutes; what is tested here is
the arithmetic and the rendering, on small hand-made documents whose expected figures
are computed in the test from the inputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # make_report imports report_extras by name
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


extras = _load("report_extras")
export = _load("ort_vs_torch_export")


def _result(model: str, target: str, median_ms: float, status: str = "ok") -> dict[str, Any]:
    stats = {"median_ns": median_ms * 1e6, "p10_ns": median_ms * 0.9e6, "p90_ns": median_ms * 1.2e6}
    return {"model": model, "target": target, "batch": 1, "threads": 1, "status": status,
            "stats": stats if status == "ok" else None}  # fmt: skip


def test_numpy_levels_compare_each_level_with_o0() -> None:
    doc = {
        "models": [{"name": "m"}],
        "targets": [{"name": n} for n in ("numpy-ref", "numpy@O1", "numpy@O2", "ort-cpu")],
        "results": [
            _result("m", "numpy-ref", 6.0),
            _result("m", "numpy@O1", 4.0),
            _result("m", "numpy@O2", 1.5),
            _result("m", "ort-cpu", 0.1),
        ],
    }
    lines = extras.numpy_levels_section(doc)
    header = next(line for line in lines if line.startswith("| model"))
    assert header == (
        "| model | threads | batch | O0 (numpy-ref) ms | numpy@O1 ms | numpy@O2 ms "
        "| O0 / O1 | O0 / O2 |"
    )
    row = next(line for line in lines if line.startswith("| m "))
    assert f"{6.0 / 4.0:.2f}x" in row and f"{6.0 / 1.5:.2f}x" in row
    assert "6 (5.4-7.2)" in row  # median (p10-p90) in ms


def test_numpy_levels_section_is_empty_without_numpy_columns() -> None:
    doc = {"targets": [{"name": "numpy-ref"}], "results": [_result("m", "numpy-ref", 1.0)]}
    assert extras.numpy_levels_section(doc) == []


def _export_row(variant: str, ours_ms: float, theirs_ms: float, batch: int = 32) -> dict[str, Any]:
    def stats(ms: float) -> dict[str, float]:
        return {"calls": 10, "median_ns": ms * 1e6, "p10_ns": ms * 1e6, "p90_ns": ms * 1e6}

    return {
        "model": "m", "batch": batch, "threads": 1, "variant": variant, "status": "ok",
        "max_abs_diff": 0.0, "other_cores": 0.05, "ours": stats(ours_ms),
        "theirs": stats(theirs_ms), "ratio": theirs_ms / ours_ms,
        "ratio_spread": {"p10": 1.1, "median": 1.2, "p90": 1.3, "min": 1.0, "max": 1.4},
    }  # fmt: skip


def test_export_section_shows_the_judged_variant_then_all() -> None:
    doc = {
        "command": "python benchmarks/ort_vs_torch_export.py",
        "settings": {"goal": "1=1.1,32=1.2"},
        "environment": {"onnxruntime": "1.x"},
        "rows": [_export_row("ours auto@23", 4.0, 6.0), _export_row("ours ms@23", 5.0, 6.0)],
    }
    text = "\n".join(extras.export_section(doc))
    assert "| m | 32 | 1 | 4 (4-4) | 6 (6-6) | 1.50x | 1.10-1.30 | 0.05 |" in text
    assert "| model | batch | threads | auto@23 | ms@23 |" in text
    assert "| m | 32 | 1 | 1.50x | 1.20x |" in text
    assert extras.export_section(None) == []


def test_kernel_section_lists_each_row() -> None:
    ms = {"unfused": 2.0, "fused": 0.5, "kernel": 0.4, "numpy-f32": 0.6}
    row = {"form": "bnsh", "batch": 1, "seq": 64, "ms": ms, "min_ms": ms,
           "unfused_over_fused": 4.0, "numpy_f32_over_kernel": 1.5}  # fmt: skip
    text = "\n".join(extras.kernel_section({"settings": {"d_model": 128}, "rows": [row]}))
    assert "| bnsh | 1 | 64 | 2 (2) | 0.5 (0.5) | 0.4 (0.4) | 0.6 (0.6) | 4.00x | 1.50x |" in text
    assert extras.kernel_section(None) == []


def test_interleave_rotates_the_order_and_times_every_call() -> None:
    order: list[str] = []
    calls = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    samples = export.interleave(calls, rounds=3, per_round=2, warmup_s=0.0)
    assert {name: [len(r) for r in rounds] for name, rounds in samples.items()} == {
        "a": [2, 2, 2], "b": [2, 2, 2], "c": [2, 2, 2]
    }  # fmt: skip
    timed = order[-18:]  # after the warm-up calls (3 per session)
    assert timed[:6] == ["a", "b", "c"] * 2
    assert timed[6:12] == ["b", "c", "a"] * 2
    assert timed[12:] == ["c", "a", "b"] * 2


def test_row_ratio_is_theirs_over_ours_per_round_and_overall() -> None:
    variant = export.Variant("ours x@23", "x", 23, b"", {})
    samples = {"ours x@23": [[100, 100], [200, 200]], export.THEIRS: [[300, 300], [200, 200]]}
    row = export._row("m", 1, 1, variant, samples, (True, 0.0), 0.0)
    assert row["round_ratios"] == [3.0, 1.0]
    assert row["ratio"] == pytest.approx(250 / 150)  # medians of all calls: 250 and 150


def test_goals_are_judged_on_the_first_variant_only() -> None:
    rows = [_export_row("ours auto@23", 5.5, 6.0), _export_row("ours ms@23", 2.0, 6.0)]
    (missed,) = export.check_goals(rows, {32: 1.2}, "auto@23")
    assert f"torch/ours {6.0 / 5.5:.2f}x, goal 1.20x: MISSED" in missed
    assert export.check_goals(rows, {32: 1.05}, "auto@23") == []
    assert export.check_goals(rows, {1: 9.0}, "auto@23") == []  # no row at batch 1


def test_numpy_interleaved_section_shows_each_level_against_o0() -> None:
    def row(level: str, ms: float, speedup: float) -> dict[str, Any]:
        return {"model": "m", "batch": 8, "threads": 1, "level": level, "status": "ok",
                "max_abs_diff": 0.0, "other_cores": 0.1, "median_ns": ms * 1e6,
                "p10_ns": ms * 1e6, "p90_ns": ms * 1e6, "speedup": speedup,
                "speedup_rounds": {"p10": speedup - 0.1, "p90": speedup + 0.1}}  # fmt: skip

    doc = {"command": "python benchmarks/numpy_levels.py", "settings": {"threads": 1},
           "rows": [row("O0", 6.0, 1.0), row("O2", 2.0, 3.0)]}  # fmt: skip
    text = "\n".join(extras.numpy_interleaved_section(doc))
    assert "| model | batch | O0 ms | O2 ms | O0 / O2 | other cores |" in text
    assert "| m | 8 | 6 (6-6) | 2 (2-2) | 3.00x (2.90-3.10) | 0.10 |" in text
    assert extras.numpy_interleaved_section(None) == []
