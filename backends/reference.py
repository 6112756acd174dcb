"""The NumPy reference interpreter (backend ``numpy-ref``): the oracle for every backend.

It walks the nodes in order and calls each op's ``reference`` from the
registry; nothing about an op's meaning lives here. Given ``kernels`` (op name
-> a function with ``reference``'s signature and meaning, e.g.
``nanograph.backends.kernels.NUMPY_KERNELS``), it calls the kernel instead for
those ops, under the same checks and error wrapping. Contracts:

- Inputs are checked and symbols bound by ``bind_inputs`` (see ``feeds``;
  ``InputBinder`` skips the check for a signature it already accepted);
  a symbolic graph is then specialized to those bindings (cached per binding).
- Each value is dropped right after its last use (as torch.fx's interpreter
  does), so peak memory is the live set, not the whole graph; graph outputs
  are kept to the end. ``peak_live`` records the largest live set (count of
  arrays) of the last run.
- Every node's results are checked against its inferred type, with symbols
  bound; a mismatch is an ``InternalError`` (a bug in an op's inference or
  reference), naming the op and its ``loc``.
- Whatever a reference (or kernel) raises is re-raised as a nanograph error
  naming the op, the node's ``loc`` and the input shapes; nanograph errors keep
  their class, anything else (NumPy's ``ValueError``, ``IndexError``, ...)
  becomes ``ExecutionError`` with the original chained as ``__cause__``.
- Returned arrays are owned by the caller: never a view of an input, a
  constant or an intermediate.
- Memory: before running a node, a call's estimate (``memory_estimate.live_bytes``
  of its specialized graph: the most bytes of node outputs alive at once,
  computed once per binding) is checked against the memory limit in force
  (``memory_limit``: ``memory_limit=`` here, else ``set_memory_limit``, the
  ``NANOGRAPH_MEMORY_LIMIT`` variable or 3/4 of RAM); above it, the call
  raises ``ResourceLimitError`` having allocated nothing.
- Non-finite values (NaN, Inf) propagate as IEEE arithmetic says, without
  NumPy's ``RuntimeWarning``s: the nodes run under ``np.errstate(all="ignore")``,
  as onnxruntime and PyTorch compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nanograph.backends.feeds import DimBinder
from nanograph.backends.input_binder import InputBinder
from nanograph.backends.kernels import KernelFn
from nanograph.backends.memory_estimate import MemoryEstimate, live_bytes
from nanograph.backends.memory_limit import check_memory, setting_from
from nanograph.ir.errors import ExecutionError, InternalError, NanographError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import OpDef, get_op
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.ir.types import DType


class ReferenceInterpreter:
    """Runs one graph on concrete inputs with the ops' NumPy reference semantics.

    Building it checks that every op is known and every constant has data
    (``ExecutionError`` naming the constant otherwise); ``run`` may then be
    called any number of times. A graph with symbolic dims is specialized to
    each call's bindings first (attributes such as a reshape's target shape
    must be concrete to run), and the last few specializations are cached.
    The graph must not be mutated afterwards. ``kernels`` maps op names to
    functions called in place of those ops' ``reference`` (same signature and
    meaning). ``memory_limit`` (bytes, a size string such as ``"4GiB"``, or ``"none"``)
    is this interpreter's memory limit; ``None`` defers to the process-wide one.
    """

    cache_size = 8

    def __init__(
        self,
        graph: Graph,
        kernels: Mapping[str, KernelFn] | None = None,
        *,
        memory_limit: int | str | None = None,
    ) -> None:
        self.graph = graph
        self.kernels: Mapping[str, KernelFn] = dict(kernels or {})
        self.memory_limit = setting_from(memory_limit, "memory_limit=")
        self._binder = InputBinder(graph)
        self._generic = _Plan(graph, self.kernels)
        self._symbols = graph_symbols(graph)
        self._plans: dict[tuple[int | None, ...], _Plan] = {}
        self.peak_live = 0

    def plan_for(self, dims: Mapping[str, int]) -> _Plan:
        """The run plan of the graph specialized to ``dims`` (cached); ``ResourceLimitError``
        before specializing when ``dims`` need more memory than the limit."""
        if not self._symbols:
            return self._generic
        key = tuple(dims.get(s) for s in self._symbols)
        plan = self._plans.pop(key, None)
        if plan is None:
            bound = {s: dims[s] for s in self._symbols if s in dims}
            # Checked before specialize, which folds shape computation (a range of S elements).
            self._check(live_bytes(self.graph, bound), dims)
            plan = _Plan(specialize(self.graph, bound), self.kernels)
        self._plans[key] = plan  # most recent last
        while len(self._plans) > self.cache_size:
            del self._plans[next(iter(self._plans))]
        return plan

    def run(self, feeds: Mapping[str, Any], *, stacklevel: int = 2) -> dict[str, np.ndarray]:
        """Outputs by name for ``feeds`` (arrays by input name); ``InputError`` on bad feeds."""
        arrays, dims = self._binder.bind(feeds, stacklevel=stacklevel + 1)
        return self.run_bound(arrays, dims)

    def run_bound(
        self, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        """Like ``run`` for arrays already checked by ``bind_inputs`` (``dims`` its bindings)."""
        plan = self.plan_for(dims)
        self._check(plan.estimate, dims)
        with np.errstate(all="ignore"):  # NaN/Inf propagate silently (IEEE), as in onnxruntime
            return self._run_plan(plan, arrays, dims)

    def _check(self, estimate: MemoryEstimate, dims: Mapping[str, int]) -> None:
        check_memory(estimate, self.memory_limit, graph=self.graph.name, dims=dims)

    def _run_plan(
        self, plan: _Plan, arrays: Mapping[str, np.ndarray], dims: Mapping[str, int]
    ) -> dict[str, np.ndarray]:
        env: dict[Value, np.ndarray] = {v: arrays[v.name] for v in plan.graph.inputs}
        env.update(plan.constants)
        for value in plan.release_first:
            del env[value]
        binder = DimBinder(dims)
        self.peak_live = len(env)
        for (node, opdef, fn), release in zip(plan.nodes, plan.release_after, strict=True):
            results = _call_reference(node, opdef, fn, [env[v] for v in node.inputs])
            _check_results(node, results, binder)
            env.update(zip(node.outputs, results, strict=True))
            self.peak_live = max(self.peak_live, len(env))
            for value in release:
                del env[value]
        feeds = list(arrays.values())
        return {v.name: _owned(env[v], feeds) for v in plan.graph.outputs}


class _Plan:
    """One graph made ready to run: ops looked up with the function each node calls (its
    kernel, else its reference), constants, when to drop each value, and the bytes a run
    needs (``estimate``: see ``memory_estimate.live_bytes``)."""

    def __init__(self, graph: Graph, kernels: Mapping[str, KernelFn]) -> None:
        self.graph = graph
        self.nodes: list[tuple[Node, OpDef, KernelFn]] = []
        for node in graph.nodes:
            opdef = get_op(node.op)
            self.nodes.append((node, opdef, kernels.get(node.op, opdef.reference)))
        self.constants = _constant_arrays(graph)
        self.release_first, self.release_after = _release_plan(graph, [n for n, _, _ in self.nodes])
        self.estimate = live_bytes(graph)


def run_reference(graph: Graph, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run ``graph`` once on ``feeds`` with the reference semantics; outputs by name."""
    return ReferenceInterpreter(graph).run(feeds, stacklevel=3)


