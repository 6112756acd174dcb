"""``plan_memory``: lifetimes, views, in-place reuse and arena offsets for one schedule.

The schedule is the graph's node order (step ``i`` runs the ``i``-th node).
Contract (see ``placement.py`` for what the plan means):

1. Lifetimes: a tensor lives from the step that writes it (-1 for graph
   inputs) to the last step reading it (``len(steps)`` for graph outputs,
   which are copied out after the last step).
2. Views: the output of an alias op (``OpDef.alias``: reshape, flatten,
   squeeze, unsqueeze) shares its input's buffer, which then lives as long as
   either. A view of a constant is not in the arena (offset -1, 0 bytes).
3. In place: a node whose op lists input ``i`` in ``OpDef.inplace`` writes
   output 0 over that input's buffer when ``inplace_ok(node)`` (its kernel
   allows it), the buffer has the output's dtype and size, and nothing reads the buffer
   after this step (and it is not a graph output).
4. Offsets: buffers (one per group of views/in-place tensors) and kernel
   workspaces (live during their step only) get offsets from
   ``offsets.assign_offsets``: buffers alive at a common step never share a
   byte, every offset is a multiple of ``alignment``, and the arena is the
   smallest that its greedy strategies (by size, best and first fit; by
   breadth) find.
5. ``reuses``: for the first tensor of a buffer, the tensor read last among
   those whose (dead) buffer overlapped these bytes before, or None.

Sizes count rounded up to ``alignment`` (a buffer's padding is its own).
``lower_bound`` is the largest total size of buffers alive at one step: no
placement of these buffers can use less. ``naive_bytes`` is one buffer per
non-view tensor and per workspace, so ``lower_bound <= arena_bytes <=
naive_bytes``. Cost: dominated by the offsets, O(B^2) per strategy for B
buffers in the worst case, fine for the graphs nanograph compiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nanograph.ir.errors import ConfigError, ShapeError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.passes.memory.offsets import (
    Block,
    assign_offsets,
    peak_live_bytes,
    peak_of,
    round_up,
)
from nanograph.passes.memory.placement import MemoryPlan, TensorPlacement


@dataclass
class _Buffer:
    """A run of arena bytes shared by a root tensor and its views/in-place successors."""

    root: str
    nbytes: int
    first: int
    last: int
    members: list[str] = field(default_factory=list)
    offset: int = -1
    workspace: bool = False  # a kernel's scratch at step ``first`` (== ``last``), no tensor


@dataclass
class _Facts:
    """A tensor's lifetime and how it got its bytes, before offsets exist."""

    first: int
    last: int
    view_of: str | None = None
    inplace_of: str | None = None


def _nbytes(value: Value) -> int:
    size = value.type.nbytes
    if not isinstance(size, int):
        raise ShapeError(
            f"cannot plan memory for %{value.name}: {value.type} has symbolic dims",
            loc=value.producer.loc if value.producer is not None else "",
            hint="plan a graph specialized to concrete sizes (nanograph.ir.specialize)",
        )
    return size


def _last_uses(graph: Graph, nodes: list[Node]) -> dict[int, int]:
    """id(value) -> the last step reading it (len(nodes) for graph outputs)."""
    last: dict[int, int] = {}
    for step, node in enumerate(nodes):
        for v in node.inputs:
            last[id(v)] = step
    for v in graph.outputs:
        last[id(v)] = len(nodes)
    return last


def plan_memory(
    graph: Graph,
    *,
    workspace: Callable[[Node], int] = lambda node: 0,
    inplace_ok: Callable[[Node], bool] = lambda node: False,
    alignment: int = 64,
) -> MemoryPlan:
    """Place every graph input and node output of ``graph`` (static types) in one arena."""
    if alignment < 1:
        raise ConfigError(
            f"memory plan alignment must be a positive number of bytes, got {alignment}",
            hint="use 64 (a cache line), or 1 for no alignment",
        )
    nodes = list(graph.nodes)
    last = _last_uses(graph, nodes)
    buffers: dict[str, _Buffer] = {}
    owner: dict[str, _Buffer] = {}  # tensor name -> its buffer
    placements: dict[str, _Facts] = {}

    def new_buffer(value: Value, first: int) -> None:
        buf = _Buffer(value.name, _nbytes(value), first, last.get(id(value), first))
        buf.members.append(value.name)
        buffers[value.name] = buf
        owner[value.name] = buf
        placements[value.name] = _Facts(first, buf.last)

    def join(value: Value, buf: _Buffer, facts: _Facts) -> None:
        buf.members.append(value.name)
        buf.last = max(buf.last, facts.last)
        owner[value.name] = buf
        placements[value.name] = facts

    for v in graph.inputs:
        new_buffer(v, -1)
    for step, node in enumerate(nodes):
        opdef = get_op(node.op)
        if opdef.alias is not None:
            source = node.inputs[opdef.alias]
            out = node.outputs[0]
            facts = _Facts(step, last.get(id(out), step), view_of=source.name)
            if source.name in owner:
                join(out, owner[source.name], facts)
            else:
                placements[out.name] = facts  # a view of a constant: not in the arena
            continue
        reused = _inplace_source(node, opdef.inplace, owner, step, inplace_ok)
        for index, out in enumerate(node.outputs):
            if index == 0 and reused is not None:
                facts = _Facts(step, last.get(id(out), step), inplace_of=reused)
                join(out, owner[reused], facts)
            else:
                new_buffer(out, step)
    spaces = {step: n for step, node in enumerate(nodes) if (n := workspace(node)) > 0}
    return _place(buffers, placements, spaces, alignment)


