"""onnxruntime on nanograph's export against onnxruntime on PyTorch's own export of the same model.

    python benchmarks/ort_vs_torch_export.py                      # the target check
    python benchmarks/ort_vs_torch_export.py --variants onnx@23,ms@23,plain@23,plain@17 \\
        --json /tmp/variants.json                                 # which lowering wins

For each zoo model (default: the transformers pos_tagger, vit_tiny,
banded_speech), batch size and onnxruntime thread count, in ONE process:

- ``theirs``: PyTorch's classic ``torch.onnx.export`` (opset 17, batch axis
  dynamic) of the zoo model's twin carrying our weights: exactly what the
  ``torch-ort`` target of ``nanograph bench`` runs
  (``nanograph.bench.prepare.torch_onnx_export``);
- ``ours``: ``nanograph.export_onnx(graph, level=--level, opset=, attention=)``
  for each ``--variants`` entry ``ATTENTION@OPSET`` (``onnx``, ``ms``, ``plain``
  or ``auto``; the first is the one the target is judged on: the default export).

Both run in raw ``onnxruntime.InferenceSession``s built from the same
``nanograph.backends.ort.SessionSettings`` (CPU provider, ``ORT_ENABLE_ALL``,
``intra_op_num_threads`` = the thread count, inter-op 1, idle threads do not
spin: nanograph's default), so neither pays a wrapper the other does not.

Method: on the same seeded inputs every variant's outputs must match theirs
within rtol 1e-3, atol 1e-4 (``numpy.isclose``), else it is FAILED and not
timed. Each session is warmed up (``--warmup`` seconds each). Then ``--rounds``
rounds; a round runs ``--calls`` calls of every session interleaved call by
call (A B A B ..., the order rotating from round to round, so a slow spell of
the shared machine hits all alike); the collector is off while timing. Reported
per session: median, p10, p90 of all its calls; per variant: the ratio of
medians theirs / ours (> 1: ours is faster) and the spread of that ratio over
rounds (each round's ratio of its per-round medians: p10, median, p90).
``other_cores`` is how many cores other processes kept busy meanwhile
(``/proc/stat``; see ``nanograph.bench.environment.OtherLoad``).

Target (the passes issue): ours at least ``1.2x`` faster at batch 32 and ``1.1x``
at batch 1 (``--goal 1=1.1,32=1.2``), judged on the ratio of medians of the
first variant. Exit status 1 if a goal is missed or a variant disagrees.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from nanograph.backends.atomic_write import atomic_write_bytes

DEFAULT_MODELS = "pos_tagger,vit_tiny,banded_speech"
RTOL, ATOL = 1e-3, 1e-4
THEIRS = "torch-export"


@dataclass
class Variant:
    """One ONNX model under test: its label, how it was made, and its session per thread count."""

    label: str
    attention: str | None  # None: theirs
    opset: int
    onnx_bytes: bytes
    sessions: dict[int, Any]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    goals = {int(b): float(r) for b, r in (g.split("=") for g in args.goal.split(",") if g)}
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    for model_name in args.models.split(","):
        rows += measure_model(model_name, args)
    document = {
        "tool": "benchmarks/ort_vs_torch_export.py",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/ort_vs_torch_export.py", *sys.argv[1:]]),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "environment": _environment(load_before),
        "rows": rows,
    }
    print()
    print(render_table(rows))
    missed = check_goals(rows, goals, args.variants.split(",")[0])
    if args.json:
        atomic_write_bytes(args.json, json.dumps(document, indent=1).encode())
        print(f"wrote {args.json}")
    failed = any(r["status"] != "ok" for r in rows)
    return 1 if missed or failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated zoo models")
    parser.add_argument("--batch", default="1,32")
    parser.add_argument("--threads", default="1,2", help="onnxruntime intra-op threads")
    parser.add_argument("--level", default="O2", help="our pipeline level")
    parser.add_argument(
        "--variants",
        default="auto@23",
        help="our exports, ATTENTION@OPSET, comma-separated; the first is judged by --goal",
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--calls", type=int, default=0, help="calls per session per round (0: ~40 ms rounds)"
    )
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds of warm-up per session")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--goal", default="1=1.1,32=1.2", help="BATCH=RATIO goals for variant 1")
    parser.add_argument("--json", metavar="F", help="also write every sample as JSON")
    return parser


# building the models and sessions ------------------------------------------------------
def build_variants(model: Any, specs: list[str], threads: list[int], level: str) -> list[Variant]:
    """Theirs first, then ours per ``ATTENTION@OPSET`` spec; a session per thread count each."""
    import nanograph as ng
    from nanograph.bench.prepare import torch_onnx_export
    from nanograph.bench.twins import TORCH_OPSET

    theirs, _ = torch_onnx_export(model)
    variants = [Variant(THEIRS, None, TORCH_OPSET, theirs, {})]
    for spec in specs:
        attention, _, opset = spec.partition("@")
        exported = ng.export_onnx(model.graph, level=level, opset=int(opset), attention=attention)
        label = f"ours {attention}@{opset}"
        variants.append(Variant(label, attention, int(opset), exported.SerializeToString(), {}))
    for variant in variants:
        for t in threads:
            variant.sessions[t] = make_session(variant.onnx_bytes, t)
    return variants


def make_session(onnx_bytes: bytes, threads: int, **extra: Any) -> Any:
    """A raw CPU session with nanograph's settings (``ORT_ENABLE_ALL``, no spinning).

    ``extra`` sets further ``SessionOptions`` attributes (``optimized_model_filepath``,
    ``enable_profiling``, ...).
    """
    import onnxruntime as ort

    from nanograph.backends.ort import SessionSettings

    options = SessionSettings(providers="cpu", threads=threads).session_options()
    for key, value in extra.items():
        setattr(options, key, value)
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


# measuring -------------------------------------------------------------------------------
def measure_model(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (batch, threads, variant) row of one model."""
    from nanograph.bench.environment import OtherLoad
    from nanograph.bench.models import load_bench_model

    model = load_bench_model(name, {})
    threads = [int(t) for t in args.threads.split(",")]
    variants = build_variants(model, args.variants.split(","), threads, args.level)
    rows = []
    for batch in [int(b) for b in args.batch.split(",")]:
        feeds = model.feeds(batch, args.seed)
        for t in threads:
            calls = {v.label: _call(v.sessions[t], feeds) for v in variants}
            agreement = {
                label: _agreement(call(), calls[THEIRS]()) for label, call in calls.items()
            }
            timed = {label: c for label, c in calls.items() if agreement[label][0]}
            with OtherLoad() as load:
                samples = interleave(timed, args.rounds, args.calls, args.warmup)
            for v in variants[1:]:
                rows.append(_row(name, batch, t, v, samples, agreement[v.label], load.cores))
                _print_progress(rows[-1])
    return rows