def _constant_arrays(graph: Graph) -> dict[Value, np.ndarray]:
    missing = [name for name, v in graph.constants.items() if v.const is None]
    if missing:
        shown = ", ".join(f"@{name}: {graph.constants[name].type}" for name in missing)
        raise ExecutionError(
            f"graph {graph.name} cannot run: constant(s) {shown} have no data",
            hint="attach the arrays (load the weights, or parse the IR together with its "
            "constants) before compiling",
        )
    return {v: v.const for v in graph.constants.values() if v.const is not None}


def _release_plan(graph: Graph, nodes: Sequence[Node]) -> tuple[list[Value], list[list[Value]]]:
    """Values to drop before the first node, and after each node (after their last use)."""
    last_use: dict[Value, int] = {}
    for v in (*graph.inputs, *graph.constants.values()):
        last_use[v] = -1
    for i, node in enumerate(nodes):
        for v in node.outputs:
            last_use[v] = i
        for v in node.inputs:
            last_use[v] = i
    for v in graph.outputs:
        last_use.pop(v, None)  # kept to the end
    release_after: list[list[Value]] = [[] for _ in nodes]
    release_first: list[Value] = []
    for v, i in last_use.items():
        (release_first if i < 0 else release_after[i]).append(v)
    return release_first, release_after


