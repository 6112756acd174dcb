"""The sections of BENCHMARKS.md that come from other JSON files than ``nanograph bench``'s.

``make_report.py`` renders the bench run itself; this module renders, as Markdown lines:

- ``numpy_interleaved_section(doc)``: ``numpy_levels.py``'s JSON, the NumPy backend at
  O0 against O1 and O2 timed interleaved in one process (what the passes buy);
- ``numpy_levels_section(bench_doc)``: the same comparison from the bench run's own
  ``numpy-ref`` and ``numpy@O<k>`` columns (separate workers, one after the other),
  for when ``numpy_levels.py`` did not run;
- ``export_section(doc)``: ``ort_vs_torch_export.py``'s JSON, onnxruntime on our export
  against onnxruntime on PyTorch's export (the judged variant, its goals, and every
  variant's ratio);
- ``kernel_section(doc)``: ``attention_kernel.py``'s JSON, the fused attention kernel
  against the unfused ops.

Each returns ``[]`` for ``None`` (a file that was not made), so the report only shows
what was measured.
"""

from __future__ import annotations

from typing import Any


def numpy_interleaved_section(doc: dict[str, Any] | None) -> list[str]:
    """``numpy_levels.py``'s figures: per model and batch, each level's median and O0 / level."""
    if not doc:
        return []
    rows = doc["rows"]
    levels = list(dict.fromkeys(r["level"] for r in rows))
    base = levels[0]
    env = doc.get("environment", {})
    lines = [
        f"## The NumPy backend: {base} against the pipelines (interleaved)",
        "",
        f"`{doc.get('command', '?')}` ({doc.get('created', '?')}): backend `numpy` compiled at "
        "each level in one process, outputs checked against O0 (rtol 1e-3, atol 1e-4), then "
        "timed interleaved call by call. Median ms (p10-p90 of all calls); "
        f"{base} / level > 1: the level is faster, with the p10-p90 of the per-round ratios. "
        f"BLAS threads: {doc.get('settings', {}).get('threads')}; load average before / after: "
        f"{_loads(env.get('load_average_before'))} / {_loads(env.get('load_average_after'))}.",
        "",
    ]
    others = levels[1:]
    head = ["model", "batch", *[f"{lv} ms" for lv in levels]]
    head += [f"{base} / {lv}" for lv in others] + ["other cores"]
    lines += [_md_row(head), _md_row(["---"] * len(head))]
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["model"], r["batch"]), {})[r["level"]] = r
    for (model, batch), by_level in cells.items():
        row = [model, str(batch)]
        row += [_level_ms(by_level.get(lv)) for lv in levels]
        row += [_level_speedup(by_level.get(lv)) for lv in others]
        load = next(iter(by_level.values())).get("other_cores")
        lines.append(_md_row([*row, "-" if load is None else f"{load:.2f}"]))
    return [*lines, ""]


