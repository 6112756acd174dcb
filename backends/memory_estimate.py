"""``MemoryEstimate``: the bytes a run needs, known from types before anything is allocated.

What the memory limit (``memory_limit.py``) is checked against. Sizes are
Python ints (a product of huge dims never overflows), computed from the
graph's types with the symbols bound, so estimating a 10^12-element tensor
costs nothing.

- ``live_bytes(graph, dims)``: running the nodes in order and dropping each
  value after its last use (as the reference interpreter does), the most
  bytes of node outputs alive at once, a node's inputs and outputs together.
  With ``between_steps=True``, only what must be alive between two steps
  (a node may write its output over an input it reads last, as the planned
  executor and onnxruntime do): a lower bound of any plan's arena. Graph
  inputs and constants are not counted (they exist before the run); an
  alias op's output (reshape, flatten, ...) counts 0 (it may be a view); an
  op's own temporaries are not counted; a dim that stays symbolic with
  ``dims`` bound counts its tensor as 0. So it is a lower bound of what the
  run allocates.
- ``arena_bytes(graph, plan)``: the planned executor's one allocation, the
  arena of its ``MemoryPlan`` plus the alignment slack (exact; steps without
  an executor kernel allocate their results on top).

Either names the largest single tensor (``TensorSize``) for the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from nanograph.passes.memory.placement import MemoryPlan


@dataclass(frozen=True)
class TensorSize:
    """One tensor's bytes: its value name, concrete type text, the op making it and its loc."""

    name: str
    type: str
    nbytes: int
    op: str = ""
    loc: str = ""


@dataclass(frozen=True)
class MemoryEstimate:
    """``total`` bytes needed for ``what`` (words for the message), and the largest tensor."""

    total: int
    what: str
    largest: TensorSize | None = None


def tensor_size(value: Value, dims: Mapping[str, int]) -> TensorSize:
    """``value``'s bytes with ``dims`` bound (0 where a dim stays symbolic)."""
    concrete = value.type.substitute(dims) if dims else value.type
    nbytes = concrete.nbytes
    producer = value.producer
    return TensorSize(
        value.name,
        str(concrete),
        nbytes if isinstance(nbytes, int) else 0,
        producer.op if producer is not None else "",
        producer.loc if producer is not None else "",
    )


def largest(sizes: list[TensorSize]) -> TensorSize | None:
    """The largest of ``sizes`` (the first on ties), or None for none."""
    return max(sizes, key=lambda s: s.nbytes, default=None)


def live_bytes(
    graph: Graph, dims: Mapping[str, int] | None = None, *, between_steps: bool = False
) -> MemoryEstimate:
    """The most bytes of node outputs alive at one step, or between two steps (see the
    module docstring)."""
    bound = dict(dims or {})
    nodes = list(graph.nodes)
    last: dict[Value, int] = {}
    for step, node in enumerate(nodes):
        for v in node.inputs:
            last[v] = step
    for v in graph.outputs:
        last[v] = len(nodes)
    free_after: list[list[int]] = [[] for _ in nodes]
    sizes: list[TensorSize] = []
    live = peak = 0
    for step, node in enumerate(nodes):
        alias = get_op(node.op).alias is not None
        for out in node.outputs:
            size = tensor_size(out, bound)
            sizes.append(size)
            nbytes = 0 if alias else size.nbytes
            live += nbytes
            free_after[min(last.get(out, step), len(nodes) - 1)].append(nbytes)
        if not between_steps:
            peak = max(peak, live)
        live -= sum(free_after[step])
        peak = max(peak, live)
    what = "between two steps" if between_steps else "at once"
    return MemoryEstimate(peak, f"the node outputs alive {what}", largest(sizes))


def arena_bytes(graph: Graph, plan: MemoryPlan) -> MemoryEstimate:
    """The planned executor's arena for ``plan`` (made for ``graph``, static types)."""
    values = {v.name: v for v in graph.inputs}
    values.update((v.name, v) for n in graph.nodes for v in n.outputs)
    sizes = [
        tensor_size(values[t.name], {})
        for t in plan.tensors.values()
        if t.offset >= 0 and t.view_of is None and t.name in values
    ]
    total = plan.arena_bytes + max(plan.alignment, 1)
    what = "its arena (inputs, intermediates, outputs and kernel workspaces)"
    return MemoryEstimate(total, what, largest(sizes))


def type_bytes(name: str, type: TensorType, dims: Mapping[str, int]) -> TensorSize:
    """A graph-less tensor's bytes (e.g. an input about to be made), ``dims`` bound."""
    concrete = type.substitute(dims)
    nbytes = concrete.nbytes
    return TensorSize(name, str(concrete), nbytes if isinstance(nbytes, int) else 0)


__all__ = [
    "MemoryEstimate",
    "TensorSize",
    "arena_bytes",
    "largest",
    "live_bytes",
    "tensor_size",
    "type_bytes",
]
