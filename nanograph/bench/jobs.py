"""What a benchmark worker is asked to do, and the environment it is started in.

A ``Job`` is one worker process's work: either ``kind="target"`` (one model,
one target, one thread count, every batch size in ``batches``) or
``kind="peak"`` (the float32 GEMM peak at ``threads``). It travels to
``python -m nanograph.bench.worker`` as one JSON object on stdin.

Threads are pinned through the environment because BLAS and OpenMP read it
once, when the library loads: ``pinned_environment(threads)`` is the
parent's environment plus every variable of ``PINNING_VARIABLES`` set to
``threads``, and the worker must be started with it (the worker checks, and
restarts itself with it if not). onnxruntime's intra-op threads and
``torch.set_num_threads`` are set by the worker itself.

``HIDE_VARIABLE`` (``NANOGRAPH_BENCH_HIDE=torch,onnxscript``) makes the worker
treat those modules as not installed: the tests use it to check that a
missing optional peer is reported, and a user can use it to leave torch out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PINNING_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
HIDE_VARIABLE = "NANOGRAPH_BENCH_HIDE"
RTOL, ATOL = 1e-3, 1e-4


@dataclass(frozen=True)
class Timing:
    """How long to measure one cell: see ``nanograph.bench.timing.measure``.

    ``budget_s`` bounds the timed repetitions (at least ``min_reps`` run);
    warm-up runs at least ``warmup_calls`` calls and ``warmup_fraction`` of the budget.
    """

    budget_s: float = 1.0
    min_reps: int = 5
    warmup_calls: int = 2
    warmup_fraction: float = 0.1


@dataclass(frozen=True)
class Job:
    """One worker's work (see the module docstring); JSON via ``to_json``/``from_json``.

    ``model`` is a CLI MODEL (zoo name, ``.py`` or ``.onnx`` path); ``dims``
    binds the model's non-batch symbols; ``seed`` seeds the inputs. ``level``
    is the pipeline level of targets that take one. ``perturb`` is added to
    the target's outputs before the agreement check (0 in real runs; the
    tests use it to prove that a disagreeing target is caught).
    """

    kind: str
    threads: int
    timing: Timing = field(default_factory=Timing)
    model: str = ""
    target: str = ""
    level: str = "O2"
    batches: tuple[int, ...] = ()
    dims: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0
    rtol: float = RTOL
    atol: float = ATOL
    perturb: float = 0.0

    def to_json(self) -> str:
        data = asdict(self)
        data["dims"] = dict(self.dims)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        data["timing"] = Timing(**data.get("timing", {}))
        data["batches"] = tuple(data.get("batches", ()))
        return cls(**data)


def pinned_environment(threads: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with every pinning variable set to ``threads``."""
    env = dict(os.environ if base is None else base)
    env.update({name: str(threads) for name in PINNING_VARIABLES})
    return env


def is_pinned(threads: int, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``env`` (default ``os.environ``) pins every library to ``threads``."""
    env = os.environ if env is None else env
    return all(env.get(name) == str(threads) for name in PINNING_VARIABLES)


def hidden_modules(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The module names ``NANOGRAPH_BENCH_HIDE`` lists (comma-separated)."""
    text = (os.environ if env is None else env).get(HIDE_VARIABLE, "")
    return tuple(name.strip() for name in text.split(",") if name.strip())
