"""``Program``: one graph with static types compiled onto one arena as a flat list of steps.

Building a program (once per concrete binding of the symbolic dims):

1. ``plan_memory`` places every graph input and node output in one arena,
   with each kernel's workspace, running a node in place only where its
   kernel is ``inplace_safe``; ``estimate`` (``memory_estimate.arena_bytes``)
   is the arena's exact size, and ``check(estimate)`` (the executor's memory
   limit check) runs before the arena is allocated, so a refused program
   allocates nothing;
2. every planned tensor gets its fixed arena view (``Arena.view``); a view
   op's output (``OpDef.alias``: reshape, flatten, squeeze, unsqueeze) is a
   reshape of its source's view made here, so it needs no step; a view of a
   constant is computed here, once;
3. every other node becomes a step (``steps.py``): its executor kernel where
   ``kernels`` has one, else ``fallbacks``' reference-style function for its
   op, else the op's reference, the last two copied into the output views.
   An in-place node's output 0 is the very array of the input it overwrites
   (reshaped where the shapes differ), as the kernel contract says.

``run(arrays)`` copies the graph inputs into their views, runs the steps in
order (under ``np.errstate(all="ignore")``: NaN and Inf propagate as IEEE
arithmetic says, without NumPy's ``RuntimeWarning``s, as onnxruntime computes)
and returns copies of the graph outputs (the caller owns them; never a view of
the arena, a feed or a constant). A step's failure is re-raised by
``step_failure`` naming the op, its ``loc`` and its input types. A program
is not reentrant: its arena is shared by every call (the executor locks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nanograph.backends.kernels import KernelFn
from nanograph.backends.memory_estimate import MemoryEstimate, arena_bytes
from nanograph.backends.planned.arena import Arena
from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.steps import Step, fallback_step, kernel_step, step_failure
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import OpDef, get_op
from nanograph.passes.memory.placement import MemoryPlan
from nanograph.passes.memory.planner import plan_memory


class Program:
    """``graph`` (static types, constants with data) ready to run on one arena."""

    def __init__(
        self,
        graph: Graph,
        kernels: Mapping[str, Kernel],
        fallbacks: Mapping[str, KernelFn],
        constants: Mapping[str, np.ndarray],
        check: Callable[[MemoryEstimate], None] = lambda estimate: None,
    ) -> None:
        self.graph = graph
        self.plan: MemoryPlan = plan_memory(
            graph,
            workspace=lambda node: _workspace_bytes(node, kernels),
            inplace_ok=lambda node: node.op in kernels and kernels[node.op].inplace_safe,
        )
        self.estimate = arena_bytes(graph, self.plan)
        check(self.estimate)  # before the arena exists
        self.arena = Arena(self.plan)
        arrays: dict[str, np.ndarray] = dict(constants)
        inputs: list[tuple[str, np.ndarray]] = []
        for value in graph.inputs:
            arrays[value.name] = self.arena.view(value.name, value.type)
            inputs.append((value.name, arrays[value.name]))
        self.steps: list[Step] = []
        self.fallback_ops: set[str] = set()
        """Ops that ran no executor kernel: their steps allocate their results."""
        self.nodes: list[tuple[Node, OpDef, tuple[np.ndarray, ...]]] = []
        for index, node in enumerate(graph.nodes):
            self._add(index, node, arrays, kernels, fallbacks)
        self._inputs = tuple(inputs)
        self._outputs = tuple((v.name, arrays[v.name]) for v in graph.outputs)

    def run(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for ``arrays`` (checked feeds by input name); see the module doc."""
        self.execute(arrays)
        return {name: array.copy() for name, array in self._outputs}

    def execute(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Copy ``arrays`` into the input views and run every step (``run`` without the
        copies out: the graph outputs are left in their arena views)."""
        copyto = np.copyto
        for name, view in self._inputs:
            copyto(view, arrays[name])
        index = 0
        try:
            with np.errstate(all="ignore"):  # NaN/Inf propagate as IEEE says, no RuntimeWarning
                for index, step in enumerate(self.steps):  # noqa: B007 (the failing step)
                    step()
        except Exception as err:
            node, opdef, inputs = self.nodes[index]
            raise step_failure(node, opdef, inputs, err) from err

    def _add(
        self,
        index: int,
        node: Node,
        arrays: dict[str, np.ndarray],
        kernels: Mapping[str, Kernel],
        fallbacks: Mapping[str, KernelFn],
    ) -> None:
        """Make ``node``'s output arrays and, unless it is a view op, its step."""
        opdef = get_op(node.op)
        inputs = tuple(arrays[v.name] for v in node.inputs)
        if opdef.alias is not None:
            out = node.outputs[0]
            if self.plan.tensors[out.name].offset >= 0:
                arrays[out.name] = self.arena.view(out.name, out.type)
            else:  # a view of a constant: computed once, here
                try:
                    arrays[out.name] = _contiguous(opdef.reference(inputs, node.attrs)[0])
                except Exception as err:
                    raise step_failure(node, opdef, inputs, err) from err
            return
        outputs = [self._output(i, v, arrays) for i, v in enumerate(node.outputs)]
        kernel = kernels.get(node.op)
        if kernel is not None:
            step = kernel_step(kernel, node, inputs, outputs, self.arena.workspace(index))
        else:
            self.fallback_ops.add(node.op)
            fn = fallbacks.get(node.op, opdef.reference)
            step = fallback_step(fn, node, inputs, outputs)
        self.steps.append(step)
        self.nodes.append((node, opdef, inputs))

    def _output(self, index: int, value: Value, arrays: dict[str, np.ndarray]) -> np.ndarray:
        source = self.plan.tensors[value.name].inplace_of if index == 0 else None
        view = self.arena.view(value.name, value.type)
        if source is not None:
            shared = arrays[source]
            view = shared if shared.shape == view.shape else shared.reshape(view.shape)
        arrays[value.name] = view
        return view


def _workspace_bytes(node: Node, kernels: Mapping[str, Kernel]) -> int:
    kernel = kernels.get(node.op)
    if kernel is None:
        return 0
    ins = [v.type for v in node.inputs]
    outs = [v.type for v in node.outputs]
    return int(kernel.workspace_bytes(ins, outs, node.attrs))


def contiguous_constants(constants: Sequence[Value]) -> dict[str, np.ndarray]:
    """Each constant's data, C-contiguous (the kernel contract), copied only where needed."""
    return {v.name: _contiguous(v.const) for v in constants if v.const is not None}


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` if C-contiguous, else a C-contiguous copy (of the same rank, even 0-d)."""
    return array if array.flags.c_contiguous else array.copy(order="C")


__all__ = ["Program", "contiguous_constants"]