def _level_ms(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return f"FAILED (max abs diff {r['max_abs_diff']:.3g})"
    median, p10, p90 = (r[k] / 1e6 for k in ("median_ns", "p10_ns", "p90_ns"))
    return f"{median:.3g} ({p10:.3g}-{p90:.3g})"


def _level_speedup(r: dict[str, Any] | None) -> str:
    if r is None or r["status"] != "ok":
        return "-"
    spread = r["speedup_rounds"]
    return f"{r['speedup']:.2f}x ({spread['p10']:.2f}-{spread['p90']:.2f})"


def numpy_levels_section(doc: dict[str, Any]) -> list[str]:
    """O0 vs every ``numpy@O<k>`` column of the bench run: median ms (p10-p90), O0 / O<k>."""
    levels = [t["name"] for t in doc.get("targets", []) if t["name"].startswith("numpy@")]
    if not levels:
        return []
    cells = {(r["model"], r["batch"], r["threads"], r["target"]): r for r in doc["results"]}
    keys = sorted({k[:3] for k in cells}, key=lambda k: (_model_order(doc, k[0]), k[2], k[1]))
    head = ["model", "threads", "batch", "O0 (numpy-ref) ms"]
    head += [f"{lv} ms" for lv in levels] + [f"O0 / {lv.split('@')[1]}" for lv in levels]
    lines = [
        "## The NumPy backend: O0 against the pipelines",
        "",
        "Median ms (p10-p90) of the same run; `numpy-ref` is the reference interpreter on the "
        "traced graph, `numpy@O<k>` the same backend after level k's passes (fused ops run "
        "the NumPy kernels). Ratio > 1: the level is faster than O0.",
        "",
        _md_row(head),
        _md_row(["---"] * len(head)),
    ]
    for model, batch, threads in keys:
        base = cells.get((model, batch, threads, "numpy-ref"))
        row = [model, str(threads), str(batch), _ms_spread(base)]
        others = [cells.get((model, batch, threads, lv)) for lv in levels]
        row += [_ms_spread(r) for r in others]
        row += [_speedup(base, r) for r in others]
        lines.append(_md_row(row))
    return [*lines, ""]


def export_section(doc: dict[str, Any] | None) -> list[str]:
    """``ort_vs_torch_export.py``'s figures: the judged variant in full, then all variants."""
    if not doc:
        return []
    rows = doc["rows"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    judged = variants[0]
    env = doc.get("environment", {})
    goals = doc.get("settings", {}).get("goal", "")
    lines = [
        "## onnxruntime: our export against PyTorch's export of the same model",
        "",
        f"`{doc.get('command', '?')}` ({doc.get('created', '?')}): both ONNX models in one "
        "process, raw onnxruntime sessions with nanograph's settings (CPU, ORT_ENABLE_ALL, "
        "intra-op threads as listed, no spinning), outputs checked to agree (rtol 1e-3, "
        "atol 1e-4), then timed interleaved call by call. Median ms (p10-p90 of all calls); "
        "torch / ours > 1: ours is faster; its spread is the p10-p90 of the per-round "
        f"ratios. Goals (batch=ratio): {goals}. onnxruntime {env.get('onnxruntime', '?')}, "
        f"load average before / after: {_loads(env.get('load_average_before'))} / "
        f"{_loads(env.get('load_average_after'))}.",
        "",
        f"Ours as exported by default (`{judged.removeprefix('ours ')}`: attention@opset):",
        "",
    ]
    head = ["model", "batch", "threads", "ours ms", "torch export ms", "torch / ours",
            "per-round p10-p90", "other cores"]  # fmt: skip
    lines += [_md_row(head), _md_row(["---"] * len(head))]
    for r in rows:
        if r["variant"] != judged:
            continue
        lines.append(_md_row([r["model"], str(r["batch"]), str(r["threads"]), *_ratio_cells(r)]))
    if len(variants) > 1:
        lines += ["", "Every variant, torch / ours (higher is better for ours):", ""]
        head = ["model", "batch", "threads", *[v.removeprefix("ours ") for v in variants]]
        lines += [_md_row(head), _md_row(["---"] * len(head))]
        by_cell: dict[tuple[str, int, int], dict[str, str]] = {}
        for r in rows:
            cell = by_cell.setdefault((r["model"], r["batch"], r["threads"]), {})
            cell[r["variant"]] = f"{r['ratio']:.2f}x" if r["status"] == "ok" else "FAILED"
        for (model, batch, threads), ratios in by_cell.items():
            row = [model, str(batch), str(threads), *[ratios.get(v, "-") for v in variants]]
            lines.append(_md_row(row))
    return [*lines, ""]


def kernel_section(doc: dict[str, Any] | None) -> list[str]:
    """``attention_kernel.py``'s figures: median ms per variant and the two ratios."""
    if not doc:
        return []
    settings = doc.get("settings", {})
    lines = [
        "## The fused attention kernel against the unfused ops (NumPy)",
        "",
        f"`python benchmarks/attention_kernel.py` with d_model {settings.get('d_model')}, "
        f"{settings.get('heads')} heads, {settings.get('reps')} interleaved calls each, BLAS "
        f"threads {settings.get('threads') or 'default'}, causal {settings.get('causal')}. "
        "Median ms (fastest); `unfused`: the node's decomposition in the reference "
        "interpreter, `fused`: the interpreter with the kernel, `kernel`: the kernel called "
        "directly, `numpy-f32`: the unfused math written directly in float32 NumPy. "
        "unfused / fused > 1: the kernel is faster than the ops it replaces.",
        "",
    ]
    names = ["unfused", "fused", "kernel", "numpy-f32"]
    head = ["form", "B", "S", *[f"{n} ms" for n in names], "unfused / fused", "numpy-f32 / kernel"]
    lines += [_md_row(head), _md_row(["---"] * len(head))]
    for r in doc["rows"]:
        times = [f"{r['ms'][n]:.3g} ({r['min_ms'][n]:.3g})" for n in names]
        ratios = [f"{r['unfused_over_fused']:.2f}x", f"{r['numpy_f32_over_kernel']:.2f}x"]
        lines.append(_md_row([r["form"], str(r["batch"]), str(r["seq"]), *times, *ratios]))
    return [*lines, ""]


def _ratio_cells(r: dict[str, Any]) -> list[str]:
    load = "-" if r.get("other_cores") is None else f"{r['other_cores']:.2f}"
    if r["status"] != "ok":
        return [f"FAILED (max abs diff {r['max_abs_diff']:.3g})", "", "", "", load]
    spread = r["ratio_spread"]
    return [_stats_ms(r["ours"]), _stats_ms(r["theirs"]), f"{r['ratio']:.2f}x",
            f"{spread['p10']:.2f}-{spread['p90']:.2f}", load]  # fmt: skip


def _stats_ms(stats: dict[str, float]) -> str:
    median, p10, p90 = (stats[k] / 1e6 for k in ("median_ns", "p10_ns", "p90_ns"))
    return f"{median:.3g} ({p10:.3g}-{p90:.3g})"


def _ms_spread(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return "FAILED" if r["status"] == "failed" else r["status"]
    return _stats_ms(r["stats"])


def _speedup(base: dict[str, Any] | None, other: dict[str, Any] | None) -> str:
    if not base or not other or base["status"] != "ok" or other["status"] != "ok":
        return "-"
    return f"{base['stats']['median_ns'] / other['stats']['median_ns']:.2f}x"


def _model_order(doc: dict[str, Any], name: str) -> int:
    names = [m["name"] for m in doc.get("models", [])]
    return names.index(name) if name in names else len(names)


def _loads(values: list[float] | None) -> str:
    return "?" if not values else ", ".join(f"{v:.2f}" for v in values)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
