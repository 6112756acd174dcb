"""The ``nanograph`` command line: ``zoo``, ``run``, ``show``, ``export``, ``inspect``, ``bench``.

``main(argv)`` returns the exit status: 0 on success, 2 for any
``NanographError`` (its message on stderr, no traceback) and for bad usage
(argparse). MODEL is a zoo name or a path to a ``.py`` file with ``build()``
(see ``model_loading``). The vocabulary is the API's: ``--level O0..O3``,
``--backend numpy-ref|numpy|ort-cpu|ort-cuda``, ``--dims N=1,S=128``; ``--threads N``
sets onnxruntime's intra-op threads for the ``ort-*`` backends; ``--memory-limit 4GiB``
(``run``, ``bench``; ``none`` lifts it) sets the memory limit for the command, and for the
``bench`` worker processes through ``NANOGRAPH_MEMORY_LIMIT``. ``bench`` lives in
``nanograph.bench.command``; ``inspect``'s views in ``nanograph.inspection``.

Bad arguments exit 2 from argparse with the reason: a ``--seed`` below 0, a
``--dims`` value below 1 or above 2**63-1 (NumPy's largest index), a symbol
given twice. A ``MemoryError`` that the memory limit let through (``--memory-limit
none``) exits 2 as a ``ResourceLimitError`` naming the dims, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

import nanograph as ng
from nanograph.api import BACKENDS, LEVELS
from nanograph.backends.atomic_write import atomic_write_many
from nanograph.backends.memory_limit import (
    ACCEPTED,
    ENV_VAR,
    parse_limit,
    set_memory_limit,
)
from nanograph.bench.command import add_bench_parser
from nanograph.inspection import (
    ALL,
    check_pass_names,
    graph_to_dot,
    inspect_graph,
    inspection_html,
    ir_dumps,
    print_inspection,
)
from nanograph.inspection.memory import memory_html, memory_lines, memory_report
from nanograph.ir.errors import (
    ConfigError,
    InputError,
    NanographError,
    NanographWarning,
    ResourceLimitError,
)
from nanograph.model_cost import graph_flops, human, parameter_count
from nanograph.model_loading import LoadedModel, describe_model, load_model, zoo_models
from nanograph.npz_io import read_npz, write_npz

Handler = Callable[[argparse.Namespace, Console], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)  # long lines wrap in the terminal
    handler: Handler = args.handler
    try:
        with _memory_limit(getattr(args, "memory_limit", None)):
            return handler(args, console)
    except NanographError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except MemoryError as err:  # an allocation the memory limit let through (e.g. it is lifted)
        print(f"error: {_out_of_memory(args, err)}", file=sys.stderr)
        return 2


def _out_of_memory(args: argparse.Namespace, err: MemoryError) -> ResourceLimitError:
    """The error for an allocation that failed: what NumPy said, the command's dims, a fix."""
    dims = getattr(args, "dims", None) or {}
    binding = ", ".join(f"{k}={v}" for k, v in dims.items())
    at = f" at {binding}" if binding else ""
    model = getattr(args, "model", None)
    return ResourceLimitError(
        f"ran out of memory{at}: {err or 'MemoryError'}",
        loc=f"MODEL {model}" if model else f"command {args.command}",
        hint=f"use {f'smaller dims than {binding}' if binding else 'smaller dims (--dims)'}; "
        "keep a --memory-limit (not none) so that runs too large are refused before allocating",
    )


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
    run.add_argument(
        "--seed", type=_seed, default=0, help="seed of the random inputs, an int >= 0 (default: 0)"
    )
    run.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="onnxruntime intra-op threads, ort-* backends only (default: onnxruntime's)",
    )
    _add_memory_limit_arg(run)
    run.set_defaults(handler=cmd_run)

    show = commands.add_parser("show", help="print MODEL's IR")
    _add_model_args(show)
    show.set_defaults(handler=cmd_show)
    _add_export_parser(commands)
    _add_inspect_parser(commands)
    add_bench_parser(commands, parse_dims)
    _add_memory_limit_arg(commands.choices["bench"])
    return parser


def _add_memory_limit_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory-limit",
        type=_memory_limit_text,
        metavar="SIZE",
        help=f"refuse runs that need more memory than SIZE (4GiB, 512MB, none; default: "
        f"${ENV_VAR}, else 3/4 of physical memory)",
    )


def _memory_limit_text(text: str) -> str:
    """``--memory-limit``'s value, checked; kept as text for the worker processes' env."""
    try:
        parse_limit(text, "--memory-limit")
    except NanographError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a memory limit: give {ACCEPTED}"
        ) from None
    return text


