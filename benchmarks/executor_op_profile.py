"""Where the planned NumPy executor's time goes: time per op type, by wrapping its steps.

    python benchmarks/executor_op_profile.py vit_tiny --batch 32 --level O3 --calls 30

Compiles the zoo model with ``backend="numpy"`` at ``--level``, runs it once to build
the ``Program`` for the batch's dims, then replaces every step of that program with a
wrapper that adds ``perf_counter_ns`` around it, keyed by the node's op (``*`` marks an
op that ran a fallback, i.e. no executor kernel, and allocates per call; ``[gelu]``,
``[NHWC]``: the node's ``activation`` / ``layout`` attributes where it has them). After one
warm-up call, ``--calls`` calls are timed with the collector off. Prints per op type:
node count, total ms per call, share of the summed step time, and the whole call's
median next to the summed steps (the difference: input copies, output copies, feed
checks and the wrappers' own cost, about 0.1 us per step). Wrapping is not free, so
read the shares, not the absolute numbers. ``--threads`` sets the BLAS threads before
NumPy loads.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--level", default="O3")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)

    import nanograph as ng
    from nanograph.bench.models import load_bench_model

    model = load_bench_model(args.model, {})
    feeds = model.feeds(args.batch, 0)
    exe = ng.compile(model.graph, level=args.level, backend="numpy")
    exe(feeds)
    programs = exe.runner._programs  # type: ignore[attr-defined]
    program = list(programs.values())[-1]  # the binding just built
    totals: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    clock = time.perf_counter_ns

    def wrap(step: Callable[[], object], key: str) -> Callable[[], None]:
        def timed() -> None:
            start = clock()
            step()
            totals[key] += clock() - start

        return timed

    for i, (node, _opdef, _inputs) in enumerate(program.nodes):
        tags = [str(node.attrs[a]) for a in ("activation", "layout") if a in node.attrs]
        key = node.op + "".join(f"[{t}]" for t in tags)
        key += "*" if node.op in program.fallback_ops else ""
        counts[key] += 1
        program.steps[i] = wrap(program.steps[i], key)
    exe(feeds)
    totals.clear()
    durations = []
    gc.disable()
    for _ in range(args.calls):
        start = clock()
        exe(feeds)
        durations.append(clock() - start)
    gc.enable()
    summed = sum(totals.values()) / args.calls
    median = statistics.median(durations) / 1e6
    head = f"{args.model} b{args.batch} {args.level} t{args.threads}"
    print(f"{head}: call median {median:.3f} ms, steps sum {summed / 1e6:.3f} ms")
    for key, total in sorted(totals.items(), key=lambda kv: -kv[1]):
        per_call = total / args.calls
        print(f"  {key:<22} x{counts[key]:<3} {per_call / 1e6:8.3f} ms  {per_call / summed:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
