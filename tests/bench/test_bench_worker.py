"""Worker processes: pinning, the agreement check before timing, a missing optional peer.

Each test here starts one or two worker processes (about a second each), so
they are few and use tiny budgets.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

from nanograph.bench.jobs import PINNING_VARIABLES, Job, Timing
from nanograph.bench.report import render
from nanograph.bench.runner import BenchConfig, run_benchmark, worker_environment

TINY = Timing(budget_s=0.02, min_reps=2)


def _run_worker(job: Job, env: dict[str, str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "nanograph.bench.worker"],
        input=job.to_json(),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_unpinned_worker_pins_itself_and_a_wrong_target_fails_untimed() -> None:
    """Started without the pinning environment, the worker restarts pinned (it reports what it
    saw); a target whose outputs are off by 0.5 is FAILED with that max abs diff, not timed."""
    env = {k: v for k, v in worker_environment(1).items() if k not in PINNING_VARIABLES}
    job = Job("target", 2, TINY, "lenet", "numpy-ref", batches=(1, 2), perturb=0.5)
    messages = _run_worker(job, env)
    hello = messages[0]
    assert hello["type"] == "hello"
    assert hello["threads"]["env"] == dict.fromkeys(PINNING_VARIABLES, "2")
    assert hello["threads"]["blas_threads"] in (2, None)  # None: a BLAS we cannot ask
    cells = [m for m in messages if m["type"] == "cell"]
    assert [c["batch"] for c in cells] == [1, 2]
    for cell in cells:
        assert cell["status"] == "failed"
        assert cell["max_abs_diff"] == pytest.approx(0.5, rel=1e-3)
        assert "differ by more than rtol 0.001 / atol 0.0001" in cell["reason"]
        assert cell["samples_ns"] == [] and cell["warmup_ns"] == []
    assert messages[-1]["type"] == "done" and messages[-1]["max_rss_bytes"] > 0


def test_the_same_target_unperturbed_agrees_and_is_timed() -> None:
    job = Job("target", 1, TINY, "lenet", "numpy-ref", batches=(1,))
    (cell,) = [m for m in _run_worker(job, worker_environment(1)) if m["type"] == "cell"]
    assert cell["status"] == "ok" and cell["max_abs_diff"] == 0.0
    assert len(cell["samples_ns"]) >= 2 and len(cell["warmup_ns"]) >= 2


def test_missing_torch_is_reported_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With torch hidden from the workers, both torch peers are "not installed" (one worker
    finds out; the other peer starts none), in the results and in the table."""
    monkeypatch.setenv("NANOGRAPH_BENCH_HIDE", "torch")
    config = BenchConfig(("lenet",), ("torch", "torch-ort"), (1, 2), (1,), timing=TINY)
    result = run_benchmark(config)
    assert {(c.target, c.batch, c.status) for c in result.cells} == {
        (t, b, "not installed") for t in ("torch", "torch-ort") for b in (1, 2)
    }
    assert all("torch is not installed (pip install 'nanograph[bench]')" in c.reason
               for c in result.cells)  # fmt: skip
    assert result.environment["hidden_modules"] == "torch"
    out = io.StringIO()
    render(result, Console(file=out, width=150))
    text = out.getvalue()
    assert text.count("not installed") >= 2 and "torch-ort" in text


def test_worker_environment_pins_every_library_and_finds_nanograph() -> None:
    env = worker_environment(3)
    assert all(env[name] == "3" for name in PINNING_VARIABLES)
    import nanograph

    root = os.path.dirname(os.path.dirname(os.path.abspath(nanograph.__file__)))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root
