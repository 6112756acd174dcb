"""The issue-6 target tables (Markdown) from ``numpy_levels.py`` and ``inspect --memory`` JSON.

    python benchmarks/issue6_tables.py benchmarks/numpy_levels_issue6_t1.json [more.json ...] \
        [--memory DIR]

Every ratio is between two columns of one interleaved run: ``a / b`` of the medians of
all calls, with the p10-p90 of the per-round ratios (``samples_ns`` holds each round's
calls). ``--memory DIR`` reads ``DIR/mem_MODEL_BATCH.json`` written by
``nanograph inspect MODEL --level O3 --memory --dims N=BATCH --json F``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

TRANSFORMERS = ("pos_tagger", "vit_tiny", "banded_speech")
CNNS = ("lenet", "resnet_small", "sagan")
MODELS = TRANSFORMERS + CNNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--memory", metavar="DIR")
    args = parser.parse_args()
    cells: dict[tuple[str, int, int], dict[str, Any]] = {}
    for run in args.runs:
        for row in json.loads(Path(run).read_text())["rows"]:
            if row["status"] == "ok":
                key = (row["model"], row["batch"], row["threads"])
                cells.setdefault(key, {})[row["level"]] = row
    keys = sorted(cells, key=lambda k: (MODELS.index(k[0]), k[1], k[2]))
    _table(
        "1. numpy@O3 vs ort-cpu (ORT_ENABLE_ALL, our O3 export): O3 / ort (lower is better)",
        keys, cells, "O3", "ort-cpu", lambda m: 1.5 if m in TRANSFORMERS else 2.5, at_most=True,
    )  # fmt: skip
    _table(
        "2. numpy@O0 / numpy@O3 (higher is better)",
        keys, cells, "O0", "O3", lambda m: 1.5 if m in TRANSFORMERS else None, at_most=False,
    )  # fmt: skip
    _table(
        "3. onnx-reference / numpy@O3 (higher is better)",
        keys, cells, "onnx-reference", "O3", lambda m: 3.0 if m in TRANSFORMERS else 20.0,
        at_most=False,
    )  # fmt: skip
    _table(
        "extra: numpy-ref (reference interpreter, traced graph) / numpy@O3",
        keys, cells, "numpy-ref", "O3", lambda m: None, at_most=False,
    )  # fmt: skip
    if args.memory:
        _memory(Path(args.memory))


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float, float]:
    flat_a = [x for r in a["samples_ns"] for x in r]
    flat_b = [x for r in b["samples_ns"] for x in r]
    rounds = sorted(
        statistics.median(ra) / statistics.median(rb)
        for ra, rb in zip(a["samples_ns"], b["samples_ns"], strict=True)
    )
    q = statistics.quantiles(rounds, n=10, method="inclusive")
    return statistics.median(flat_a) / statistics.median(flat_b), q[0], q[-1]


def _table(title, keys, cells, a, b, target, *, at_most):  # type: ignore[no-untyped-def,unused-ignore]
    print(f"\n{title}\n")
    columns = f"{a} ms | {b} ms | {a} / {b} (rounds p10-p90)"
    print(f"| model | batch | threads | {columns} | target | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for key in keys:
        cell = cells[key]
        if a not in cell or b not in cell:
            continue
        ratio, lo, hi = _ratio(cell[a], cell[b])
        goal = target(key[0])
        if goal is None:
            verdict, goal_text = "-", "-"
        else:
            met = ratio <= goal if at_most else ratio >= goal
            verdict = "yes" if met else "**no**"
            goal_text = f"{'<=' if at_most else '>='} {goal:g}x"
        ma, mb = cell[a]["median_ns"] / 1e6, cell[b]["median_ns"] / 1e6
        print(f"| {key[0]} | {key[1]} | {key[2]} | {ma:.3f} | {mb:.3f} | "
              f"{ratio:.2f}x ({lo:.2f}-{hi:.2f}) | {goal_text} | {verdict} |")  # fmt: skip


def _memory(folder: Path) -> None:
    print("\n4. memory at O3 (backend numpy): arena peak vs lower bound vs naive sum\n")
    print("| model | dims | arena peak B | lower bound B | naive sum B | peak / bound | "
          "naive / peak | workspaces | met (<= 1.1x) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for model in MODELS:
        for batch in (1, 32):
            mem = json.loads((folder / f"mem_{model}_{batch}.json").read_text())["memory"]
            peak, bound, naive = mem["arena_bytes"], mem["lower_bound"], mem["naive_bytes"]
            dims = ",".join(f"{k}={v}" for k, v in mem["dims"].items())
            ok = "yes" if peak <= 1.1 * bound else "**no**"
            print(f"| {model} | {dims} | {peak:,} | {bound:,} | {naive:,} | {peak / bound:.3f}x | "
                  f"{naive / peak:.2f}x | {len(mem['workspaces'])} | {ok} |")  # fmt: skip


if __name__ == "__main__":
    main()
