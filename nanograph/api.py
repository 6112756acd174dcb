"""The public API: ``compile`` a graph at a level for a backend, and call the result.

One vocabulary everywhere (Python API and CLI):

- levels ``O0`` (no passes), ``O1`` (canonicalize), ``O2`` (+ fusions),
  ``O3`` (+ layout and memory planning);
- backends ``numpy-ref`` (reference interpreter), ``numpy`` (planned
  executor), ``ort-cpu`` and ``ort-cuda`` (onnxruntime).

Each level's passes are the visible list ``nanograph.passes.PIPELINES[level]``
(at ``O3`` the NumPy backends add layout planning: ``pipeline_for(level, backend)``);
every compile is instrumented (``exe.report.passes``: per pass its time, node
counts, rewrites and near misses). ``numpy`` runs the planned executor
(``nanograph.backends.planned.executor``): per input shape one memory-planned
arena and a flat list of kernel steps writing into it.

The onnxruntime backends export the compiled graph to ONNX in memory
(``opset``, ``attention`` lowering) and run it in onnxruntime (``threads``,
``optimization``: see ``nanograph.backends.ort``); their report adds those
settings and, after the first run, which execution provider ran each node.

``compile`` never mutates the caller's graph: it works on a copy (constant
arrays are shared, read-only).

Every backend refuses a call whose memory estimate is above the memory limit
(``ResourceLimitError``, before allocating): ``compile(..., memory_limit=)``
for one compiled model, else ``set_memory_limit``, ``NANOGRAPH_MEMORY_LIMIT``
or 3/4 of physical memory (``nanograph.backends.memory_limit``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from nanograph.backends.memory_limit import setting_from
from nanograph.backends.planned.executor import PlannedExecutor
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.ir.errors import ConfigError, InputError
from nanograph.ir.graph import Graph
from nanograph.ir.verify import verify
from nanograph.passes import PIPELINES, Pass, PipelineReport, run_pipeline
from nanograph.passes.pipelines import pipeline_for

if TYPE_CHECKING:
    from nanograph.backends.ort import ProviderReport

LEVELS: dict[str, str] = {
    "O0": "no passes",
    "O1": "canonicalization",
    "O2": "O1 + fusions",
    "O3": "O2 + layout and memory planning",
}
BACKENDS: dict[str, str] = {
    "numpy-ref": "NumPy reference interpreter (the oracle)",
    "numpy": "NumPy planned executor (one arena per input shape, kernels writing into it)",
    "ort-cpu": "onnxruntime, CPU execution provider (the graph exported to ONNX in memory)",
    "ort-cuda": "onnxruntime, CUDA execution provider (CPU for nodes CUDA has no kernel for)",
}
_ORT_PROVIDERS = {"ort-cpu": "cpu", "ort-cuda": "cuda"}
NUMPY_IS_REFERENCE = False
"""Whether backend ``numpy`` is the reference interpreter: no, the planned executor runs it
(tools comparing backends, such as the benchmark's columns, read this)."""
DEFAULT_OPSET = 23
DEFAULT_ATTENTION = "auto"


@dataclass(frozen=True)
class OnnxRuntimeSettings:
    """How an onnxruntime backend runs the graph: the ONNX export and the session.

    ``attention`` is the lowering asked for, ``lowered`` what the exporter
    says it did with the graph's attention nodes (its ``nanograph.attention``
    metadata; empty if it says nothing). ``providers`` are those the session
    really uses, best first; ``threads`` ``None`` is onnxruntime's default;
    ``optimization`` is onnxruntime's graph optimization level.
    """

    opset: int
    attention: str
    lowered: str
    providers: tuple[str, ...]
    threads: int | None
    optimization: str
    version: str

    def __str__(self) -> str:
        threads = "onnxruntime's default" if self.threads is None else str(self.threads)
        attention = f"attention={self.attention}" + (f": {self.lowered}" if self.lowered else "")
        return (
            f"exported to ONNX opset {self.opset} ({attention}); "
            f"onnxruntime {self.version} on {', '.join(self.providers)}, "
            f"intra-op threads: {threads}, graph optimization: {self.optimization}"
        )


@dataclass(frozen=True)
class CompileReport:
    """What ``compile`` did: the passes it ran and what they changed, in plain words.

    ``pipeline`` lists the passes run, in order; ``passes`` is the
    instrumented record of each (time, node counts, rewrites, near misses);
    ``nodes_before``/``nodes_after`` count nodes of the input graph and of the
    compiled one; ``notes`` say where the result differs from what the level
    and backend promise. For the onnxruntime backends, ``onnx`` holds the
    export and session settings, and ``providers`` which provider ran each node
    (``None`` until the first run, which is profiled to find out).
    """

    level: str
    backend: str
    pipeline: tuple[str, ...]
    nodes_before: int
    nodes_after: int
    notes: tuple[str, ...]
    passes: PipelineReport = field(default_factory=PipelineReport)
    onnx: OnnxRuntimeSettings | None = None
    providers: ProviderReport | None = None

    def __str__(self) -> str:
        passes = ", ".join(self.pipeline) or "none"
        lines = [
            f"level {self.level}, backend {self.backend}",
            f"passes: {passes}",
            f"nodes: {self.nodes_before} -> {self.nodes_after}",
        ]
        counts = self.passes.rewrite_counts()
        if counts:
            fired = ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items()))
            lines.append(f"rewrites: {fired}")
        if self.onnx is not None:
            lines.append(f"onnxruntime: {self.onnx}")
            known = self.providers.summary() if self.providers else "known after the first run"
            lines.append(f"providers: {known}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


class Runner(Protocol):
    """What ``Compiled`` calls: checks ``feeds`` and returns outputs by name."""

    def run(self, feeds: Mapping[str, Any], *, stacklevel: int = 2) -> dict[str, np.ndarray]: ...


class Compiled:
    """A graph compiled for one backend: call it with arrays by input name.

    ``exe(x=arr)`` or ``exe({"x": arr})`` returns a dict of outputs by name.
    ``graph`` is the compiled graph (the compiler's own copy); ``runner`` is
    the backend's (a ``ReferenceInterpreter``, a ``PlannedExecutor`` or an ``OrtRunner``).
    """

    def __init__(self, graph: Graph, report: CompileReport, runner: Runner) -> None:
        self.graph = graph
        self.runner = runner
        self._report = report

    @property
    def report(self) -> CompileReport:
        """What ``compile`` did; for onnxruntime, ``providers`` is filled once it is known."""
        providers = getattr(self.runner, "provider_report", None)
        return self._report if providers is None else replace(self._report, providers=providers)

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]

    def __call__(
        self, feeds: Mapping[str, Any] | None = None, /, **named: Any
    ) -> dict[str, np.ndarray]:
        """Run on ``feeds`` and/or keyword arrays; raises ``InputError`` on bad inputs."""
        return self.runner.run(self._merge(feeds, named), stacklevel=3)

    def profile(self, feeds: Mapping[str, Any] | None = None, /, **named: Any) -> ProviderReport:
        """onnxruntime backends: run once, profiled, and say which provider ran each node.

        The first call of ``exe`` is profiled already (``exe.report.providers``);
        this is for asking again, e.g. at other input sizes. ``ConfigError`` for
        the NumPy backends, which have no providers.
        """
        profile = getattr(self.runner, "profile", None)
        if profile is None:
            raise ConfigError(
                f"backend {self._report.backend!r} has no execution providers to report",
                hint="compile with backend ort-cpu or ort-cuda",
            )
        report: ProviderReport = profile(self._merge(feeds, named), stacklevel=3)
        return report

    def _merge(self, feeds: Mapping[str, Any] | None, named: dict[str, Any]) -> dict[str, Any]:
        if feeds is not None and not isinstance(feeds, Mapping):
            raise InputError(
                f"pass inputs by name, got a positional {type(feeds).__name__}",
                hint=f"call exe({', '.join(f'{n}=...' for n in self.input_names)}) "
                "or exe({'name': array, ...})",
            )
        merged = dict(feeds or {})
        twice = sorted(set(merged) & set(named))
        if twice:
            raise InputError(
                f"input(s) {', '.join(twice)} given both in the dict and by keyword",
                hint="give each input once: all in the dict, or all as keywords",
            )
        merged.update(named)
        return merged

    def __repr__(self) -> str:
        r = self._report
        return f"<Compiled {self.graph.name}: {r.level} on {r.backend}, {r.nodes_after} nodes>"


