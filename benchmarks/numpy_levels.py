"""The NumPy backend at O0 against O1 and O2, interleaved in one process: what the passes buy.

    python benchmarks/numpy_levels.py                          # every zoo model, batch 1 and 8
    python benchmarks/numpy_levels.py --models pos_tagger --batch 32 --threads 2 --json F

For each zoo model and batch size, ``nanograph.compile(graph, level, backend="numpy")``
at each ``--levels`` entry (default O0, O1, O2; O0 is the reference interpreter on the
traced graph, as the bench's ``numpy-ref``), on the same seeded inputs. Every level's
outputs must match O0's within rtol 1e-3, atol 1e-4 (``numpy.isclose``: the fused
kernels run float32 where the reference accumulates in float64), else it is FAILED and
not timed. Then ``--rounds`` rounds of calls interleaved call by call, the order rotating
each round, with the collector off (``ort_vs_torch_export.interleave``): median and
p10/p90 of all calls per level, and per level the ratio O0 / level (> 1: the level is
faster) with the p10-p90 of its per-round ratios. ``nanograph bench`` measures the same
columns (``numpy-ref``, ``numpy@O1``, ``numpy@O2``) in separate workers one after the
other; interleaving here keeps a slow spell of the shared machine out of the ratios.

Peers: ``--peers ort-cpu,onnx-reference`` adds those ``nanograph bench`` targets
(``nanograph.bench.prepare.prepare_target``: onnxruntime CPU at ORT_ENABLE_ALL with
``--threads`` intra-op threads, ``onnx.reference.ReferenceEvaluator``, each on our
export at ``--peer-level``, default O3) to the same interleaved rounds, checked against
O0 the same way. Their rows carry ``level`` = the peer's name. Ratios between any two
columns, per round, can be recomputed from ``samples_ns`` in the JSON.

BLAS threads: ``--threads`` (default 1) is set in ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` before NumPy loads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

RTOL, ATOL = 1e-3, 1e-4


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # before NumPy loads its BLAS
    from nanograph.zoo import MODELS

    models = args.models.split(",") if args.models else list(MODELS)
    levels = args.levels.split(",")
    load_before = os.getloadavg()
    rows = []
    for model in models:
        for batch in (int(b) for b in args.batch.split(",")):
            rows += measure(model, batch, levels, args)
    document = {
        "tool": "benchmarks/numpy_levels.py",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/numpy_levels.py", *sys.argv[1:]]),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "environment": {
            "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg()),
        },
        "rows": rows,
    }
    if args.json:
        from nanograph.backends.atomic_write import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(document, indent=1).encode())
        print(f"wrote {args.json}")
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated zoo models (default: all)")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--levels", default="O0,O1,O2", help="the first is the baseline")
    parser.add_argument("--peers", default="", help="e.g. ort-cpu,onnx-reference")
    parser.add_argument("--peer-level", default="O3", help="export level of the peers")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=0, help="calls per level per round")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds per level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="F", help="also write every sample as JSON")
    return parser


def measure(
    name: str, batch: int, levels: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One row per level of ``name`` at ``batch`` (the first level's row is its own baseline)."""
    from ort_vs_torch_export import interleave

    import nanograph as ng
    from nanograph.bench.environment import OtherLoad
    from nanograph.bench.models import load_bench_model

    model = load_bench_model(name, {})
    if model.batch_symbol is None and batch != model.fixed_batch:
        return []
    feeds = model.feeds(batch, args.seed)
    exes = {lv: ng.compile(model.graph, level=lv, backend="numpy") for lv in levels}
    outputs = {lv: list(exe(feeds).values()) for lv, exe in exes.items()}
    calls: dict[str, Callable[[], object]] = {lv: partial(exe, feeds) for lv, exe in exes.items()}
    for peer in (p for p in args.peers.split(",") if p):
        from nanograph.bench.prepare import prepare_target

        call = prepare_target(peer, args.peer_level, model, args.threads).bind(feeds)
        outputs[peer], calls[peer] = list(call()), call
    levels = [*levels, *(p for p in args.peers.split(",") if p)]
    base = levels[0]
    agree = {lv: _agree(outputs[lv], outputs[base]) for lv in levels}
    calls = {lv: call for lv, call in calls.items() if agree[lv][0]}
    with OtherLoad() as load:
        samples = interleave(calls, args.rounds, args.calls, args.warmup)
    rows = []
    for lv in levels:
        row: dict[str, Any] = {"model": name, "batch": batch, "threads": args.threads,
                               "level": lv, "status": "ok" if agree[lv][0] else "failed",
                               "max_abs_diff": agree[lv][1], "other_cores": load.cores}  # fmt: skip
        if agree[lv][0]:
            row.update(_timing(samples[lv], samples[base]))
        rows.append(row)
        _print(row, base)
    return rows


def _agree(outputs: list[Any], reference: list[Any]) -> tuple[bool, float]:
    import numpy as np

    worst, ok = 0.0, len(outputs) == len(reference)
    for a, b in zip(outputs, reference, strict=False):
        if a.shape != b.shape:
            return False, float("nan")
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
        ok = ok and bool(np.all(np.isclose(a, b, rtol=RTOL, atol=ATOL)))
    return ok, worst


def _timing(mine: list[list[int]], base: list[list[int]]) -> dict[str, Any]:
    """Stats of ``mine``, and O0 / mine overall and per round."""
    flat = sorted(x for r in mine for x in r)
    median = float(statistics.median(flat))
    base_median = float(statistics.median([x for r in base for x in r]))
    pairs = zip(mine, base, strict=True)
    rounds = sorted(statistics.median(b) / statistics.median(m) for m, b in pairs)
    return {
        "median_ns": median,
        "p10_ns": _percentile(flat, 0.1),
        "p90_ns": _percentile(flat, 0.9),
        "speedup": base_median / median,
        "speedup_rounds": {"p10": _percentile(rounds, 0.1), "p90": _percentile(rounds, 0.9)},
        "samples_ns": mine,
    }


def _percentile(ordered: list[Any], q: float) -> float:
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def _print(row: dict[str, Any], base: str) -> None:
    head = f"{row['model']:<14} b{row['batch']:<3} t{row['threads']} {row['level']}"
    if row["status"] != "ok":
        print(f"{head}: FAILED (max abs diff {row['max_abs_diff']:.3g})", flush=True)
        return
    spread = row["speedup_rounds"]
    median, p10, p90 = (row[k] / 1e6 for k in ("median_ns", "p10_ns", "p90_ns"))
    print(
        f"{head}: {median:9.3f} ms (p10-p90 {p10:.3f}-{p90:.3f})  {base}/{row['level']} "
        f"{row['speedup']:.2f}x (rounds {spread['p10']:.2f}-{spread['p90']:.2f}; "
        f"other cores {row['other_cores'] or 0:.2f})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
