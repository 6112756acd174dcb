"""The ``nanograph`` command line: ``zoo``, ``run`` and ``show``.

``main(argv)`` returns the exit status: 0 on success, 2 for any
``NanographError`` (its message on stderr, no traceback) and for bad usage
(argparse). MODEL is a zoo name or a path to a ``.py`` file with ``build()``
(see ``model_loading``). The vocabulary is the API's: ``--level O0..O3``,
``--backend numpy-ref|numpy``, ``--dims N=1,S=128``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

import nanograph as ng
from nanograph.api import BACKENDS, LEVELS
from nanograph.backends.feeds import InputConversionWarning
from nanograph.frontend.spec import ModelSpec
from nanograph.ir.errors import InputError, NanographError
from nanograph.model_cost import graph_flops, human, parameter_count
from nanograph.model_loading import describe_model, load_model, zoo_models
from nanograph.npz_io import read_npz, write_npz

Handler = Callable[[argparse.Namespace, Console], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)  # long lines wrap in the terminal
    handler: Handler = args.handler
    try:
        return handler(args, console)
    except NanographError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanograph", description="Trace, inspect and run small neural networks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    zoo = commands.add_parser("zoo", help="list the built-in models with parameters and FLOPs")
    zoo.set_defaults(handler=cmd_zoo)

    run = commands.add_parser("run", help="trace MODEL and run it on random or given inputs")
    _add_model_args(run)
    run.add_argument("--inputs", metavar="F.npz", help="input arrays keyed by input name")
    run.add_argument("--save", metavar="F.npz", help="write the outputs keyed by output name")
    run.add_argument(
        "--backend", default="numpy", help=f"one of {', '.join(BACKENDS)} (default: numpy)"
    )
    run.add_argument("--level", default="O3", help=f"one of {', '.join(LEVELS)} (default: O3)")
    run.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    run.set_defaults(handler=cmd_run)

    show = commands.add_parser("show", help="print MODEL's IR")
    _add_model_args(show)
    show.set_defaults(handler=cmd_show)
    return parser


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a zoo name or a .py file with build()")
    parser.add_argument(
        "--dims", type=parse_dims, default={}, metavar="N=1,S=128", help="bind symbolic dims"
    )


def parse_dims(text: str) -> dict[str, int]:
    """``"N=1,S=128"`` -> ``{"N": 1, "S": 128}``; each value a positive int."""
    dims: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{item!r} is not SYMBOL=INT (e.g. N=1,S=128)")
        if int(value) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: a dim must be at least 1")
        dims[name.strip()] = int(value)
    return dims


# zoo -------------------------------------------------------------------------------
def cmd_zoo(args: argparse.Namespace, console: Console) -> int:
    """A table of the zoo: name, description, parameters, FLOPs at the example dims."""
    table = Table(title="nanograph zoo")
    for column in ("model", "description", "parameters", "FLOPs", "at dims"):
        justify: Any = "right" if column in ("parameters", "FLOPs") else "left"
        table.add_column(column, justify=justify, no_wrap=column == "model")
    for name, module in sorted(zoo_models().items()):
        table.add_row(*(Text(cell) for cell in _zoo_row(name, module)))
    console.print(table)
    return 0


def _zoo_row(name: str, module: Any) -> list[str]:
    description = describe_model(module)
    try:
        loaded = load_model(name)
        dims = loaded.spec.resolve_dims()
        flops = graph_flops(ng.trace(loaded.module, loaded.spec, name=loaded.name), dims)
    except NanographError as err:  # one broken model should not hide the others
        return [name, description, "-", "error", err.message.splitlines()[0]]
    shown = ", ".join(f"{k}={v}" for k, v in dims.items()) or "-"
    return [name, description, human(parameter_count(loaded.module)), human(flops), shown]


# run -------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Trace, compile, run once; print each output's summary and the times."""
    loaded = load_model(args.model)
    feeds = _feeds(args, loaded.spec)
    t0 = time.perf_counter()
    graph = ng.trace(loaded.module, loaded.spec, name=loaded.name)
    t1 = time.perf_counter()
    exe = ng.compile(graph, level=args.level, backend=args.backend)
    t2 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputConversionWarning)
        outputs = exe(feeds)
    t3 = time.perf_counter()
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    console.print(output_table(f"{loaded.name} outputs", outputs))
    console.print(
        f"trace {_ms(t1 - t0)}, compile {_ms(t2 - t1)}, run {_ms(t3 - t2)} "
        f"(backend {args.backend}, level {args.level})",
        markup=False,
    )
    for note in exe.report.notes:
        console.print(f"note: {note}", markup=False)
    if args.save:
        write_npz(args.save, outputs)
        console.print(f"saved {', '.join(outputs)} to {args.save}", markup=False)
    return 0


def _feeds(args: argparse.Namespace, spec: ModelSpec) -> dict[str, np.ndarray]:
    if args.inputs is None:
        return spec.random_inputs(args.seed, args.dims)
    if args.dims:
        raise InputError(
            "--dims binds the symbols of random inputs; with --inputs the arrays' shapes do",
            hint="drop --dims, or drop --inputs to run on random inputs",
        )
    return read_npz(args.inputs)


def output_table(title: str, outputs: dict[str, np.ndarray]) -> Table:
    """name, shape, dtype, min, max, mean of each output."""
    table = Table(title=title)
    for column in ("output", "shape", "dtype", "min", "max", "mean"):
        table.add_column(column, justify="right" if column in ("min", "max", "mean") else "left")
    for name, array in outputs.items():
        stats = _stats(array)
        table.add_row(*(Text(c) for c in (name, str(list(array.shape)), str(array.dtype), *stats)))
    return table


def _stats(array: np.ndarray) -> list[str]:
    if array.size == 0:
        return ["-", "-", "-"]
    values = array.astype(np.float64)
    return [f"{values.min():.4g}", f"{values.max():.4g}", f"{values.mean():.4g}"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


# show ------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace, console: Console) -> int:
    """Print MODEL's IR text; ``--dims`` binds the given symbols first."""
    loaded = load_model(args.model)
    graph = ng.trace(loaded.module, loaded.spec, name=loaded.name)
    if args.dims:
        loaded.spec.resolve_dims(args.dims)  # rejects symbols that no input uses
        graph = ng.specialize(graph, args.dims)
    text = ng.print_graph(graph)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")  # IR text is not rich markup
    return 0


__all__ = ["build_parser", "main", "parse_dims"]