def compile(
    graph: Graph,
    level: str = "O0",
    backend: str = "numpy-ref",
    *,
    opset: int | None = None,
    attention: str | None = None,
    threads: int | None = None,
    optimization: str | None = None,
    verify_each: bool = False,
    capture: tuple[str, ...] = (),
    memory_limit: int | str | None = None,
) -> Compiled:
    """Verify a copy of ``graph``, run the passes of ``level``, build ``backend``'s runner.

    ``verify_each`` runs the IR verifier after every pass (a pass that breaks
    the graph raises ``InternalError`` naming it); ``capture`` names the passes
    after which the text IR is kept in ``report.passes`` (``"all"``, ``"input"``).
    ``memory_limit`` caps the memory of each call of the result: bytes, a size
    string (``"512MiB"``, ``"4GB"``) or ``"none"``; ``None`` (the default) defers
    to the process-wide limit (``set_memory_limit``, ``NANOGRAPH_MEMORY_LIMIT``,
    3/4 of physical memory). A call above it raises ``ResourceLimitError``
    before allocating; so may ``compile`` itself for ``numpy`` on a graph
    without symbols (its arena is allocated at compile time).

    The keyword options are for the onnxruntime backends only (``ConfigError``
    with the NumPy ones): ``opset`` (default 23) and ``attention`` (default
    ``"auto"``) are the ONNX export's; ``threads`` (default: onnxruntime's)
    and ``optimization`` (``disabled|basic|extended|all``, default ``all``)
    the session's. Building an ``ort-*`` backend exports the graph in memory
    and creates (or reuses) an onnxruntime session.

    Raises ``ConfigError`` for an unknown level, backend or option (listing the
    valid ones) or a malformed ``memory_limit``; ``VerificationError`` for a
    broken graph; ``ExecutionError`` for constants without data;
    ``ProviderUnavailableError`` for ``ort-cuda`` where onnxruntime cannot use
    CUDA; the exporter's errors for a graph it cannot export;
    ``OnnxRuntimeError`` where onnxruntime refuses the model.
    """
    _check_choice("level", level, LEVELS)
    _check_choice("backend", backend, BACKENDS)
    setting_from(memory_limit, "memory_limit=")  # a malformed limit fails before the passes
    ort_options = {"opset": opset, "attention": attention, "threads": threads}
    ort_options["optimization"] = optimization
    given = [name for name, value in ort_options.items() if value is not None]
    if backend not in _ORT_PROVIDERS and given:
        raise ConfigError(
            f"{', '.join(given)}: option(s) of the onnxruntime backends, not of {backend!r}",
            hint="drop them, or compile with backend ort-cpu or ort-cuda",
        )
    if not isinstance(graph, Graph):
        raise ConfigError(
            f"compile takes a traced Graph, got {type(graph).__name__}",
            hint="trace the model first: graph = ng.trace(model, ng.InputSpec(...))",
        )
    work, passes = optimize(graph, level, backend=backend, verify_each=verify_each, capture=capture)
    report = CompileReport(
        level=level,
        backend=backend,
        pipeline=tuple(p.name for p in pipeline_for(level, backend)),
        nodes_before=len(graph.nodes),
        nodes_after=len(work.nodes),
        notes=tuple(_notes(level, backend)),
        passes=passes,
    )
    if backend == "numpy":
        return Compiled(work, report, PlannedExecutor(work, memory_limit=memory_limit))
    if backend not in _ORT_PROVIDERS:
        return Compiled(work, report, ReferenceInterpreter(work, memory_limit=memory_limit))
    runner, settings = _onnxruntime_runner(
        work,
        _ORT_PROVIDERS[backend],
        DEFAULT_OPSET if opset is None else opset,
        DEFAULT_ATTENTION if attention is None else attention,
        threads,
        "all" if optimization is None else optimization,
        memory_limit,
    )
    return Compiled(work, replace(report, onnx=settings), runner)