@contextlib.contextmanager
def _memory_limit(text: str | None) -> Iterator[None]:
    """The command's memory limit, in this process and in the processes it starts
    (``bench``'s workers read ``NANOGRAPH_MEMORY_LIMIT``); both restored afterwards."""
    if text is None:
        yield
        return
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = text
    try:
        with set_memory_limit(text, source="--memory-limit"):
            yield
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a zoo name or a .py file with build()")
    parser.add_argument(
        "--dims", type=parse_dims, default={}, metavar="N=1,S=128", help="bind symbolic dims"
    )


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive int")
    return int(text)


def _seed(text: str) -> int:
    """``--seed``: an int >= 0 (NumPy's generators take no negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a seed: give an int >= 0 (e.g. --seed 0)"
        )
    return value


MAX_DIM = 2**63 - 1
"""The largest size NumPy can index along one axis (its ``intp`` is 64-bit)."""


def parse_dims(text: str) -> dict[str, int]:
    """``"N=1,S=128"`` -> ``{"N": 1, "S": 128}``: each value an int in ``[1, 2**63-1]``,
    each symbol given once."""
    dims: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name.isidentifier() or not value.isdecimal():
            raise argparse.ArgumentTypeError(f"{item!r} is not SYMBOL=INT (e.g. N=1,S=128)")
        size = int(value)
        if size < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: a dim must be at least 1")
        if size > MAX_DIM:
            raise argparse.ArgumentTypeError(
                f"{item!r}: a dim must be at most {MAX_DIM} (2**63-1), the most NumPy can "
                "index; use a smaller size"
            )
        if name in dims:
            raise argparse.ArgumentTypeError(
                f"{name} is given twice ({name}={dims[name]} and {item}): give each symbol once"
            )
        dims[name] = size
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
        flops = graph_flops(loaded.trace(), dims)
    except NanographError as err:  # one broken model should not hide the others
        return [name, description, "-", "error", err.message.splitlines()[0]]
    shown = ", ".join(f"{k}={v}" for k, v in dims.items()) or "-"
    return [name, description, human(parameter_count(loaded.module)), human(flops), shown]


# run -------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Trace, compile, run once; print each output's summary and the times."""
    loaded = load_model(args.model)
    feeds = _feeds(args, loaded)
    t0 = time.perf_counter()
    graph = loaded.trace()
    t1 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NanographWarning)
        exe = ng.compile(graph, level=args.level, backend=args.backend, threads=args.threads)
        t2 = time.perf_counter()
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
    if exe.report.onnx is not None:  # an onnxruntime backend: how it ran, and where
        console.print(f"onnxruntime: {exe.report.onnx}", markup=False)
        if exe.report.providers is not None:
            console.print(f"providers: {exe.report.providers.summary()}", markup=False)
    if args.save:
        write_npz(args.save, outputs)
        console.print(f"saved {', '.join(outputs)} to {args.save}", markup=False)
    return 0


def _feeds(args: argparse.Namespace, loaded: LoadedModel) -> dict[str, np.ndarray]:
    if args.inputs is None:
        return loaded.random_inputs(args.seed, args.dims)  # refused above the memory limit
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
    graph = load_model(args.model).trace(args.dims)
    text = ng.print_graph(graph)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")  # IR text is not rich markup
    return 0


