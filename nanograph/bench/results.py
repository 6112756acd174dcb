"""What a benchmark run measured: cells of raw samples, and what is derived from them.

A ``Cell`` is one (model, target, batch, threads): its status, the
agreement check's max abs diff, the raw warm-up and timed samples (ns) and
the worker that ran it. Everything else is derived, within the same run:

- ``stats``: median, min, max, p10, p90 of the samples;
- ``items_per_s`` = batch / median;
- ``gflops`` = the model's FLOPs at that batch (from the IR) / median;
- ``peak_fraction`` = gflops / the GEMM peak measured at the same thread count;
- ``ratio_to_baseline`` = median / the baseline target's median for the same
  model, batch and threads (2.0: takes twice as long as the baseline);
  ``None`` where either was not timed.

Statuses: ``ok`` (timed), ``failed`` (disagreed with the reference: not
timed), ``error`` (raised), and for targets that cannot run, ``not
installed``, ``not available``, ``not applicable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nanograph.bench.timing import Stats, summarize

OK, FAILED, ERROR = "ok", "failed", "error"
SCHEMA_VERSION = 1


@dataclass
class Cell:
    """One (model, target, batch, threads) measurement (see the module docstring)."""

    model: str
    target: str
    batch: int
    threads: int
    status: str
    reason: str = ""
    max_abs_diff: float | None = None
    flops: int | None = None
    warmup_ns: list[int] = field(default_factory=list)
    samples_ns: list[int] = field(default_factory=list)
    worker: dict[str, Any] | None = None

    @property
    def timed(self) -> bool:
        return self.status == OK and bool(self.samples_ns)

    @cached_property
    def stats(self) -> Stats | None:
        """Summary of ``samples_ns`` (``None`` unless timed); samples never change once set."""
        return summarize(self.samples_ns) if self.timed else None

    @property
    def median_s(self) -> float | None:
        stats = self.stats
        return None if stats is None else stats.median_ns / 1e9

    @property
    def items_per_s(self) -> float | None:
        median = self.median_s
        return None if median is None else self.batch / median

    @property
    def gflops(self) -> float | None:
        stats = self.stats
        if stats is None or self.flops is None:
            return None
        return self.flops / stats.median_ns  # FLOPs per ns = GFLOP/s


@dataclass
class Peak:
    """The float32 GEMM peak at ``threads`` (``gflops`` ``None`` if its worker failed)."""

    threads: int
    gflops: float | None
    size: int | None = None
    by_size: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    worker: dict[str, Any] | None = None


@dataclass
class BenchResult:
    """A whole run: configuration, environment, peaks, models, targets and cells."""

    config: dict[str, Any]
    environment: dict[str, Any]
    baseline: str
    models: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[int, Peak] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    method: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def peak_fraction(self, cell: Cell) -> float | None:
        """``cell``'s GFLOP/s over the GEMM peak at its thread count."""
        peak = self.peaks.get(cell.threads)
        achieved = cell.gflops
        if achieved is None or peak is None or not peak.gflops:
            return None
        return achieved / peak.gflops

    def baseline_cell(self, cell: Cell) -> Cell | None:
        """The baseline's cell with ``cell``'s model, batch and threads, if there is one."""
        for other in self.cells:
            key = (other.model, other.batch, other.threads, other.target)
            if key == (cell.model, cell.batch, cell.threads, self.baseline):
                return other
        return None

    def ratio_to_baseline(self, cell: Cell) -> float | None:
        """``cell``'s median over the baseline's median (same model, batch, threads)."""
        base = self.baseline_cell(cell)
        mine, theirs = cell.median_s, base.median_s if base else None
        return None if mine is None or not theirs else mine / theirs

    def to_json(self) -> dict[str, Any]:
        """The JSON document (schema: ``benchmarks/README.md``, checked by ``schema.py``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "nanograph bench",
            "config": self.config,
            "method": self.method,
            "environment": self.environment,
            "baseline": self.baseline,
            "gemm_peak": [_peak_json(p) for _, p in sorted(self.peaks.items())],
            "models": self.models,
            "targets": self.targets,
            "results": [self._cell_json(c) for c in self.cells],
            **self.extra,
        }

    def _cell_json(self, cell: Cell) -> dict[str, Any]:
        stats = cell.stats
        return {
            "model": cell.model,
            "target": cell.target,
            "batch": cell.batch,
            "threads": cell.threads,
            "status": cell.status,
            "reason": cell.reason,
            "max_abs_diff": _finite(cell.max_abs_diff),
            "flops": cell.flops,
            "warmup_ns": cell.warmup_ns,
            "samples_ns": cell.samples_ns,
            "stats": None if stats is None else vars(stats).copy(),
            "items_per_s": cell.items_per_s,
            "gflops": cell.gflops,
            "peak_fraction": self.peak_fraction(cell),
            "ratio_to_baseline": self.ratio_to_baseline(cell),
            "worker": cell.worker,
        }


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a non-finite difference (a shape mismatch) becomes ``None``."""
    return value if value is not None and math.isfinite(value) else None


def _peak_json(peak: Peak) -> dict[str, Any]:
    return {
        "threads": peak.threads,
        "gflops": peak.gflops,
        "size": peak.size,
        "by_size": peak.by_size,
        "reason": peak.reason,
        "worker": peak.worker,
    }
