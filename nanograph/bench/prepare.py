"""Worker side: turn a target into something to time, built once per model and thread count.

``prepare_target(target_family, level, model, threads)`` builds the
target's runner (compiles, exports, opens sessions, loads the twin) and
returns a ``Prepared``: ``bind(feeds)`` gives a no-argument call that runs
the target on those inputs and returns its outputs in the graph's output
order; ``settings`` records the thread settings the runner really has.
Work that a real user does once (input conversion to tensors, session
creation) happens in ``prepare``/``bind``, not in the timed call.

Every runner gets the same thread count: onnxruntime's intra-op threads
(idle workers do not spin: nanograph's default), ``torch.set_num_threads``,
and for NumPy's BLAS the environment the worker was started with. An
``ImportError`` (torch missing) propagates: the worker reports the target as
"not installed".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nanograph as ng
from nanograph.bench.models import BenchModel, zoo_twin_module
from nanograph.ir.errors import ConfigError

Call = Callable[[], Sequence[np.ndarray]]
Binder = Callable[[Mapping[str, np.ndarray]], Call]


@dataclass(frozen=True)
class Prepared:
    """A target ready to time: ``bind(feeds)`` -> call; ``settings``: its thread settings."""

    bind: Binder
    settings: dict[str, Any] = field(default_factory=dict)


def prepare_target(family: str, level: str | None, model: BenchModel, threads: int) -> Prepared:
    """Build ``family``'s runner for ``model`` (see the module docstring)."""
    builders: dict[str, Callable[[str, BenchModel, int], Prepared]] = {
        "numpy-ref": lambda _level, m, _t: _compiled(m, "O0", "numpy-ref", None),
        "numpy": lambda lvl, m, _t: _compiled(m, lvl, "numpy", None),
        "ort-cpu": lambda lvl, m, t: _compiled(m, lvl, "ort-cpu", t),
        "ort-cuda": lambda lvl, m, t: _compiled(m, lvl, "ort-cuda", t),
        "onnx-reference": _onnx_reference,
        "torch": _torch_eager,
        "torch-ort": _torch_ort,
    }
    if family not in builders:
        raise ConfigError(f"unknown target family {family!r}", hint=f"one of {', '.join(builders)}")
    return builders[family](level or "O0", model, threads)


def _outputs_of(result: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return list(result.values())


def _compiled(model: BenchModel, level: str, backend: str, threads: int | None) -> Prepared:
    exe = ng.compile(model.graph, level=level, backend=backend, threads=threads)

    def bind(feeds: Mapping[str, np.ndarray]) -> Call:
        return lambda: _outputs_of(exe(feeds))

    settings: dict[str, Any] = {"level": level, "backend": backend}
    if threads is not None:
        settings.update(ort_intra_op_threads=threads, ort_spinning=False)
    return Prepared(bind, settings)


def _onnx_reference(level: str, model: BenchModel, threads: int) -> Prepared:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(ng.export_onnx(model.graph, level=level))

    def bind(feeds: Mapping[str, np.ndarray]) -> Call:
        arrays = dict(feeds)
        return lambda: list(evaluator.run(None, arrays))

    return Prepared(bind, {"level": level})


def _twin(model: BenchModel, threads: int) -> tuple[Any, dict[str, Any]]:
    """The zoo twin with our weights; torch pinned to ``threads``."""
    import torch

    torch.set_num_threads(threads)
    zoo_module = zoo_twin_module(model.ref)
    if zoo_module is None:
        raise ConfigError(f"{model.ref} has no PyTorch twin (only zoo models have torch_model())")
    from nanograph.bench.twins import load_twin

    twin = load_twin(zoo_module, model.loaded.module.state_dict())
    settings = {"torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    return twin, settings


def _torch_eager(_level: str, model: BenchModel, threads: int) -> Prepared:
    from nanograph.bench.twins import eager_call

    twin, settings = _twin(model, threads)
    return Prepared(lambda feeds: eager_call(twin, feeds), {**settings, "mode": "inference_mode"})


def torch_onnx_export(model: BenchModel, threads: int = 1) -> tuple[bytes, dict[str, Any]]:
    """PyTorch's classic ONNX export of ``model``'s twin with our weights, and torch's settings.

    The model the ``torch-ort`` target runs (see ``twins.export_twin``),
    exported from example inputs at batch 2 (no size-1 dim to bake in) or the
    model's fixed batch; only the batch axis is dynamic. ``threads`` pins
    ``torch.set_num_threads`` (the export does not depend on it). Raises
    ``ImportError`` without torch, ``ConfigError`` without a twin.
    """
    from nanograph.bench.twins import export_twin

    twin, settings = _twin(model, threads)
    example = model.feeds(model.fixed_batch or 2, seed=0)
    return export_twin(twin, example, model.batch_inputs()), settings


def _torch_ort(_level: str, model: BenchModel, threads: int) -> Prepared:
    from nanograph.backends.ort import OrtRunner
    from nanograph.bench.twins import TORCH_OPSET

    onnx_bytes, settings = torch_onnx_export(model, threads)
    runner = OrtRunner(onnx_bytes, providers="cpu", threads=threads)

    def bind(feeds: Mapping[str, np.ndarray]) -> Call:
        return lambda: _outputs_of(runner.run(feeds))

    settings.update(opset=TORCH_OPSET, ort_intra_op_threads=threads, ort_spinning=False)
    return Prepared(bind, settings)