def optimize(
    graph: Graph,
    level: str,
    *,
    backend: str | None = None,
    verify_each: bool = False,
    capture: tuple[str, ...] = (),
) -> tuple[Graph, PipelineReport]:
    """A verified copy of ``graph`` with ``level``'s passes run on it, and their report.

    ``backend`` picks the pipeline variant (``pipeline_for``: the NumPy backends
    add layout planning at O3); ``None`` is the backend-neutral ``PIPELINES[level]``,
    which the ONNX export runs (ONNX stays NCHW).
    """
    _check_choice("level", level, LEVELS)
    if backend is not None:
        _check_choice("backend", backend, BACKENDS)
    passes = PIPELINES[level] if backend is None else pipeline_for(level, backend)
    work = graph.copy()
    verify(work)
    report = run_pipeline(work, passes, verify_each=verify_each, capture=capture)
    return work, report


def _onnxruntime_runner(
    graph: Graph,
    providers: str,
    opset: int,
    attention: str,
    threads: int | None,
    opt: str,
    memory_limit: int | str | None = None,
) -> tuple[Runner, OnnxRuntimeSettings]:
    """Export ``graph`` to ONNX in memory and open it in onnxruntime (session cached)."""
    import onnxruntime

    from nanograph.backends.ort import OrtRunner, SessionSettings
    from nanograph.backends.ort.providers import resolve_providers

    resolve_providers(SessionSettings(providers, threads, opt).providers)  # fail before exporting
    model = _exporter()(graph, opset=opset, attention=attention)
    runner = OrtRunner(
        model,
        graph=graph,
        providers=providers,
        threads=threads,
        optimization=opt,
        memory_limit=memory_limit,
    )
    lowered = next((p.value for p in model.metadata_props if p.key == "nanograph.attention"), "")
    settings = OnnxRuntimeSettings(
        opset, attention, lowered, runner.providers, threads, opt, onnxruntime.__version__
    )
    return runner, settings