# export ----------------------------------------------------------------------------
def _add_export_parser(commands: Any) -> None:
    export = commands.add_parser("export", help="trace MODEL and write it as an ONNX file")
    _add_model_args(export)
    export.add_argument("-o", "--output", required=True, metavar="F.onnx", help="file to write")
    export.add_argument("--opset", type=int, default=23, help="ONNX opset, 17..28 (default: 23)")
    export.add_argument("--level", default="O2", help=f"one of {', '.join(LEVELS)} (default: O2)")
    export.add_argument(
        "--attention",
        default="auto",
        help="auto|onnx|ms|plain: ONNX Attention, com.microsoft.MultiHeadAttention or plain "
        "ops (default: auto = onnx at opset >= 23, else plain)",
    )
    export.add_argument(
        "--external-data", action="store_true", help="put weights over 1 KB in F.onnx.data"
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    """Trace MODEL (``--dims`` binds symbols), export it; print what was written."""
    loaded = load_model(args.model)
    graph = loaded.trace(args.dims)
    model = ng.export_onnx(
        graph,
        args.output,
        level=args.level,
        opset=args.opset,
        attention=args.attention,
        external_data=args.external_data,
    )
    for line in export_summary(model, args.output, args.external_data):
        console.print(line, markup=False)
    return 0


def export_summary(model: Any, path: str, external_data: bool) -> list[str]:
    """What ``export`` wrote: file(s) and sizes, opset, attention lowering, nodes by type."""
    from nanograph.backends.onnx_export.save import EXTERNAL_THRESHOLD

    files = f"{path} ({human(os.path.getsize(path))}B)"
    moved = [t for t in model.graph.initializer if len(t.raw_data) > EXTERNAL_THRESHOLD]
    if external_data and moved:
        data = f"{path}.data"
        files += f" + {data} ({human(os.path.getsize(data))}B, {len(moved)} tensors)"
    props = {p.key: p.value for p in model.metadata_props}
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    counts = Counter(n.op_type for n in model.graph.node).most_common()
    by_type = ", ".join(f"{op} {n}" for op, n in counts)
    return [
        f"wrote {files}",
        f"opset: {opsets} (ir_version {model.ir_version}); level {props.get('nanograph.level')} "
        f"(passes run: {props.get('nanograph.passes')})",
        f"attention: {props.get('nanograph.attention')}",
        f"nodes: {len(model.graph.node)} ({by_type})",
    ]


# inspect ---------------------------------------------------------------------------
def _add_inspect_parser(commands: Any) -> None:
    inspect = commands.add_parser(
        "inspect", help="show what each pass did to MODEL, and why fusions did not fire"
    )
    _add_model_args(inspect)
    inspect.add_argument("--level", default="O2", help=f"one of {', '.join(LEVELS)} (default: O2)")
    inspect.add_argument(
        "--backend",
        default="numpy",
        choices=list(BACKENDS),
        help="whose pipeline to show: at O3 the NumPy backends add layout planning, "
        "the onnxruntime ones keep O2's passes (default: numpy)",
    )
    inspect.add_argument(
        "--print-after",
        action="append",
        default=[],
        metavar="PASS",
        help="print the IR after pass PASS (repeatable)",
    )
    inspect.add_argument(
        "--print-after-all", action="store_true", help="print the IR after every pass"
    )
    inspect.add_argument(
        "--verify-each", action="store_true", help="run the IR verifier after every pass"
    )
    inspect.add_argument("--dot", metavar="F.dot", help="write the final graph as Graphviz text")
    inspect.add_argument("--html", metavar="F.html", help="write a self-contained HTML report")
    inspect.add_argument("--json", metavar="F.json", help="write the report as JSON")
    inspect.add_argument(
        "--memory",
        action="store_true",
        help="plan memory at the model's dims (--dims) as the numpy executor does: each "
        "tensor's lifetime, size and offset, peak vs lower bound, the peak after each pass "
        "(also in --json and --html)",
    )
    inspect.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace, console: Console) -> int:
    """Run MODEL through a level's passes; print what each did; write --dot/--html/--json."""
    check_pass_names(args.level, args.print_after, args.backend)  # a typo fails fast
    outputs = _inspect_outputs(args)
    loaded = load_model(args.model)
    graph = loaded.trace(args.dims)
    inspection = inspect_graph(
        graph,
        args.level,
        dims=loaded.spec.resolve_dims(args.dims),
        model=loaded.name,
        verify_each=args.verify_each,
        backend=args.backend,
    )
    memory = memory_report(inspection) if args.memory else None
    extra = {"memory": memory.to_dict()} if memory else {}
    render: dict[str, Callable[[], str]] = {
        "dot": lambda: graph_to_dot(inspection.graph, f"{loaded.name} at {args.level}"),
        "html": lambda: inspection_html(inspection, [memory_html(memory)] if memory else []),
        "json": lambda: json.dumps({**inspection.to_dict(), **extra}, indent=2) + "\n",
    }
    # All files or none: each is written to a temporary first, renamed when all are complete.
    atomic_write_many([(path, _writer(render[kind]())) for kind, path in outputs])
    names = {ALL} if args.print_after_all else set(args.print_after)
    for dump in ir_dumps(inspection, names):
        sys.stdout.write(dump)  # IR text is not rich markup
    print_inspection(console, inspection)
    for part in memory_lines(memory) if memory else []:
        console.print(part)
    for kind, path in outputs:
        console.print(Text(f"wrote {path} ({kind})"))
    return 0


def _inspect_outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(kind, path) of each file asked for; one path given twice is refused."""
    outputs = [(kind, getattr(args, kind)) for kind in ("dot", "html", "json")]
    outputs = [(kind, path) for kind, path in outputs if path]
    paths = [os.path.abspath(path) for _, path in outputs]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise ConfigError(
            f"{twice[0]} is given for more than one of --dot, --html and --json",
            hint="give each output its own file",
        )
    return outputs


def _writer(text: str) -> Callable[[BinaryIO], None]:
    data = text.encode("utf-8")

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return write


__all__ = ["build_parser", "main", "parse_dims"]
