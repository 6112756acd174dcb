"""Orchestration: plan the workers of a run, start them one at a time, collect a ``BenchResult``.

``run_benchmark(config, progress)``:

1. resolves the targets (``targets.select_targets``) and the baseline
   (``--baseline``, else ``ort-cpu`` if selected, else ``numpy-ref``), loads
   every model in this process (to check ``--dims``/``--batch`` before any
   worker starts) and records targets that cannot run for a model;
2. measures the GEMM peak at each thread count, one worker each;
3. runs one worker per (model, target, threads), which checks agreement and
   times every batch size; workers run one after another, never two at once,
   so they do not compete for cores. A target whose import fails in its
   first worker is "not installed" for the rest of the run without more workers.

Each worker is ``python -m nanograph.bench.worker`` with the pinning
environment (``jobs.pinned_environment``), this process's ``nanograph`` on
its ``PYTHONPATH``, and stderr kept in a temporary file whose tail explains a crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from nanograph.bench.environment import OtherLoad, describe_environment
from nanograph.bench.jobs import ATOL, PINNING_VARIABLES, RTOL, Job, Timing, pinned_environment
from nanograph.bench.models import BenchModel, load_bench_model, zoo_twin_module
from nanograph.bench.results import ERROR, BenchResult, Cell, Peak
from nanograph.bench.targets import (
    NOT_INSTALLED,
    Target,
    cuda_available,
    select_targets,
    unavailable_reason,
)
from nanograph.ir.errors import ConfigError


@dataclass(frozen=True)
class BenchConfig:
    """A run's settings (the CLI's options); ``targets`` ``None`` means every known target."""

    models: tuple[str, ...]
    targets: tuple[str, ...] | None = None
    batches: tuple[int, ...] = (1,)
    threads: tuple[int, ...] = (1,)
    level: str = "O2"
    timing: Timing = field(default_factory=Timing)
    baseline: str | None = None
    seed: int = 0
    dims: Mapping[str, int] = field(default_factory=dict)
    rtol: float = RTOL
    atol: float = ATOL


class Progress(Protocol):
    """What the runner tells a progress display: the total steps, then each step's label."""

    def begin(self, total: int) -> None: ...

    def step(self, label: str, advance: int = 1) -> None: ...


class _Silent:
    def begin(self, total: int) -> None:
        pass

    def step(self, label: str, advance: int = 1) -> None:
        pass


def run_benchmark(config: BenchConfig, progress: Progress | None = None) -> BenchResult:
    """Run the benchmark described by ``config`` (see the module docstring)."""
    progress = progress or _Silent()
    targets = select_targets(config.targets, config.level)
    baseline = resolve_baseline(config.baseline, targets)
    models = _load_models(config)
    result = BenchResult(_config_json(config), describe_environment(), baseline)
    result.environment["load_average_before"] = _load_average()
    result.targets = [asdict(t) for t in targets]
    result.models = [_model_json(m, config) for m in models]
    result.method = method_notes(config)
    runnable = _plan(config, models, targets, result)
    cells = len(runnable) * len(config.threads) * len(config.batches)
    progress.begin(len(config.threads) + cells)
    for threads in config.threads:
        progress.step(f"GEMM peak, {threads} thread(s)", advance=0)
        result.peaks[threads] = _measure_peak(threads, config.timing)
        progress.step(f"GEMM peak, {threads} thread(s)")
    missing: dict[str, str] = {}  # target -> why it is not installed
    for model, target, threads in _jobs(config, runnable):
        label = f"{model.ref} · {target.name} · {threads} thread(s)"
        job = _job(config, model, target, threads)
        result.cells.extend(_run_target_job(job, model.name, missing, progress, label))
    result.environment["load_average_after"] = _load_average()
    return result


