"""Compile-time scaling (``nanograph bench --compile``): time each stage of the compiler
on synthetic graphs of growing size and fit how its time grows with the node count.

``run_compile_benchmark(sizes=(100, 1000, 10000))`` builds one synthetic graph
per size (``nanograph.bench.synthetic``: exactly that many nodes, symbolic
batch ``N``) and runs every stage of ``nanograph.bench.compile_stages`` on it
``repeats`` times (verify, print, parse, copy, sort, rewrite, specialize, the
interpreter's plan, ONNX export and import, ``compile`` at each level that
has a pipeline of its own, and each pass of it once passes exist). Only one
size's graph is alive at a time. A cell is the median, min and max of its
samples.

The growth exponent of a stage is the least-squares slope of log(median
seconds) against log(node count) over all sizes (1 linear, 2 quadratic); the
step exponent is the slope between the two largest sizes, where fixed costs
no longer hide the growth. A stage whose larger exponent exceeds
``QUADRATIC_EXPONENT`` is flagged ``QUADRATIC?``: quadratic passes are bugs to
fix. Stages that take less than ``NOISE_FLOOR_S`` at the largest size are
timer noise and never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from nanograph.api import LEVELS, NUMPY_IS_REFERENCE, pipeline
from nanograph.bench.compile_stages import Stage, Workload, select_stages
from nanograph.bench.environment import describe_environment
from nanograph.bench.synthetic import MIN_NODES
from nanograph.bench.targets import distinct_levels
from nanograph.ir.errors import ConfigError

SCHEMA = "nanograph.bench.compile/1"
DEFAULT_SIZES = (100, 1000, 10000)
QUADRATIC_EXPONENT = 1.5
NOISE_FLOOR_S = 1e-4


@dataclass(frozen=True)
class Timing:
    """The samples (seconds, at least one) of one stage on a graph of ``nodes`` nodes."""

    nodes: int
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def to_json(self, size: int) -> dict[str, Any]:
        """``{"size", "nodes", "median_s", "min_s", "max_s", "samples_s"}``."""
        return {
            "size": size,
            "nodes": self.nodes,
            "median_s": self.median,
            "min_s": self.min,
            "max_s": self.max,
            "samples_s": list(self.samples),
        }


def fit_exponent(nodes: Sequence[float], seconds: Sequence[float]) -> float:
    """The least-squares slope of log(seconds) against log(nodes); NaN with < 2 sizes.

    ``t = c * n**k`` gives ``k`` exactly. Times are clamped to 1 ns, so a
    zero reading does not break the logarithm.
    """
    if len(nodes) != len(seconds):
        raise ValueError(f"{len(nodes)} node counts but {len(seconds)} times")
    x = np.log(np.asarray(nodes, dtype=float))
    y = np.log(np.maximum(np.asarray(seconds, dtype=float), 1e-9))
    spread = float(np.sum((x - x.mean()) ** 2)) if len(x) else 0.0
    if len(x) < 2 or spread == 0.0:
        return math.nan
    return float(np.sum((x - x.mean()) * (y - y.mean())) / spread)


def label(stage: str, level: str | None) -> str:
    """A row's name: ``verify``, or ``compile:numpy@O2`` for a stage of a level."""
    return stage if level is None else f"{stage}@{level}"


RowKey = tuple[str, str | None, int]


