"""The stages the compile-time benchmark times, each on one synthetic graph.

A ``Stage`` has a name, a level (``None`` for stages every level shares) and
a ``measure(workload)`` that does its untimed setup (a fresh copy for stages
that mutate), times the work and returns seconds by row name. Stage names,
which ``select_stages`` filters on:

- ``build``: constructing the graph through ``Graph.add`` (type inference,
  naming), which tracing and ONNX import do for every node;
- ``verify``, ``print_graph``, ``parse_graph`` (of the printed text, with the
  constant data), ``copy``, ``sort``, ``specialize`` (``N=1``);
- ``rewrite``: ``rewrite_every_node``, the cost floor of a pass;
- ``interpreter_plan``: building the reference interpreter (its run plan);
- ``export_onnx`` (opset 23, checker included) and ``import_onnx`` (of that
  export, from the in-memory ``ModelProto``);
- per level: ``compile:numpy-ref``, and ``compile:numpy`` once backend
  ``numpy`` is more than the reference interpreter (``api.NUMPY_IS_REFERENCE``)
  (``nanograph.compile``: copy, verify, the level's pipeline, the backend);
  and ``passes``, which times each pass of ``nanograph.api.pipeline(level)``
  (rows ``pass:NAME``; a pass that runs twice is ``pass:NAME#2``) and the
  whole pipeline (row ``passes``). A level whose pipeline is empty has no
  ``passes`` stage (today: every level). By default only the levels whose
  pipeline differs from the level below are measured (``distinct_levels``,
  the inference benchmark's rule; today: ``O0``).

Each timed call starts after ``gc.collect()``, so garbage left by earlier
samples is not charged to it. With ``Workload.gc_enabled`` (the default) the
collector then stays on, as in real use: its full collections scan the whole
heap, so their cost grows with the graph and is part of what is measured.
Off, the timing isolates the algorithm (as ``timeit`` does).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from nanograph.api import LEVELS, NUMPY_IS_REFERENCE, compile, pipeline
from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.bench.synthetic import synthetic_graph
from nanograph.bench.targets import distinct_levels
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import ConfigError
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import specialize
from nanograph.ir.text import parse_graph, print_graph
from nanograph.ir.verify import verify


def compile_backends() -> tuple[str, ...]:
    """The NumPy backends that compile differently: ``numpy`` only once it is not the reference."""
    return ("numpy-ref",) if NUMPY_IS_REFERENCE else ("numpy-ref", "numpy")


class Workload:
    """One synthetic graph of ``size`` nodes and the inputs derived from it (made once,
    untimed); ``gc_enabled`` says whether the collector runs during timed calls."""

    def __init__(self, size: int, seed: int, gc_enabled: bool = True) -> None:
        self.size = size
        self.seed = seed
        self.gc_enabled = gc_enabled
        self.graph = synthetic_graph(size, seed)

    @cached_property
    def text(self) -> str:
        return print_graph(self.graph)

    @cached_property
    def constants(self) -> dict[str, np.ndarray]:
        return {name: v.const for name, v in self.graph.constants.items() if v.const is not None}

    @cached_property
    def onnx_model(self) -> Any:
        return export_onnx(self.graph)


Measure = Callable[[Workload], dict[str, float]]


@dataclass(frozen=True)
class Stage:
    """A step to time: ``measure`` returns seconds by row name (the stage's own name, or
    for ``passes`` one row per pass plus the total)."""

    name: str
    level: str | None
    measure: Measure


@contextmanager
def _timing_conditions(workload: Workload) -> Iterator[None]:
    """Collect garbage first; keep the collector off inside unless ``gc_enabled``."""
    gc.collect()
    if workload.gc_enabled:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _timed(name: str, prepare: Callable[[Workload], Any], run: Callable[[Any], object]) -> Measure:
    """A measure that times ``run(prepare(workload))``, the preparation untimed."""

    def measure(workload: Workload) -> dict[str, float]:
        argument = prepare(workload)
        with _timing_conditions(workload):
            start = time.perf_counter()
            run(argument)
            return {name: time.perf_counter() - start}

    return measure


def _stage(name: str, prepare: Callable[[Workload], Any], run: Callable[[Any], object]) -> Stage:
    return Stage(name, None, _timed(name, prepare, run))


def _graph(workload: Workload) -> Graph:
    return workload.graph


def _fresh_copy(workload: Workload) -> Graph:
    return workload.graph.copy()


def rewrite_every_node(graph: Graph) -> None:
    """Replace each node, last to first, by an equal new one through the ``Graph`` methods a
    pass uses (``create_node``, ``insert_after``, ``replace_all_uses``, ``remove``,
    ``rename``): the cost floor of a pass that touches every node, measurable before any
    pass exists. The graph prints the same afterwards."""
    for node in reversed(graph.nodes):
        names = [v.name for v in node.outputs]
        new = graph.create_node(node.op, node.inputs, node.attrs, loc=node.loc, names=names)
        graph.insert_after(node, new)
        for old, value in zip(node.outputs, new.outputs, strict=True):
            graph.replace_all_uses(old, value)
        graph.remove(node)
        for value, name in zip(new.outputs, names, strict=True):
            graph.rename(value, name)


def base_stages() -> list[Stage]:
    """The stages every level shares, in the order a model meets them."""
    return [
        _stage("build", lambda w: (w.size, w.seed), lambda a: synthetic_graph(*a)),
        _stage("verify", _graph, verify),
        _stage("print_graph", _graph, print_graph),
        _stage("parse_graph", lambda w: (w.text, w.constants), lambda a: parse_graph(*a)),
        _stage("copy", _graph, Graph.copy),
        _stage("sort", _fresh_copy, Graph.sort),
        _stage("rewrite", _fresh_copy, rewrite_every_node),
        _stage("specialize", _graph, lambda g: specialize(g, {"N": 1})),
        _stage("interpreter_plan", _graph, ReferenceInterpreter),
        _stage("export_onnx", _graph, export_onnx),
        _stage("import_onnx", lambda w: w.onnx_model, import_onnx),
    ]


def _measure_pipeline(level: str) -> Measure:
    """Time each pass of ``level`` and the whole pipeline, on a fresh copy per sample."""

    def measure(workload: Workload) -> dict[str, float]:
        graph = workload.graph.copy()
        seen: dict[str, int] = {}
        rows: dict[str, float] = {}
        with _timing_conditions(workload):
            begin = time.perf_counter()
            for name, run_pass in pipeline(level):
                seen[name] = seen.get(name, 0) + 1
                row = f"pass:{name}" if seen[name] == 1 else f"pass:{name}#{seen[name]}"
                start = time.perf_counter()
                run_pass(graph)
                rows[row] = time.perf_counter() - start
            rows["passes"] = time.perf_counter() - begin
        return rows

    return measure


def _compiler(level: str, backend: str) -> Callable[[Graph], object]:
    return lambda graph: compile(graph, level, backend)


def level_stages(level: str) -> list[Stage]:
    """Compiling at ``level`` for each NumPy backend, and its passes where it has any."""
    stages = []
    for backend in compile_backends():
        name = f"compile:{backend}"
        stages.append(Stage(name, level, _timed(name, _graph, _compiler(level, backend))))
    if pipeline(level):
        stages.append(Stage("passes", level, _measure_pipeline(level)))
    return stages


def stage_names() -> list[str]:
    """Every name ``select_stages`` accepts (``passes`` even while no level has passes)."""
    names = [s.name for s in base_stages()]
    return [*names, *(f"compile:{backend}" for backend in compile_backends()), "passes"]


def select_stages(levels: Sequence[str] | None, names: Collection[str] | None) -> list[Stage]:
    """The stages to run, in order: those named (all if ``None``) at ``levels`` (if ``None``,
    ``distinct_levels()``). ``ConfigError`` naming the valid choices for an unknown level or
    name."""
    chosen_levels = distinct_levels() if levels is None else list(levels)
    unknown = [level for level in chosen_levels if level not in LEVELS]
    if unknown:
        shown = ", ".join(map(repr, unknown))
        raise ConfigError(f"unknown level(s) {shown}", hint=f"levels: {', '.join(LEVELS)}")
    unknown = sorted(set(names or ()) - set(stage_names()))
    if unknown:
        shown = ", ".join(map(repr, unknown))
        raise ConfigError(f"unknown stage(s) {shown}", hint=f"stages: {', '.join(stage_names())}")
    every = base_stages() + [s for level in chosen_levels for s in level_stages(level)]
    return every if names is None else [s for s in every if s.name in names]


__all__ = [
    "Stage",
    "Workload",
    "base_stages",
    "compile_backends",
    "level_stages",
    "rewrite_every_node",
    "select_stages",
    "stage_names",
]