def resolve_baseline(asked: str | None, targets: Sequence[Target]) -> str:
    """``asked`` if selected (else ``ConfigError``); default: ``ort-cpu``, else ``numpy-ref``."""
    names = [t.name for t in targets]
    if asked is not None:
        if asked not in names:
            raise ConfigError(
                f"--baseline {asked} is not among the targets of this run",
                hint=f"choose one of {', '.join(names)}, or add it to --targets",
            )
        return asked
    return "ort-cpu" if "ort-cpu" in names else "numpy-ref" if "numpy-ref" in names else names[0]


def method_notes(config: BenchConfig) -> dict[str, str]:
    """The method in words, for the table's footer, the JSON and BENCHMARKS.md."""
    t = config.timing
    return {
        "isolation": "each (model, target, threads) runs in its own worker process, one at a "
        "time: onnxruntime's spinning threads slow NumPy work in the same process by 2x or "
        "more at 2 threads, and BLAS thread pools can only be pinned before import",
        "threads": f"pinned by {', '.join(PINNING_VARIABLES)}, onnxruntime intra_op_num_threads "
        "(spinning off) and torch.set_num_threads",
        "agreement": f"before timing, every target's outputs on the same seeded inputs must "
        f"match numpy-ref within rtol {config.rtol:g}, atol {config.atol:g} (peers run float32 "
        "with other accumulation orders); a target that does not is FAILED and not timed",
        "timing": f"warm-up: at least {t.warmup_calls} calls and {t.warmup_fraction:.0%} of the "
        f"budget; then calls timed with perf_counter_ns until {t.budget_s:g} s per cell and at "
        f"least {t.min_reps} calls; gc off while timing; median, min, max, p10, p90",
        "peak": "float32 GEMM (NumPy's BLAS, n = 256, 512, 1024, fastest call in twice a "
        "cell's budget) in a worker pinned to the same thread count",
    }


def _load_models(config: BenchConfig) -> list[BenchModel]:
    if not config.models:
        raise ConfigError("no MODEL to benchmark", hint="name a zoo model, a .py or an .onnx file")
    models = [load_bench_model(ref, config.dims) for ref in config.models]
    used = {s for m in models for s in m.loaded.spec.symbols()}
    unknown = sorted(set(config.dims) - used)
    if unknown:
        raise ConfigError(
            f"--dims names {', '.join(unknown)}, which no model uses",
            hint=f"the models' symbols: {', '.join(sorted(used)) or 'none'}",
        )
    for model in models:
        model.check_batches(config.batches)
    return models


def _plan(
    config: BenchConfig, models: list[BenchModel], targets: list[Target], result: BenchResult
) -> list[tuple[BenchModel, Target]]:
    """Runnable (model, target) pairs; cells of the others go into ``result`` with their status."""
    cuda = cuda_available() if any(t.family == "ort-cuda" for t in targets) else False
    runnable = []
    for model in models:
        twin = zoo_twin_module(model.ref) is not None
        for target in targets:
            why = unavailable_reason(target, twin, cuda)
            if why is None:
                runnable.append((model, target))
                continue
            for threads in config.threads:
                for batch in config.batches:
                    cell = Cell(model.name, target.name, batch, threads, why[0], why[1])
                    result.cells.append(cell)
    return runnable


def _jobs(
    config: BenchConfig, runnable: list[tuple[BenchModel, Target]]
) -> Iterator[tuple[BenchModel, Target, int]]:
    """Worker order: by model, then thread count, then target (display order)."""
    models: list[BenchModel] = []
    for m, _ in runnable:
        if not any(m is seen for seen in models):
            models.append(m)
    for model in models:
        for threads in config.threads:
            for m, target in runnable:
                if m is model:
                    yield model, target, threads


def _job(config: BenchConfig, model: BenchModel, target: Target, threads: int) -> Job:
    return Job(
        kind="target",
        threads=threads,
        timing=config.timing,
        model=model.ref,
        target=target.name,
        level=config.level,
        batches=config.batches,
        dims=dict(config.dims),
        seed=config.seed,
        rtol=config.rtol,
        atol=config.atol,
    )


