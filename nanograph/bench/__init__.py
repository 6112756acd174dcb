"""``nanograph bench``: inference benchmarks of our backends and peers, measured honestly.

- ``targets``: what can be benchmarked (our backends at the levels that
  exist, onnxruntime, onnx's reference evaluator, PyTorch eager and
  onnxruntime on PyTorch's export) and why a target cannot run here;
- ``runner``: one worker process per (model, target, threads), one at a
  time; ``worker``/``jobs``: the worker and its JSON protocol; ``prepare``,
  ``models``, ``twins``: what a worker builds; ``agreement``: outputs are
  checked against the reference before timing; ``timing``: warm-up,
  repetitions to a budget, robust statistics; ``peak``: the GEMM peak;
  ``environment``: machine, versions, threads;
- ``results`` (what was measured and derived), ``report`` (table, progress,
  JSON), ``schema`` (the JSON schema), ``plot`` (PNG, optional matplotlib),
  ``command`` (the CLI subcommand); ``compile_time``: ``--compile``.
"""

from __future__ import annotations

from nanograph.bench.jobs import Timing
from nanograph.bench.results import BenchResult, Cell
from nanograph.bench.runner import BenchConfig, run_benchmark

__all__ = ["BenchConfig", "BenchResult", "Cell", "Timing", "run_benchmark"]
