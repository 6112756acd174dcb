"""Time the fused attention kernel against the unfused ops it replaces.

    python benchmarks/attention_kernel.py                       # S 64..512, batch 1 and 8
    python benchmarks/attention_kernel.py --seq 128,1024 --causal --json out.json

One ``attention`` node (d_model 128, 4 heads: D = 32) runs four ways, all in
float32 on the same seeded inputs, timed one call after the other in turn
(interleaved, so a slow spell of the machine hits all of them alike):

- ``unfused``: the node expanded into its core ops (transpose, matmul, mul,
  softmax, matmul; plus the heads' reshape/transpose in the packed form) and run
  by the reference interpreter, which calls each op's reference: what the
  interpreter runs when nothing is fused;
- ``fused``: the attention node run by the same interpreter with
  ``kernels=NUMPY_KERNELS`` (the blocked kernel, ``backends/kernels/attention``);
- ``kernel``: the kernel called directly (no interpreter: no input checks);
- ``numpy-f32``: the same unfused math written directly in float32 NumPy (no
  interpreter, no float64 accumulation, in place where it can be), a harder bar
  than ``unfused``: what a hand-written unfused NumPy version costs.

Reported: the median of ``--reps`` calls each (after one warm-up call; the JSON
also has the fastest call), and the ratios unfused/fused (the interpreter with
and without the kernel) and numpy-f32/kernel (direct calls both); > 1: the
kernel is faster. Before timing, every result is checked against the unfused one
(rtol 1e-4, atol 1e-5). Exit status 1 if the kernel loses to the unfused ops
anywhere. BLAS threads are NumPy's default unless ``--threads`` sets them; on a
loaded machine multi-threaded BLAS times swing widely, and ``--threads 1`` is
steadier.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:  # before NumPy loads its BLAS
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    rows = []
    for form in args.forms.split(","):
        for batch in _ints(args.batch):
            for seq in _ints(args.seq):
                rows.append(measure(form, batch, seq, args))
                _print_row(rows[-1], first=len(rows) == 1)
    slowest = min(r["unfused_over_fused"] for r in rows)
    print(f"\nfused kernel vs unfused ops: {slowest:.2f}x at worst (> 1: the kernel is faster)")
    if args.json:
        document = {"environment": _environment(), "settings": vars(args), "rows": rows}
        from nanograph.backends.atomic_write import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(document, indent=2).encode())
        print(f"wrote {args.json}")
    return 0 if slowest > 1 else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", default="64,128,256,512", help="sequence lengths S (Sq = Skv)")
    parser.add_argument("--batch", default="1,8", help="batch sizes B")
    parser.add_argument("--d-model", type=int, default=128, help="hidden size H*D")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument(
        "--forms", default="bnsh,packed", help="bnsh: q/k/v [B,H,S,D]; packed: [B,S,H*D]"
    )
    parser.add_argument("--causal", action="store_true", help="causal attention")
    parser.add_argument("--reps", type=int, default=15, help="timed calls per variant")
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (0: default)")
    parser.add_argument("--json", metavar="F", help="also write the figures as JSON")
    return parser


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def measure(form: str, batch: int, seq: int, args: argparse.Namespace) -> dict[str, Any]:
    """One row: the median ms of each variant at (form, batch, seq), and the ratios."""
    variants = _variants(form, batch, seq, args)
    results = {name: fn() for name, fn in variants.items()}  # warm-up, and the check
    _check(results)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(args.reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:  # rotate the order
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    fastest = {name: 1e3 * min(t) for name, t in times.items()}
    return {
        "form": form,
        "batch": batch,
        "seq": seq,
        "causal": args.causal,
        "ms": ms,
        "min_ms": fastest,
        "unfused_over_fused": ms["unfused"] / ms["fused"],
        "numpy_f32_over_kernel": ms["numpy-f32"] / ms["kernel"],
    }


def _variants(
    form: str, batch: int, seq: int, args: argparse.Namespace
) -> dict[str, Callable[[], Any]]:
    import numpy as np

    from nanograph.backends.kernels import NUMPY_KERNELS, attention_kernel
    from nanograph.backends.reference import ReferenceInterpreter
    from nanograph.ir.decompose import expand_fused
    from nanograph.ir.graph import Graph
    from nanograph.ir.types import TensorType

    heads, hidden = args.heads, args.d_model
    size = hidden // heads
    shape = (batch, seq, hidden) if form == "packed" else (batch, heads, seq, size)
    graph = Graph("attention")
    inputs = [graph.add_input(n, TensorType.of("f32", shape)) for n in ("q", "k", "v")]
    attrs: dict[str, Any] = {"causal": args.causal}
    if form == "packed":
        attrs["num_heads"] = heads
    node = graph.add("attention", inputs, attrs, names=["y"])
    graph.outputs = [node.output]
    unfused = graph.copy()
    expand_fused(unfused, next(iter(unfused.nodes)))
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(shape).astype(np.float32) for n in ("q", "k", "v")}
    arrays = [feeds["q"], feeds["k"], feeds["v"]]
    fused_run = ReferenceInterpreter(graph, kernels=NUMPY_KERNELS)
    unfused_run = ReferenceInterpreter(unfused)
    return {
        "unfused": lambda: unfused_run.run(feeds)["y"],
        "fused": lambda: fused_run.run(feeds)["y"],
        "kernel": lambda: attention_kernel(arrays, node.attrs)[0],
        "numpy-f32": lambda: _numpy_f32(feeds, heads if form == "packed" else 0, args.causal),
    }


def _numpy_f32(feeds: dict[str, Any], heads: int, causal: bool) -> Any:
    """The unfused math in plain float32 NumPy (heads split/merged for the packed form)."""
    import numpy as np

    q, k, v = feeds["q"], feeds["k"], feeds["v"]
    if heads:
        q, k, v = (x.reshape(*x.shape[:2], heads, -1).transpose(0, 2, 1, 3) for x in (q, k, v))
    scores = q @ k.swapaxes(-1, -2)
    scores *= np.float32(1 / math.sqrt(q.shape[-1]))
    if causal:
        scores[..., np.triu(np.ones(scores.shape[-2:], dtype=bool), 1)] = -np.inf
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    y = scores @ v
    return y.transpose(0, 2, 1, 3).reshape(*y.shape[:1], y.shape[2], -1) if heads else y


def _check(results: dict[str, Any]) -> None:
    import numpy as np

    for name, result in results.items():
        np.testing.assert_allclose(result, results["unfused"], rtol=1e-4, atol=1e-5, err_msg=name)


def _print_row(row: dict[str, Any], first: bool) -> None:
    if first:
        print(
            f"{'form':<7}{'B':>3}{'S':>6}{'unfused ms':>12}{'fused ms':>10}{'kernel ms':>11}"
            f"{'numpy-f32 ms':>14}{'unfused/fused':>15}{'f32/kernel':>12}"
        )
    ms = row["ms"]
    print(
        f"{row['form']:<7}{row['batch']:>3}{row['seq']:>6}{ms['unfused']:>12.3f}"
        f"{ms['fused']:>10.3f}{ms['kernel']:>11.3f}{ms['numpy-f32']:>14.3f}"
        f"{row['unfused_over_fused']:>14.2f}x{row['numpy_f32_over_kernel']:>11.2f}x",
        flush=True,
    )


def _environment() -> dict[str, Any]:
    """The machine and software, as ``nanograph bench`` records them."""
    from nanograph.bench.environment import describe_environment

    return describe_environment()


if __name__ == "__main__":
    sys.exit(main())