def _inplace_source(
    node: Node,
    inplace: tuple[int, ...],
    owner: dict[str, _Buffer],
    step: int,
    inplace_ok: Callable[[Node], bool],
) -> str | None:
    """The name of the input whose buffer output 0 may overwrite at ``step``, or None."""
    if not inplace or not node.outputs or not inplace_ok(node):
        return None
    out = node.outputs[0]
    for index in inplace:
        if index >= len(node.inputs):
            continue
        v = node.inputs[index]
        buf = owner.get(v.name)
        if buf is None or v.type.dtype != out.type.dtype or buf.nbytes != _nbytes(out):
            continue
        if buf.last == step:  # nothing reads it later (a graph output's last is past the end)
            return v.name
    return None


def _place(
    buffers: dict[str, _Buffer],
    placements: dict[str, _Facts],
    spaces: dict[int, int],
    alignment: int,
) -> MemoryPlan:
    """Offsets for the buffers and workspaces (``offsets.py``), then placements and totals."""
    items = list(buffers.values())
    items += [_Buffer(f"<workspace {s}>", n, s, s, workspace=True) for s, n in spaces.items()]
    blocks = [Block(b.nbytes, b.first, b.last) for b in items]
    for buf, offset in zip(items, assign_offsets(blocks, alignment), strict=True):
        buf.offset = offset
    tensors = _placements(buffers, placements, items, alignment)
    # One aligned buffer per tensor that is not a view, and per workspace: the same
    # rounding as the arena's, so lower_bound <= arena_bytes <= naive_bytes always holds.
    naive = sum(
        round_up(t.nbytes, alignment)
        for t in tensors.values()
        if t.offset >= 0 and t.view_of is None
    )
    naive += sum(round_up(n, alignment) for n in spaces.values())
    return MemoryPlan(
        tensors=tensors,
        workspaces={b.first: (b.offset, b.nbytes) for b in items if b.workspace},
        arena_bytes=peak_of(blocks, [b.offset for b in items], alignment),
        lower_bound=peak_live_bytes(blocks, alignment),
        naive_bytes=naive,
        alignment=alignment,
    )


def _placements(
    buffers: dict[str, _Buffer],
    placements: dict[str, _Facts],
    placed: list[_Buffer],
    alignment: int,
) -> dict[str, TensorPlacement]:
    owner = {m: b for b in buffers.values() for m in b.members}
    tensors: dict[str, TensorPlacement] = {}
    for name, facts in placements.items():
        buf = owner.get(name)
        if buf is None:  # a view of a constant
            tensors[name] = TensorPlacement(
                name, 0, -1, facts.first, facts.last, view_of=facts.view_of
            )
            continue
        reuses = None
        if buf.root == name:
            reuses = _previous_tenant(buf, placed, placements, alignment)
        tensors[name] = TensorPlacement(
            name,
            buf.nbytes,
            buf.offset,
            facts.first,
            facts.last,
            view_of=facts.view_of,
            inplace_of=facts.inplace_of,
            reuses=reuses,
        )
    return tensors


def _previous_tenant(
    buf: _Buffer, placed: list[_Buffer], facts: dict[str, _Facts], alignment: int
) -> str | None:
    """The tensor that most recently used bytes ``buf`` now occupies, if any.

    Of the dead buffers overlapping ``buf``'s bytes, the one that died last; of its
    tensors, the one read last (not merely the last created: a view may die first).
    """
    end = buf.offset + round_up(buf.nbytes, alignment)
    earlier = [
        p
        for p in placed
        if p is not buf
        and p.last < buf.first
        and p.offset < end
        and buf.offset < p.offset + round_up(p.nbytes, alignment)
        and not p.workspace
    ]
    if not earlier:
        return None
    latest = max(earlier, key=lambda p: p.last)
    return max(reversed(latest.members), key=lambda name: facts[name].last)


__all__ = ["plan_memory"]
