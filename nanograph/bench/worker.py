"""One benchmark worker process: ``python -m nanograph.bench.worker`` < job.json.

Reads one ``Job`` (JSON) on stdin and writes JSON lines on stdout, flushed
one by one so the parent can follow progress:

- ``{"type": "hello", "pid", "threads": {"env", "blas_threads"}, "hidden"}``:
  the pinning environment this process saw, the thread count its BLAS
  reports, and the modules hidden by ``NANOGRAPH_BENCH_HIDE``;
- a ``peak`` job: ``{"type": "peak", "gflops", "size", "by_size"}``;
- a ``target`` job: ``{"type": "prepared", "settings", "setup_s"}`` once the
  target is built, or ``{"type": "unavailable", "status": "not installed",
  "reason"}`` if an import fails, or ``{"type": "error", "reason"}``; then per
  batch ``{"type": "cell", "batch", "status", "reason", "max_abs_diff",
  "flops", "warmup_ns", "samples_ns"}``: status ``ok`` (timed), ``failed``
  (outputs disagree with the reference: not timed) or ``error``;
- last, ``{"type": "done", "max_rss_bytes"}``.

Each batch: seeded inputs, the reference interpreter's outputs, the
target's outputs (plus ``job.perturb``), the agreement check, and only if it
passes the timing. Threads: the worker must start with the pinning
environment (BLAS reads it at import, and ``nanograph`` imports NumPy before
this module runs); if it did not, it runs the job again in a child that
does. Anything a library prints goes to stderr, keeping stdout for the protocol.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from nanograph.bench.jobs import Job, hidden_modules, is_pinned, pinned_environment

if TYPE_CHECKING:
    from nanograph.bench.models import BenchModel
    from nanograph.bench.prepare import Prepared


def main() -> int:
    """Run the job on stdin (see the module docstring); the exit status."""
    text = sys.stdin.read()
    job = Job.from_json(text)
    if not is_pinned(job.threads):
        child = [sys.executable, "-m", "nanograph.bench.worker"]
        env = pinned_environment(job.threads)
        return subprocess.run(child, input=text, text=True, env=env, check=False).returncode
    for name in hidden_modules():
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries land on stderr
    run_job(job, out)
    return 0


def run_job(job: Job, out: IO[str]) -> None:
    """Write ``job``'s messages to ``out``: hello, the work, done."""
    from nanograph.bench.environment import thread_report

    _send(out, type="hello", pid=os.getpid(), threads=thread_report(), hidden=hidden_modules())
    if job.kind == "peak":
        from nanograph.bench.peak import measure_gemm_peak

        peak = measure_gemm_peak(job.timing.budget_s)
        _send(out, type="peak", gflops=peak.gflops, size=peak.size, by_size=peak.by_size)
    else:
        _run_target(job, out)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    _send(out, type="done", max_rss_bytes=rss)


def _run_target(job: Job, out: IO[str]) -> None:
    from nanograph.bench.models import load_bench_model
    from nanograph.bench.prepare import prepare_target
    from nanograph.bench.targets import NOT_INSTALLED, known_targets

    start = time.perf_counter()
    try:
        target = {t.name: t for t in known_targets(job.level)}[job.target]
        model = load_bench_model(job.model, job.dims)
        prepared = prepare_target(target.family, target.level, model, job.threads)
    except ImportError as err:
        _send(out, type="unavailable", status=NOT_INSTALLED, reason=_missing(err))
        return
    except Exception as err:
        _send(out, type="error", reason=_describe(err))
        return
    _send(out, type="prepared", settings=prepared.settings, setup_s=time.perf_counter() - start)
    for batch in job.batches:
        _send(out, type="cell", batch=batch, **_run_cell(job, model, prepared, batch))


def _run_cell(job: Job, model: BenchModel, prepared: Prepared, batch: int) -> dict[str, Any]:
    """One batch size: check agreement, then time; the cell message's fields."""
    from nanograph.backends.reference import run_reference
    from nanograph.bench.agreement import check_agreement
    from nanograph.bench.timing import measure

    cell: dict[str, Any] = {"status": "error", "reason": "", "max_abs_diff": None}
    cell.update(flops=None, warmup_ns=[], samples_ns=[])
    try:
        cell["flops"] = model.flops(batch)
        feeds = model.feeds(batch, job.seed)
        reference = list(run_reference(model.graph, feeds).values())
        call = prepared.bind(feeds)
        outputs = [o + job.perturb if job.perturb else o for o in call()]
        agreement = check_agreement(outputs, reference, job.rtol, job.atol)
        cell["max_abs_diff"] = agreement.max_abs_diff
        if not agreement.ok:
            return {**cell, "status": "failed", "reason": agreement.reason}
        measured = measure(call, job.timing)
    except Exception as err:
        return {**cell, "reason": _describe(err)}
    return {
        **cell,
        "status": "ok",
        "warmup_ns": measured.warmup_ns,
        "samples_ns": measured.samples_ns,
    }


def _missing(err: ImportError) -> str:
    name = (err.name or str(err)).split(".")[0]
    return f"{name} is not installed (pip install 'nanograph[bench]')"


def _describe(err: BaseException) -> str:
    message = getattr(err, "message", None) or str(err)
    return f"{type(err).__name__}: {message}".splitlines()[0][:500]


def _send(out: IO[str], **message: Any) -> None:
    out.write(json.dumps(message, default=_json_default) + "\n")
    out.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
