"""Where onnxruntime spends its time in our export and in PyTorch's, node by node.

    python benchmarks/ort_node_profile.py pos_tagger --batch 32
    python benchmarks/ort_node_profile.py vit_tiny --batch 1 --variants auto@23,ms@23 \\
        --save-dir /tmp/opt

The companion of ``ort_vs_torch_export.py`` (same models, same session
settings: ``make_session`` there), for finding *why* one is faster. For each
model (ours per ``--variants`` ``ATTENTION@OPSET``, and PyTorch's export):

- what onnxruntime made of it: the op types of its optimized graph
  (``SessionOptions.optimized_model_filepath``, written to ``--save-dir`` when
  given, else a temporary folder), i.e. what it fused;
- where the time goes: ``--calls`` profiled runs (after warm-up; onnxruntime's
  profiler, ``enable_profiling``), each node's kernel time summed per op type
  as onnxruntime ran it, in ms per call, and the whole run's time per call.

Profiling adds a little time to every node; compare the columns with each other,
not with ``ort_vs_torch_export.py``'s latencies.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ort_vs_torch_export import THEIRS, build_variants, make_session

WARMUP = 5


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from nanograph.bench.models import load_bench_model

    model = load_bench_model(args.model, {})
    variants = build_variants(model, args.variants.split(","), [], args.level)
    feeds = model.feeds(args.batch, args.seed)
    folder = Path(args.save_dir or tempfile.mkdtemp(prefix="ort_profile_"))
    folder.mkdir(parents=True, exist_ok=True)
    columns = {}
    for v in variants:
        stem = f"{args.model}_b{args.batch}_{v.label.replace(' ', '_').replace('@', '_')}"
        columns[v.label] = profile(v.onnx_bytes, feeds, args.threads, args.calls, folder / stem)
    print(render(columns, args))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a zoo model with a PyTorch twin")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--level", default="O2")
    parser.add_argument("--variants", default="auto@23", help="ATTENTION@OPSET, comma-separated")
    parser.add_argument("--calls", type=int, default=50, help="profiled calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", help="keep the optimized models and traces here")
    return parser


def profile(
    onnx_bytes: bytes, feeds: dict[str, Any], threads: int, calls: int, stem: Path
) -> dict[str, Any]:
    """Optimized-graph op counts, and ms per call per op type (as onnxruntime ran them)."""
    optimized = f"{stem}.optimized.onnx"
    make_session(onnx_bytes, threads, optimized_model_filepath=optimized)
    fused = collections.Counter(n.op_type for n in onnx.load(optimized).graph.node)
    session = make_session(
        onnx_bytes, threads, enable_profiling=True, profile_file_prefix=str(stem)
    )
    arrays = {i.name: feeds[i.name] for i in session.get_inputs()}
    for _ in range(WARMUP + calls):
        session.run(None, arrays)
    trace = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    runs = [e for e in trace if e.get("name") == "model_run"][WARMUP:]  # the warm-up's left out
    start = runs[0]["ts"] if runs else 0
    for event in trace:
        kernel = event.get("cat") == "Node" and event["name"].endswith("_kernel_time")
        if kernel and event["ts"] >= start:
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(e["dur"] for e in runs)
    return {
        "optimized_ops": dict(fused),
        "ms_per_op": {op: us / 1e3 / calls for op, us in per_op.most_common()},
        "ms_per_call": total / 1e3 / max(1, len(runs)),
    }


def render(columns: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    labels = list(columns)

    def slowest(op: str) -> float:
        return -max(c["ms_per_op"].get(op, 0) for c in columns.values())

    ops = sorted({op for c in columns.values() for op in c["ms_per_op"]}, key=slowest)
    title = (
        f"{args.model} batch {args.batch}, {args.threads} thread(s), {args.calls} profiled calls:"
        " ms per call by op type as onnxruntime ran it (its nodes of that type)"
    )
    lines = [title, ""]
    lines += ["| op type | " + " | ".join(labels) + " |", "|" + " --- |" * (len(labels) + 1)]
    for op in ops:
        cells = []
        for label in labels:
            c = columns[label]
            ms, count = c["ms_per_op"].get(op), c["optimized_ops"].get(op, 0)
            cells.append("-" if ms is None else f"{ms:.3f} ({count})")
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    total = [f"{columns[label]['ms_per_call']:.3f}" for label in labels]
    lines.append("| **whole run** | " + " | ".join(total) + " |")
    ours = [label for label in labels if label != THEIRS]
    lines += ["", "optimized graphs (op type: count):"]
    for label in [THEIRS, *ours]:
        listed = ", ".join(f"{k} {v}" for k, v in sorted(columns[label]["optimized_ops"].items()))
        lines.append(f"- {label}: {listed}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