def _call(session: Any, feeds: dict[str, np.ndarray]) -> Callable[[], list[np.ndarray]]:
    names = [i.name for i in session.get_inputs()]
    arrays = {n: feeds[n] for n in names}
    return lambda: session.run(None, arrays)


def _agreement(outputs: list[np.ndarray], reference: list[np.ndarray]) -> tuple[bool, float]:
    """(whether ``outputs`` match ``reference`` within RTOL/ATOL, the largest abs difference)."""
    ok, worst = len(outputs) == len(reference), 0.0
    for a, b in zip(outputs, reference, strict=False):
        if a.shape != b.shape:
            return False, float("nan")
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
        ok = ok and bool(np.all(np.isclose(a, b, rtol=RTOL, atol=ATOL)))
    return ok, worst


def interleave(
    calls: Mapping[str, Callable[[], object]], rounds: int, per_round: int, warmup_s: float
) -> dict[str, list[list[int]]]:
    """Per label, per round, the call durations (ns), calls interleaved as the docstring says."""
    clock = time.perf_counter_ns
    slowest = 0
    for call in calls.values():
        deadline, durations = clock() + int(warmup_s * 1e9), list[int]()
        while len(durations) < 3 or clock() < deadline:
            start = clock()
            call()
            durations.append(clock() - start)
        slowest = max(slowest, int(statistics.median(durations)))
    per_round = per_round or max(3, min(200, int(40e6 / (slowest * len(calls)))))
    labels = list(calls)
    samples: dict[str, list[list[int]]] = {label: [] for label in labels}
    gc.disable()
    try:
        for r in range(rounds):
            order = labels[r % len(labels) :] + labels[: r % len(labels)]
            this_round: dict[str, list[int]] = {label: [] for label in labels}
            for _ in range(per_round):
                for label in order:
                    start = clock()
                    calls[label]()
                    this_round[label].append(clock() - start)
            for label in labels:
                samples[label].append(this_round[label])
    finally:
        gc.enable()
    return samples