def _run_target_job(
    job: Job, model: str, missing: dict[str, str], progress: Progress, label: str
) -> Iterator[Cell]:
    """Cells of one worker, streamed; a target known to be missing starts no worker."""

    def cell(batch: int, status: str, reason: str, **fields: Any) -> Cell:
        return Cell(model, job.target, batch, job.threads, status, reason, **fields)

    if job.target in missing:
        progress.step(label, advance=len(job.batches))
        yield from (cell(b, NOT_INSTALLED, missing[job.target]) for b in job.batches)
        return
    progress.step(label, advance=0)
    worker: dict[str, Any] = {}
    left = list(job.batches)
    for message in stream_worker(job):
        kind = message.pop("type")
        if kind in ("hello", "prepared", "done", "load"):
            worker.update(message)  # shared by this worker's cells, those yielded already too
        elif kind == "cell":
            batch = message.pop("batch")
            left.remove(batch)
            progress.step(f"{label} · batch {batch}")
            yield cell(
                batch, message.pop("status"), message.pop("reason"), **message, worker=worker
            )
        else:  # unavailable, error, crash: every batch not reported yet
            status = message.get("status", ERROR)
            if status == NOT_INSTALLED:
                missing[job.target] = message["reason"]
            progress.step(label, advance=len(left))
            yield from (cell(b, status, message["reason"], worker=worker) for b in left)
            left = []


def _measure_peak(threads: int, timing: Timing) -> Peak:
    """The GEMM peak at ``threads``, given twice a cell's budget (best-of needs calls)."""
    job = Job(kind="peak", threads=threads, timing=replace(timing, budget_s=2 * timing.budget_s))
    peak = Peak(threads, None, reason="the worker sent no result")
    worker: dict[str, Any] = {}
    for message in stream_worker(job):
        kind = message.pop("type")
        if kind == "peak":
            by_size = {str(k): v for k, v in message["by_size"].items()}
            peak = Peak(threads, message["gflops"], message["size"], by_size)
        elif kind in ("hello", "done", "load"):
            worker.update(message)
        else:
            peak.reason = message.get("reason", kind)
    peak.worker = worker
    return peak


def stream_worker(job: Job) -> Iterator[dict[str, Any]]:
    """Start a worker on ``job`` and yield its messages, then ``{"type": "load", "other_cores"}``
    (cores other processes kept busy meanwhile: ``environment.OtherLoad``), then a
    ``crash`` message if it exited badly or without ``done``."""
    command = [sys.executable, "-m", "nanograph.bench.worker"]
    with tempfile.TemporaryFile("w+") as errors, OtherLoad() as load:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
            env=worker_environment(job.threads), text=True,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(job.to_json())
        process.stdin.close()
        done = False
        for line in process.stdout:
            message = json.loads(line)
            done = done or message.get("type") == "done"
            yield message
        code = process.wait()
        errors.seek(0)
        tail = " | ".join(errors.read().strip().splitlines()[-3:])
    yield {"type": "load", "other_cores": load.cores}
    if code != 0 or not done:
        yield {"type": "crash", "reason": f"worker exited with status {code}: {tail}"}


def worker_environment(threads: int) -> dict[str, str]:
    """The pinning environment, with this process's ``nanograph`` first on ``PYTHONPATH``."""
    import nanograph

    env = pinned_environment(threads)
    root = str(Path(nanograph.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _config_json(config: BenchConfig) -> dict[str, Any]:
    """``config`` as JSON-ready data (tuples as lists, so it equals its JSON round trip)."""
    data = asdict(config)
    data.update(models=list(config.models), batches=list(config.batches))
    data.update(threads=list(config.threads), dims=dict(config.dims))
    data["targets"] = None if config.targets is None else list(config.targets)
    return data


def _model_json(model: BenchModel, config: BenchConfig) -> dict[str, Any]:
    return {
        "name": model.name,
        "ref": model.ref,
        "dims": model.dims,
        "batch_symbol": model.batch_symbol,
        "flops": {str(b): model.flops(b) for b in config.batches},
        "nodes": len(model.graph.nodes),
    }


def _load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None
