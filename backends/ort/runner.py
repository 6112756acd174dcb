"""``OrtRunner``: run an ONNX model (in memory or a file) in onnxruntime, checking inputs first.

Contracts:

- The model is an ``onnx.ModelProto``, its serialized bytes, or a path to an
  ``.onnx`` file (external-data files next to it are found). Its session comes
  from the process-wide cache (see ``sessions``).
- Inputs are checked by ``feeds.bind_inputs`` before onnxruntime sees them,
  so every backend gives the same ``InputError`` for the same mistake. With a
  nanograph ``graph`` (the graph the model was exported from) the check is
  against the graph, and the graph's inputs and outputs map to the model's by
  position. Without one, it is against the model's own inputs: names, element
  types, and shapes where ``dim_param`` names become symbols that must agree
  across inputs and unnamed dims take any size.
- With a nanograph ``graph``, each new binding of its symbols is also checked
  as the NumPy backends check it (``specialize``: sizes must be positive and
  within what the traced graph assumes, e.g. a sequence no longer than a
  position table), so ``InputError`` comes before onnxruntime runs, never an
  onnxruntime assertion. Bindings that passed are remembered (the last 8).
- Outputs are a dict keyed by output name (the graph's, else the model's).
- ``provider_report`` says which provider ran each node; it is known after the
  first successful run (the only one profiled) or an explicit ``profile``.
- Memory: before onnxruntime runs, the call's estimate (``memory_estimate.live_bytes``
  of the nanograph ``graph`` with the feeds' symbol values: the node outputs
  alive between steps, since onnxruntime may run a node in place; cached per
  binding) is checked against the memory limit in force (``memory_limit=``
  here, else the process-wide one: see ``backends/memory_limit.py``); above
  it, ``ResourceLimitError``. Without a nanograph graph there are no nodes to
  estimate, and nothing is refused.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from nanograph.backends.input_binder import InputBinder
from nanograph.backends.memory_estimate import MemoryEstimate, live_bytes
from nanograph.backends.memory_limit import check_memory, setting_from
from nanograph.backends.ort.profiling import ProviderReport
from nanograph.backends.ort.sessions import (
    OrtSession,
    SessionSettings,
    cached_session,
    profiled_session,
)
from nanograph.ir.dims import Dim, parse_dim
from nanograph.ir.errors import InternalError, ModelLoadError, NanographError
from nanograph.ir.graph import Graph
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.ir.types import DType, TensorType

ModelSource = onnx.ModelProto | bytes | str | os.PathLike[str]

_ONNX_TYPES = {
    "tensor(float)": DType.f32,
    "tensor(float16)": DType.f16,
    "tensor(int64)": DType.i64,
    "tensor(int32)": DType.i32,
    "tensor(bool)": DType.bool,
}


class OrtRunner:
    """An ONNX model ready to run in onnxruntime with one provider choice and settings.

    ``OrtRunner(model, graph=None, providers="auto", threads=None,
    optimization="all", spinning=False, memory_limit=None)``; the settings are
    those of ``SessionSettings``; ``memory_limit`` (bytes, a size string,
    ``"none"``; ``None`` defers to the process-wide limit) caps each run.
    Raises ``ConfigError`` for bad settings, ``ProviderUnavailableError`` for
    ``providers="cuda"`` where CUDA cannot be used, ``ModelLoadError`` for a
    missing file or inputs of a type nanograph does not feed,
    ``OnnxRuntimeError`` where onnxruntime refuses the model.
    """

    def __init__(
        self,
        model: ModelSource,
        *,
        graph: Graph | None = None,
        providers: str = "auto",
        threads: int | None = None,
        optimization: str = "all",
        spinning: bool = False,
        memory_limit: int | str | None = None,
    ) -> None:
        self.memory_limit = setting_from(memory_limit, "memory_limit=")
        self._estimates: dict[tuple[tuple[str, int], ...], MemoryEstimate] = {}
        self.settings = SessionSettings(providers, threads, optimization, spinning)
        self._source, key, name = _load(model)
        self._entry: OrtSession = cached_session(self._source, key, self.settings, name)
        self._extra_report: ProviderReport | None = None
        session = self._entry.session
        self._model_inputs = [i.name for i in session.get_inputs()]
        model_outputs = [o.name for o in session.get_outputs()]
        self.graph = graph if graph is not None else inputs_graph(session.get_inputs(), name)
        # only a nanograph graph carries the assumptions specialize checks
        self._symbols = graph_symbols(graph) if graph is not None else []
        self._bindings_ok: dict[tuple[int | None, ...], None] = {}
        self._binder = InputBinder(self.graph)
        self.output_names = [v.name for v in graph.outputs] if graph is not None else model_outputs
        _check_same_arity(self.graph, self._model_inputs, self.output_names, model_outputs)

    @property
    def session(self) -> Any:
        """The ``onnxruntime.InferenceSession`` (shared with other runners of the same model)."""
        return self._entry.session

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers the session really uses, best first."""
        return self._entry.providers

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def provider_report(self) -> ProviderReport | None:
        """Which provider ran each node; ``None`` until a run succeeds or ``profile`` is called."""
        return self._extra_report or self._entry.report

    def run(self, feeds: Mapping[str, Any], *, stacklevel: int = 2) -> dict[str, np.ndarray]:
        """Outputs by name for ``feeds`` (arrays by input name); ``InputError`` on bad feeds.

        ``stacklevel`` places an ``InputConversionWarning`` as for ``warnings.warn``.
        """
        arrays, dims = self._binder.bind(feeds, stacklevel=stacklevel + 1)
        self._check_memory(dims)
        self._check_binding(dims)
        return self._run_on(self._entry, arrays)

    def profile(self, feeds: Mapping[str, Any], *, stacklevel: int = 2) -> ProviderReport:
        """Run once on ``feeds`` in a fresh profiled session; return (and keep) its report.

        For placement that may depend on the inputs (shapes); the cached
        session and its first-run report are left as they are.
        """
        arrays, dims = self._binder.bind(feeds, stacklevel=stacklevel + 1)
        self._check_memory(dims)
        self._check_binding(dims)
        entry = profiled_session(self._source, self.settings, self._entry.name)
        self._run_on(entry, arrays)
        assert entry.report is not None  # a successful first run always leaves one
        self._extra_report = entry.report
        return entry.report

    def _check_memory(self, dims: Mapping[str, int]) -> None:
        """``ResourceLimitError`` when this binding needs more than the memory limit."""
        key = tuple(sorted(dims.items()))
        estimate = self._estimates.get(key)
        if estimate is None:
            estimate = live_bytes(self.graph, dims, between_steps=True)
            if len(self._estimates) >= 8:
                self._estimates.pop(next(iter(self._estimates)), None)
            self._estimates[key] = estimate
        check_memory(estimate, self.memory_limit, graph=self.graph.name, dims=dims)

    def _check_binding(self, dims: Mapping[str, int]) -> None:
        """``InputError`` where ``dims`` break the graph (as ``specialize`` finds for the NumPy
        backends); a binding that passed is remembered."""
        if not self._symbols:
            return
        key = tuple(dims.get(s) for s in self._symbols)
        if key in self._bindings_ok:
            return
        specialize(self.graph, {s: dims[s] for s in self._symbols if s in dims})
        if len(self._bindings_ok) >= 8:
            self._bindings_ok.pop(next(iter(self._bindings_ok)), None)
        self._bindings_ok[key] = None

    def _run_on(self, entry: OrtSession, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        ordered = [arrays[v.name] for v in self.graph.inputs]
        results = entry.run(dict(zip(self._model_inputs, ordered, strict=True)))
        return dict(zip(self.output_names, results, strict=True))

    def __repr__(self) -> str:
        return f"<OrtRunner {self._entry.name} on {', '.join(self.providers)}>"


def _load(model: ModelSource) -> tuple[bytes | str, tuple[Any, ...], str]:
    """(what onnxruntime loads, the model's cache key, a name for messages)."""
    if isinstance(model, onnx.ModelProto):
        data = model.SerializeToString()
        return data, ("bytes", _digest(data)), model.graph.name or "(in memory)"
    if isinstance(model, bytes):
        return model, ("bytes", _digest(model)), "(in memory)"
    path = Path(model)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelLoadError(
            f"cannot read ONNX model {path}: {err.strerror or err}",
            hint="give the path of an existing .onnx file",
        ) from None
    resolved = path.resolve()
    return str(resolved), ("file", _digest(data), str(resolved.parent)), path.name


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inputs_graph(inputs: Sequence[Any], name: str) -> Graph:
    """A graph holding only inputs shaped like a model's (onnxruntime ``NodeArg``s).

    ``bind_inputs`` checks feeds against it exactly as against a nanograph
    graph. ``dim_param`` names that read as dims (``N``, ``S+1``) are symbols;
    other names and unnamed dims become fresh symbols, so any size passes them.
    Raises ``ModelLoadError`` for an input type nanograph does not feed.
    """
    graph = Graph(name)
    named = {d for i in inputs for d in (i.shape or []) if isinstance(d, str)}
    fresh = _FreshSymbols(named)
    for arg in inputs:
        dtype = _ONNX_TYPES.get(arg.type)
        if dtype is None:
            raise ModelLoadError(
                f"model {name}: input {arg.name} is {arg.type}; nanograph feeds inputs of types "
                f"{', '.join(_ONNX_TYPES)}",
                hint="run this model with onnxruntime directly, or export it with inputs of "
                "those types",
            )
        dims = [_dim(d, fresh) for d in (arg.shape or [])]
        graph.add_input(arg.name, TensorType(dtype, tuple(dims)))
    return graph


def _dim(value: Any, fresh: _FreshSymbols) -> Dim:
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            return parse_dim(value)
        except NanographError:
            pass
    return parse_dim(fresh.next())


class _FreshSymbols:
    """Symbol names ``d0``, ``d1``, ... that no ``dim_param`` of the model uses."""

    def __init__(self, taken: set[str]) -> None:
        self._taken, self._count = taken, 0

    def next(self) -> str:
        while True:
            name = f"d{self._count}"
            self._count += 1
            if name not in self._taken:
                return name


def _check_same_arity(
    graph: Graph, model_inputs: list[str], outputs: list[str], model_outputs: list[str]
) -> None:
    if len(graph.inputs) != len(model_inputs) or len(outputs) != len(model_outputs):
        raise InternalError(
            f"internal error: graph {graph.name} has {len(graph.inputs)} inputs and "
            f"{len(outputs)} outputs, its ONNX model {len(model_inputs)} and {len(model_outputs)}",
            hint="the ONNX export lost or added an input or output; please report this",
        )


__all__ = ["ModelSource", "OrtRunner", "inputs_graph"]
