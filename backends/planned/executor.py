"""The planned NumPy executor (backend ``numpy``): per input shape, one arena and a flat
list of steps, so steady-state calls allocate nothing for intermediates.

``PlannedExecutor(graph)`` has the reference interpreter's contract
(``backends/reference.py``): ``run(feeds, *, stacklevel)`` checks the feeds
with an ``InputBinder`` (same errors, same warnings) and ``run_bound`` takes
feeds already checked; outputs by name, owned by the caller. What differs is
how it runs:

- per concrete binding of the symbolic dims (the last ``cache_size`` are
  kept, most recent last) it builds a ``Program``: ``specialize(graph,
  dims)``, ``plan_memory`` with each kernel's workspace and in-place safety,
  one 64-byte aligned arena, a fixed view for every planned tensor and one
  zero-argument step per non-view node (``program.py``);
- a node runs its ``Kernel`` from ``kernels`` (default: ``EXECUTOR_KERNELS``
  of ``backends/planned/kernels``, where that package exists) writing into
  its output views, else the reference-style function ``fallbacks`` has for
  its op (default: ``NUMPY_KERNELS``, e.g. the blocked attention kernel),
  else its op's reference, whose results are copied into the output views;
  only these fallback steps allocate per call;
- values are not type-checked after each node as in the interpreter: kernel
  outputs are the typed views themselves, and fallback results are checked
  against their views' dtype and shape (``InternalError`` otherwise);
- a step's failure is re-raised naming the op, its ``loc`` and its input
  types; nanograph errors keep their class, anything else becomes
  ``ExecutionError`` with the original as ``__cause__``.

Memory: a binding's program is checked against the memory limit in force
(``memory_limit=`` here, else the process-wide one: see
``backends/memory_limit.py``) before its arena is allocated: above it,
``ResourceLimitError``. Once allocated, an arena is reused without a check
(refusing it then would save nothing; a lowered limit applies to the next
binding). The estimate is the arena's size (``memory_estimate.arena_bytes``).
NaN and Inf propagate silently (``Program.execute``).

Thread safety: one lock per executor, held for the whole of ``run_bound``
(the arena is shared by all calls of a binding), so concurrent calls from
several threads run one after another and give what sequential calls give.
Feed checking (``InputBinder``, itself thread-safe) happens before the lock.

Building it checks that every op is known and every constant has data, as
the interpreter does; a graph without symbols is planned right away. The
graph must not be mutated afterwards.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from nanograph.backends.input_binder import InputBinder
from nanograph.backends.kernels import NUMPY_KERNELS, KernelFn
from nanograph.backends.memory_estimate import MemoryEstimate, live_bytes
from nanograph.backends.memory_limit import check_memory, setting_from
from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.program import Program, contiguous_constants
from nanograph.backends.reference import _constant_arrays
from nanograph.ir.graph import Graph
from nanograph.ir.ops import get_op
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.passes.memory.placement import MemoryPlan


class PlannedExecutor:
    """Runs one graph on concrete inputs through planned arenas (see the module docstring)."""

    cache_size = 8

    def __init__(
        self,
        graph: Graph,
        kernels: Mapping[str, Kernel] | None = None,
        fallbacks: Mapping[str, KernelFn] | None = None,
        *,
        memory_limit: int | str | None = None,
    ) -> None:
        self.graph = graph
        self.memory_limit = setting_from(memory_limit, "memory_limit=")
        self.kernels: dict[str, Kernel] = dict(executor_kernels() if kernels is None else kernels)
        self.fallbacks: dict[str, KernelFn] = dict(
            NUMPY_KERNELS if fallbacks is None else fallbacks
        )
        for node in graph.nodes:
            get_op(node.op)  # UnknownOpError now rather than at the first run
        _constant_arrays(graph)  # ExecutionError naming constants without data
        self._binder = InputBinder(graph)
        self._symbols = graph_symbols(graph)
        self._programs: dict[tuple[int | None, ...], Program] = {}
        self._lock = threading.Lock()
        if not self._symbols:
            self._programs[()] = self._build(graph, {})

    def run(self, feeds: Mapping[str, Any], *, stacklevel: int = 2) -> dict[str, np.ndarray]:
        """Outputs by name for ``feeds`` (arrays by input name); ``InputError`` on bad feeds."""
        arrays, dims = self._binder.bind(feeds, stacklevel=stacklevel + 1)
        return self.run_bound(arrays, dims)

    def run_bound(
        self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        """Like ``run`` for arrays already checked by ``bind_inputs`` (``dims`` its bindings)."""
        with self._lock:
            return self._program(dims).run(arrays)

    def program(self, dims: Mapping[str, int] | None = None) -> Program:
        """The program for the binding ``dims`` (built and cached on first use)."""
        with self._lock:
            return self._program(dims or {})

    def memory_plan(self, dims: Mapping[str, int] | None = None) -> MemoryPlan:
        """The memory plan for the binding ``dims`` of every symbol (``inspect --memory``);
        ``ShapeError`` if a symbol is left unbound."""
        return self.program(dims).plan

    def _program(self, dims: Mapping[str, int]) -> Program:
        key = tuple(dims.get(s) for s in self._symbols)
        program = self._programs.pop(key, None)
        if program is None:
            bound = {s: dims[s] for s in self._symbols if s in dims}
            # A lower bound of the arena, checked before specialize folds shape computation.
            self._check(live_bytes(self.graph, bound, between_steps=True), dims)
            program = self._build(specialize(self.graph, bound), dims)
        self._programs[key] = program  # most recent last
        while len(self._programs) > self.cache_size:
            del self._programs[next(iter(self._programs))]
        return program

    def _build(self, graph: Graph, dims: Mapping[str, int]) -> Program:
        constants = contiguous_constants(list(graph.constants.values()))
        return Program(
            graph,
            self.kernels,
            self.fallbacks,
            constants,
            check=lambda estimate: self._check(estimate, dims),
        )

    def _check(self, estimate: MemoryEstimate, dims: Mapping[str, int]) -> None:
        check_memory(estimate, self.memory_limit, graph=self.graph.name, dims=dims)


def executor_kernels() -> Mapping[str, Kernel]:
    """``EXECUTOR_KERNELS`` of ``backends/planned/kernels``, or none while it does not exist."""
    try:
        module = importlib.import_module("nanograph.backends.planned.kernels")
    except ImportError as err:
        if err.name != "nanograph.backends.planned.kernels":
            raise  # the package is there but broken: show the real failure
        return {}
    kernels: Mapping[str, Kernel] = getattr(module, "EXECUTOR_KERNELS", {})
    return kernels


__all__ = ["PlannedExecutor", "executor_kernels"]