def _exporter() -> Callable[..., Any]:
    """``nanograph.backends.onnx_export.export_onnx``, imported on first use."""
    try:
        module = importlib.import_module("nanograph.backends.onnx_export")
    except ImportError as err:
        if err.name != "nanograph.backends.onnx_export":
            raise  # the exporter is there but broken: show the real failure
        module = None
    export: Callable[..., Any] | None = getattr(module, "export_onnx", None)
    if export is None:
        raise ConfigError(
            "the onnxruntime backends need the ONNX exporter "
            "(nanograph.backends.onnx_export.export_onnx), which this installation lacks",
            hint="use the numpy-ref or numpy backend",
        )
    return export


def _check_choice(what: str, value: object, choices: Mapping[str, str]) -> None:
    if value not in choices:
        listed = "; ".join(f"{name} ({meaning})" for name, meaning in choices.items())
        raise ConfigError(f"unknown {what} {value!r}", hint=f"valid {what}s: {listed}")


def pipeline(level: str, backend: str | None = None) -> list[Pass]:
    """The passes ``compile`` runs at ``level`` (for ``backend``), in order, as
    ``Pass(name, run)`` pairs.

    A pass mutates the graph it is given and returns a ``PassResult``.
    ``backend=None`` is the backend-neutral pipeline (what the ONNX export runs).
    ``ConfigError`` for an unknown level or backend. The compile-time benchmark
    times each pass through this list, so a new pass is measured without more code.
    """
    _check_choice("level", level, LEVELS)
    if backend is None:
        return list(PIPELINES[level])
    _check_choice("backend", backend, BACKENDS)
    return list(pipeline_for(level, backend))


def level_passes(level: str, backend: str | None = None) -> tuple[str, ...]:
    """The names of the passes ``level`` runs (for ``backend``), in order;
    ``ConfigError`` for an unknown level or backend.

    Tools that compare levels (the benchmark's columns) ask this instead of
    assuming what a level does.
    """
    return tuple(p.name for p in pipeline(level, backend))


def _notes(level: str, backend: str) -> list[str]:
    notes = []
    if level == "O3" and level_passes("O3", backend) == level_passes("O2", backend):
        notes.append(
            f"O3's layout planning is for the NumPy backends; {backend} runs O2's passes "
            "(its ONNX export keeps NCHW, and onnxruntime plans its own memory)"
        )
    return notes


__all__ = [
    "BACKENDS",
    "LEVELS",
    "NUMPY_IS_REFERENCE",
    "CompileReport",
    "Compiled",
    "ConfigError",
    "OnnxRuntimeSettings",
    "compile",
    "level_passes",
    "optimize",
    "pipeline",
]