def _row(
    model: str,
    batch: int,
    threads: int,
    variant: Variant,
    samples: dict[str, list[list[int]]],
    agreement: tuple[bool, float],
    other_cores: float | None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": model,
        "batch": batch,
        "threads": threads,
        "variant": variant.label,
        "attention": variant.attention,
        "opset": variant.opset,
        "status": "ok" if agreement[0] else "failed",
        "max_abs_diff": agreement[1],
        "other_cores": other_cores,
    }
    if not agreement[0]:
        return row
    ours, theirs = samples[variant.label], samples[THEIRS]
    round_ratios = [
        statistics.median(t) / statistics.median(o) for o, t in zip(ours, theirs, strict=True)
    ]
    row.update(
        ours=_stats([x for r in ours for x in r]),
        theirs=_stats([x for r in theirs for x in r]),
        calls_per_round=len(ours[0]),
        round_ratios=round_ratios,
        ratio_spread=_spread(round_ratios),
        ours_samples_ns=ours,
        theirs_samples_ns=theirs,
    )
    row["ratio"] = row["theirs"]["median_ns"] / row["ours"]["median_ns"]
    return row


def _stats(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {"calls": len(ordered), "median_ns": float(statistics.median(ordered)),
            "p10_ns": _percentile(ordered, 0.1), "p90_ns": _percentile(ordered, 0.9)}  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p10": _percentile(ordered, 0.1), "median": float(statistics.median(ordered)),
            "p90": _percentile(ordered, 0.9), "min": ordered[0], "max": ordered[-1]}  # fmt: skip


def _percentile(ordered: list[Any], q: float) -> float:
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


# reporting -------------------------------------------------------------------------------
def render_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (times in ms: median (p10-p90))."""
    head = ["model", "batch", "threads", "ours", "ours ms", "torch export ms",
            "torch / ours", "per-round ratio p10-p90", "other cores"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        load = "-" if r["other_cores"] is None else f"{r['other_cores']:.2f}"
        cells = [r["model"], str(r["batch"]), str(r["threads"]), r["variant"].removeprefix("ours ")]
        if r["status"] != "ok":
            cells += [f"FAILED (max abs diff {r['max_abs_diff']:.3g})", "", "", "", load]
        else:
            s = r["ratio_spread"]
            cells += [_ms(r["ours"]), _ms(r["theirs"]), f"{r['ratio']:.2f}x",
                      f"{s['p10']:.2f}-{s['p90']:.2f}", load]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(stats: dict[str, float]) -> str:
    median, p10, p90 = (stats[k] / 1e6 for k in ("median_ns", "p10_ns", "p90_ns"))
    return f"{median:.3g} ({p10:.3g}-{p90:.3g})"


def _print_progress(row: dict[str, Any]) -> None:
    if row["status"] != "ok":
        print(f"{row['model']} b{row['batch']} t{row['threads']} {row['variant']}: FAILED")
        return
    ours, theirs = row["ours"]["median_ns"] / 1e6, row["theirs"]["median_ns"] / 1e6
    spread = row["ratio_spread"]
    print(
        f"{row['model']:<14} b{row['batch']:<3} t{row['threads']} {row['variant']:<16} "
        f"ours {ours:8.3f} ms  torch {theirs:8.3f} ms  torch/ours {row['ratio']:.2f}x  "
        f"(rounds p10-p90 {spread['p10']:.2f}-{spread['p90']:.2f}; "
        f"other cores {row['other_cores'] or 0:.2f})",
        flush=True,
    )


def check_goals(rows: list[dict[str, Any]], goals: dict[int, float], judged: str) -> list[str]:
    """Print each goal's verdict for the first variant; the missed ones."""
    label = f"ours {judged}"
    missed = []
    for r in rows:
        goal = goals.get(r["batch"])
        if r["variant"] != label or goal is None or r["status"] != "ok":
            continue
        verdict = "met" if r["ratio"] >= goal else "MISSED"
        line = (f"{r['model']} batch {r['batch']} threads {r['threads']}: torch/ours "
                f"{r['ratio']:.2f}x, goal {goal:.2f}x: {verdict}")  # fmt: skip
        print(line)
        if verdict != "met":
            missed.append(line)
    return missed


def _environment(load_before: tuple[float, float, float]) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    from nanograph.bench.environment import cpu_model

    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }


if __name__ == "__main__":
    sys.exit(main())