def _describe(arrays: Sequence[np.ndarray], opdef: OpDef) -> str:
    return ", ".join(f"{opdef.input_name(i)}: {_array_type(a)}" for i, a in enumerate(arrays))


def _array_type(array: Any) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    try:
        dtype = str(DType.parse(array.dtype))
    except NanographError:
        dtype = str(array.dtype)
    return f"{dtype}[{','.join(str(n) for n in array.shape)}]"


def _call_reference(
    node: Node, opdef: OpDef, fn: KernelFn, inputs: list[np.ndarray]
) -> list[np.ndarray]:
    """``fn`` (the op's reference or kernel) on ``inputs``, with any failure re-raised
    naming op, loc and shapes."""
    try:
        return list(fn(inputs, node.attrs))
    except NanographError as err:
        raise type(err)(
            f"{node.op}: {err.message} (running on {_describe(inputs, opdef)})",
            loc=node.loc or err.loc,
            hint=err.hint,
        ) from err
    except Exception as err:
        failure = f"{type(err).__name__}: {err}"
        raise ExecutionError(
            f"{node.op} failed on inputs ({_describe(inputs, opdef)}): {failure}",
            loc=node.loc,
            hint=f"the inputs may be outside what {node.op} accepts (e.g. an index out of "
            f"range); if they are valid, this is a bug in nanograph's {node.op}",
        ) from err


def _check_results(node: Node, results: list[Any], binder: DimBinder) -> None:
    """Results must match the node's outputs in number, dtype and (bound) shape."""
    if len(results) != len(node.outputs):
        _internal(node, f"gave {len(results)} results for {len(node.outputs)} outputs")
    for i, (value, result) in enumerate(zip(node.outputs, results, strict=True)):
        if not isinstance(result, np.ndarray):
            result = results[i] = np.asarray(result)
        if result.dtype != value.type.dtype.numpy:
            _internal(node, f"output %{value.name} is {result.dtype}, its type says {value.type}")
        problems = binder.match(f"output %{value.name}", value.type, result.shape)
        problems += binder.resolve()
        if problems:
            _internal(node, "; ".join(problems))


def _internal(node: Node, what: str) -> None:
    raise InternalError(
        f"internal error: {node.op} {what}",
        loc=node.loc,
        hint=f"the reference of {node.op} disagrees with its type inference; please report "
        "this with the model",
    )


def _owned(array: np.ndarray, feeds: Sequence[np.ndarray]) -> np.ndarray:
    """``array`` if it owns writeable memory apart from the feeds, else a copy."""
    owned = array.base is None and array.flags.writeable and array.flags.owndata
    if owned and not any(np.may_share_memory(array, f) for f in feeds):
        return array
    return array.copy()


__all__ = ["ExecutionError", "InternalError", "ReferenceInterpreter", "run_reference"]