@dataclass
class CompileBenchResult:
    """Timings by ``(stage, level, size)``, level ``None`` for stages every level shares.

    ``sizes`` are the requested node counts in order; each ``Timing`` holds
    its graph's actual count, which the fits use. Stages keep the order in
    which ``rows`` lists them.
    """

    rows: dict[RowKey, Timing]
    sizes: tuple[int, ...]
    repeats: int = 1
    seed: int = 0
    levels: tuple[str, ...] = ()
    gc_enabled: bool = True
    notes: tuple[str, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)

    def stages(self) -> list[tuple[str, str | None]]:
        """The ``(stage, level)`` pairs measured, in order."""
        return list(dict.fromkeys((stage, level) for stage, level, _ in self.rows))

    def series(self, stage: str, level: str | None) -> list[tuple[int, Timing]]:
        """``(size, timing)`` of one stage, smallest size first."""
        found = [(s, t) for (st, lv, s), t in self.rows.items() if (st, lv) == (stage, level)]
        return sorted(found, key=lambda item: item[0])

    def _fit(self, stage: str, level: str | None, last: int = 0) -> float:
        series = self.series(stage, level)[-last:]
        return fit_exponent([t.nodes for _, t in series], [t.median for _, t in series])

    @property
    def exponents(self) -> dict[str, float]:
        """Growth exponent over all sizes, by row label (see ``label``); NaN with one size."""
        return {label(stage, level): self._fit(stage, level) for stage, level in self.stages()}

    @property
    def step_exponents(self) -> dict[str, float]:
        """Growth exponent between the two largest sizes, by row label; NaN with one size."""
        return {label(st, lv): self._fit(st, lv, last=2) for st, lv in self.stages()}

    def flagged(self, stage: str, level: str | None) -> bool:
        """Whether either exponent exceeds ``QUADRATIC_EXPONENT`` (and the stage is not noise)."""
        steepest = max(self._fit(stage, level), self._fit(stage, level, last=2))
        slowest = max(t.median for _, t in self.series(stage, level))
        return steepest > QUADRATIC_EXPONENT and slowest >= NOISE_FLOOR_S

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data, schema ``SCHEMA``::

            {"schema", "sizes": [int], "repeats", "seed", "levels": [str], "gc_enabled",
             "quadratic_exponent", "noise_floor_s", "notes": [str], "environment": {...},
             "stages": [{"stage", "level": str|null, "label",
                         "exponent": float|null, "step_exponent": float|null,
                         "quadratic": bool,
                         "timings": [{"size", "nodes", "median_s", "min_s", "max_s",
                                      "samples_s": [float]}]}]}

        Exponents are null where they cannot be fitted (a single size).
        """
        return {
            "schema": SCHEMA,
            "sizes": list(self.sizes),
            "repeats": self.repeats,
            "seed": self.seed,
            "levels": list(self.levels),
            "gc_enabled": self.gc_enabled,
            "quadratic_exponent": QUADRATIC_EXPONENT,
            "noise_floor_s": NOISE_FLOOR_S,
            "notes": list(self.notes),
            "environment": self.environment,
            "stages": [self._stage_json(stage, level) for stage, level in self.stages()],
        }

    def _stage_json(self, stage: str, level: str | None) -> dict[str, Any]:
        exponent, step = self._fit(stage, level), self._fit(stage, level, last=2)
        return {
            "stage": stage,
            "level": level,
            "label": label(stage, level),
            "exponent": None if math.isnan(exponent) else exponent,
            "step_exponent": None if math.isnan(step) else step,
            "quadratic": self.flagged(stage, level),
            "timings": [t.to_json(size) for size, t in self.series(stage, level)],
        }

    def render(self, console: Console) -> None:
        """Print a table: per stage, the median seconds at each size, both exponents and
        the ``QUADRATIC?`` flag; then the notes."""
        gc_state = "on" if self.gc_enabled else "off"
        title = f"compile time by graph size (median of {self.repeats}, gc {gc_state})"
        table = Table(title=title)
        table.add_column("stage")
        for size in self.sizes:
            table.add_column(f"{size:,} nodes", justify="right")
        table.add_column("exponent", justify="right")
        table.add_column("last step", justify="right")
        table.add_column("flag")
        for stage, level in self.stages():
            by_size = dict(self.series(stage, level))
            cells = [_seconds(by_size[s].median) if s in by_size else "-" for s in self.sizes]
            exponents = [self._fit(stage, level), self._fit(stage, level, last=2)]
            shown = ["-" if math.isnan(e) else f"{e:.2f}" for e in exponents]
            flag = "[bold red]QUADRATIC?[/]" if self.flagged(stage, level) else ""
            table.add_row(label(stage, level), *cells, *shown, flag)
        console.print(table)
        for note in self.notes:
            console.print(f"note: {note}")


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def _notes(levels: Sequence[str]) -> list[str]:
    notes = []
    skipped = [level for level in LEVELS if level not in levels]
    if skipped and list(levels) == distinct_levels():
        notes.append(
            f"{', '.join(skipped)}: same pipeline as the level below, so no rows of their own"
        )
    empty = [level for level in levels if not pipeline(level)]
    if empty:
        notes.append(f"no passes at {', '.join(empty)} yet, so no pass rows")
    if NUMPY_IS_REFERENCE:
        notes.append("backend numpy is the reference interpreter for now: only numpy-ref compiles")
    return notes


def run_compile_benchmark(
    sizes: Sequence[int] = DEFAULT_SIZES,
    levels: Sequence[str] | None = None,
    repeats: int = 3,
    stages: Collection[str] | None = None,
    seed: int = 0,
    *,
    gc_enabled: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> CompileBenchResult:
    """Time the selected stages on a synthetic graph of each size (module docstring).

    ``levels`` default to those whose pipeline differs from the level below
    (``targets.distinct_levels``), ``stages`` (names, see
    ``compile_stages.stage_names``) to all. ``gc_enabled=False`` keeps the
    garbage collector off inside timed calls. ``progress(label, size)`` is
    called after each stage at each size. ``ConfigError`` for an unknown level
    or stage, fewer than 1 repeat, no sizes or one below ``MIN_NODES``.
    """
    chosen = select_stages(levels, stages)
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    if not sizes or min(sizes) < MIN_NODES:
        raise ConfigError(f"sizes must be at least {MIN_NODES} nodes, got {list(sizes)}")
    workloads = (Workload(size, seed, gc_enabled) for size in sizes)
    rows = _measure_all(workloads, chosen, repeats, progress)
    chosen_levels = tuple(distinct_levels() if levels is None else levels)
    notes = tuple(_notes(chosen_levels))
    return CompileBenchResult(
        rows, tuple(sizes), repeats, seed, chosen_levels, gc_enabled, notes, describe_environment()
    )


def _measure_all(
    workloads: Iterable[Workload],
    stages: Sequence[Stage],
    repeats: int,
    progress: Callable[[str, int], None] | None,
) -> dict[RowKey, Timing]:
    """Run each stage ``repeats`` times per workload; one workload is alive at a time."""
    rows: dict[RowKey, Timing] = {}
    for workload in workloads:
        nodes = len(workload.graph.nodes)
        for stage in stages:
            samples: dict[str, list[float]] = {}
            for _ in range(repeats):
                for row, seconds in stage.measure(workload).items():
                    samples.setdefault(row, []).append(seconds)
            for row, secs in samples.items():
                rows[(row, stage.level, workload.size)] = Timing(nodes, tuple(secs))
            if progress is not None:
                progress(label(stage.name, stage.level), workload.size)
    return rows


__all__ = [
    "DEFAULT_SIZES",
    "NOISE_FLOOR_S",
    "QUADRATIC_EXPONENT",
    "SCHEMA",
    "CompileBenchResult",
    "Timing",
    "fit_exponent",
    "label",
    "run_compile_benchmark",
]
