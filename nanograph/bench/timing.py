"""Timing one callable: warm-up, repetitions until a time budget, and robust statistics.

``measure(call, timing)`` runs ``call()``:

1. warm-up: at least ``timing.warmup_calls`` calls, continuing until
   ``timing.warmup_fraction`` of the budget has passed (first calls build
   caches, sessions and BLAS buffers; they are kept, but not in the samples);
2. timed repetitions: each call timed alone with ``time.perf_counter_ns``,
   until ``timing.budget_s`` of wall time has passed and at least
   ``timing.min_reps`` calls have run.

The garbage collector is off during both phases (as ``timeit`` does), so a
collection triggered by an earlier allocation is not charged to one sample.
``summarize`` gives the median, min, max and 10th/90th percentiles.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nanograph.bench.jobs import Timing


@dataclass(frozen=True)
class Measurement:
    """Raw durations in ns: ``warmup_ns`` (not in statistics) and ``samples_ns`` (at least one)."""

    warmup_ns: list[int]
    samples_ns: list[int]


@dataclass(frozen=True)
class Stats:
    """Summary of samples in nanoseconds; ``reps`` is how many samples it summarizes."""

    reps: int
    median_ns: float
    min_ns: int
    max_ns: int
    p10_ns: float
    p90_ns: float


def measure(call: Callable[[], object], timing: Timing) -> Measurement:
    """Warm ``call`` up, then time it until the budget (see the module docstring)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        warmup = _run_until(call, timing.warmup_calls, timing.budget_s * timing.warmup_fraction)
        samples = _run_until(call, max(1, timing.min_reps), timing.budget_s)
    finally:
        if enabled:
            gc.enable()
    return Measurement(warmup, samples)


def _run_until(call: Callable[[], object], min_calls: int, seconds: float) -> list[int]:
    """Time calls one by one until ``min_calls`` ran and ``seconds`` of wall time passed."""
    durations: list[int] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(seconds * 1e9)
    while len(durations) < min_calls or clock() < deadline:
        start = clock()
        call()
        durations.append(clock() - start)
    return durations


def summarize(samples_ns: Sequence[int]) -> Stats:
    """Median, min, max and 10th/90th percentiles (linear interpolation) of ``samples_ns``."""
    if not samples_ns:
        raise ValueError("summarize needs at least one sample")
    ordered = sorted(samples_ns)
    return Stats(
        reps=len(ordered),
        median_ns=float(statistics.median(ordered)),
        min_ns=ordered[0],
        max_ns=ordered[-1],
        p10_ns=_percentile(ordered, 0.10),
        p90_ns=_percentile(ordered, 0.90),
    )


def _percentile(ordered: Sequence[int], q: float) -> float:
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
