"""``nanograph bench``: the subcommand's options and what it does with them.

``nanograph bench MODEL... [--targets T,...] [--batch 1,8] [--threads 1,2]
[--level O2] [--budget 1.0] [--min-reps 5] [--baseline ort-cpu] [--json F]
[--plot F.png] [--seed 0] [--dims S=64] [--compile]``

Runs the benchmark (``runner.run_benchmark``) with a live progress bar,
prints a table per model, and writes the JSON and the plot if asked.
``--compile`` adds the compile-time scaling benchmark
(``nanograph.bench.compile_time``, imported only then); it needs no MODEL.
Exit status: 0, or 1 when some target failed its agreement check or raised
(the JSON and plot are still written); usage errors are 2, as everywhere.
"""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from nanograph.api import LEVELS
from nanograph.bench.jobs import Timing
from nanograph.bench.results import ERROR, FAILED, SCHEMA_VERSION
from nanograph.ir.errors import ConfigError


def add_bench_parser(commands: Any, dims_type: Callable[[str], dict[str, int]]) -> None:
    """Add the ``bench`` subparser to ``commands`` (``argparse`` subparsers)."""
    bench = commands.add_parser(
        "bench",
        help="benchmark MODELs on every backend and peer (each in its own process)",
        description="Check every target agrees with the reference, then time it: median, "
        "min, max, throughput, GFLOP/s and %% of this machine's GEMM peak, ratios vs a baseline.",
    )
    bench.add_argument("models", nargs="*", metavar="MODEL", help="zoo names, .py or .onnx files")
    bench.add_argument("--targets", type=_names, help="comma-separated (default: all known)")
    bench.add_argument("--batch", type=_ints, default=(1,), help="batch sizes (default: 1)")
    bench.add_argument("--threads", type=_ints, default=(1,), help="thread counts (default: 1)")
    bench.add_argument("--level", default="O2", help=f"{', '.join(LEVELS)} for exports (O2)")
    bench.add_argument("--budget", type=float, default=1.0, help="seconds timed per cell (1.0)")
    bench.add_argument("--min-reps", type=int, default=5, help="timed calls at least (5)")
    bench.add_argument("--baseline", help="ratios against this target (ort-cpu, else numpy-ref)")
    bench.add_argument("--json", metavar="F.json", help="write every sample and the environment")
    bench.add_argument("--plot", metavar="F.png", help="plot latency per target and batch")
    bench.add_argument("--seed", type=int, default=0, help="seed of the inputs (default: 0)")
    bench.add_argument("--dims", type=dims_type, default={}, metavar="S=64", help="bind symbols")
    bench.add_argument("--compile", action="store_true", help="also time the compile pipeline")
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    """Run ``nanograph bench`` (see the module docstring); the exit status."""
    from nanograph.bench.environment import describe_environment
    from nanograph.bench.report import TABLE_WIDTH, write_json

    if not args.models and not args.compile:
        raise ConfigError("name at least one MODEL to benchmark, or pass --compile")
    if args.budget <= 0 or args.min_reps < 1:
        raise ConfigError("--budget must be > 0 and --min-reps >= 1")
    if not console.is_terminal and console.width < TABLE_WIDTH:
        console.width = TABLE_WIDTH  # a file or pipe: do not squeeze tables to 80 columns
    if args.plot:
        from nanograph.bench.plot import _pyplot

        _pyplot()  # a missing matplotlib fails now, not after the whole run
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "tool": "nanograph bench"}
    status, result = 0, None
    if args.models:
        result, status = _run_models(args, console)
        document = result.to_json()
    if args.compile:
        document.setdefault("environment", describe_environment())
        document["compile"] = _run_compile(console)
    document["created"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if args.json:
        write_json(document, args.json)
        console.print(f"wrote {args.json}", markup=False)
    if args.plot and result is not None:
        from nanograph.bench.plot import write_plot

        write_plot(result, args.plot)
        console.print(f"wrote {args.plot}", markup=False)
    return status


def _run_models(args: argparse.Namespace, console: Console) -> tuple[Any, int]:
    from nanograph.bench.report import RichProgress, render
    from nanograph.bench.runner import BenchConfig, run_benchmark

    config = BenchConfig(
        models=tuple(args.models),
        targets=args.targets,
        batches=args.batch,
        threads=args.threads,
        level=args.level,
        timing=Timing(budget_s=args.budget, min_reps=args.min_reps),
        baseline=args.baseline,
        seed=args.seed,
        dims=args.dims,
    )
    with RichProgress(console) as progress:
        result = run_benchmark(config, progress)
    render(result, console)
    bad = [c for c in result.cells if c.status in (FAILED, ERROR)]
    if bad:
        console.print(Text(f"{len(bad)} cell(s) failed or raised: see the notes", style="red"))
    return result, 1 if bad else 0


def _run_compile(console: Console) -> Any:
    """The compile-time benchmark's JSON, after rendering it."""
    try:
        from nanograph.bench.compile_time import run_compile_benchmark
    except ImportError as err:
        if err.name != "nanograph.bench.compile_time":
            raise
        raise ConfigError("this installation has no compile-time benchmark") from None
    result = run_compile_benchmark()
    result.render(console)
    data = result.to_json()
    return json.loads(data) if isinstance(data, str) else data


def _ints(text: str) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``: positive ints, duplicates dropped, order kept."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values or not all(v.isdigit() and int(v) > 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of positive ints (e.g. 1,8)")
    return tuple(dict.fromkeys(int(v) for v in values))


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise argparse.ArgumentTypeError("--targets needs at least one name")
    return names
