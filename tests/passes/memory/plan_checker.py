"""An independent oracle for memory plans: what a plan must satisfy, checked by brute force.

Nothing here trusts the planner's own bookkeeping. Lifetimes, views and
in-place legality are recomputed from the graph; overlaps are checked pair
by pair at every step; the lower bound and the naive sum are recomputed by
summing sizes step by step; and ``run_in_arena`` executes the graph through
the plan's byte offsets (each node's reference writing into its planned
bytes, workspaces scribbled on before each step) so that any two tensors
wrongly sharing bytes corrupt a result that ``nanograph.compile(g, "O0")``
gets right.

``plan_violations(graph, plan, workspace=, inplace_ok=, alignment=)``
returns every broken rule, in words (empty when the plan is sound);
``assert_plan_sound`` fails a test with all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations

import numpy as np

import nanograph as ng
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType
from nanograph.passes.memory.placement import MemoryPlan

Workspace = Callable[[Node], int]
InplaceOk = Callable[[Node], bool]


def _no_workspace(node: Node) -> int:
    return 0


def _never(node: Node) -> bool:
    return False


def _aligned(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """(first, last) of every graph input and node output, from the graph alone."""
    nodes = list(graph.nodes)
    spans = {v.name: [-1, -1] for v in graph.inputs}
    for step, node in enumerate(nodes):
        for out in node.outputs:
            spans[out.name] = [step, step]
        for v in node.inputs:
            if v.name in spans:
                spans[v.name][1] = max(spans[v.name][1], step)
    for v in graph.outputs:
        if v.name in spans:
            spans[v.name][1] = len(nodes)
    return {name: (a, b) for name, (a, b) in spans.items()}


def view_sources(graph: Graph) -> dict[str, str]:
    """View (alias op output) -> the value it views, from the op registry."""
    views = {}
    for node in graph.nodes:
        alias = get_op(node.op).alias
        if alias is not None:
            views[node.outputs[0].name] = node.inputs[alias].name
    return views


class _Plan:
    """The plan's claims, with versions (data written once) and buffers (bytes shared)."""

    def __init__(self, graph: Graph, plan: MemoryPlan) -> None:
        self.graph = graph
        self.plan = plan
        self.nodes = list(graph.nodes)
        self.step_of = {o.name: i for i, n in enumerate(self.nodes) for o in n.outputs}
        self.views = view_sources(graph)
        self.spans = lifetimes(graph)
        self.outputs = {v.name for v in graph.outputs}
        self.in_arena = {n: t for n, t in plan.tensors.items() if t.offset >= 0}

    def version(self, name: str) -> str:
        """The tensor that wrote the data ``name`` reads: follow views to their source."""
        while name in self.views and self.views[name] in self.in_arena:
            name = self.views[name]
        return name

    def version_members(self, root: str) -> list[str]:
        return [n for n in self.in_arena if self.version(n) == root]

    def buffer(self, name: str) -> str:
        """The first tensor of the bytes ``name`` lives in: through views and in-place writes."""
        name = self.version(name)
        inplace = self.plan.tensors[name].inplace_of
        return name if inplace is None else self.buffer(inplace)


def plan_violations(
    graph: Graph,
    plan: MemoryPlan,
    *,
    workspace: Workspace = _no_workspace,
    inplace_ok: InplaceOk = _never,
    alignment: int = 64,
) -> list[str]:
    """Every rule ``plan`` breaks for ``graph`` (see the module docstring)."""
    p = _Plan(graph, plan)
    problems = _coverage(p, alignment)
    if problems:
        return problems  # the rest would only repeat these
    problems += _inplace_rules(p, inplace_ok)
    problems += _overlaps(p)
    problems += _workspaces(p, workspace, alignment)
    problems += _totals(p, alignment)
    problems += _reuses(p)
    return problems


def assert_plan_sound(graph: Graph, plan: MemoryPlan, **options: object) -> None:
    problems = plan_violations(graph, plan, **options)  # type: ignore[arg-type]
    assert not problems, "\n".join(problems)


def _coverage(p: _Plan, alignment: int) -> list[str]:
    """Every tensor placed once, with its own lifetime, size, alignment and view facts."""
    out = []
    if p.plan.alignment != alignment:
        out.append(f"plan alignment {p.plan.alignment}, asked for {alignment}")
    if set(p.plan.tensors) != set(p.spans):
        out.append(f"placed {sorted(p.plan.tensors)}, expected {sorted(p.spans)}")
        return out
    types = {v.name: v.type for v in p.graph.values()}
    for name, t in p.plan.tensors.items():
        if (t.first, t.last) != p.spans[name]:
            out.append(f"%{name}: lifetime [{t.first}, {t.last}], expected {p.spans[name]}")
        if t.view_of != p.views.get(name):
            out.append(f"%{name}: view_of {t.view_of}, the graph says {p.views.get(name)}")
        if t.offset < 0:
            if not (t.view_of is not None and t.view_of not in p.in_arena and t.nbytes == 0):
                out.append(f"%{name}: outside the arena but not a view of a constant")
            continue
        if t.nbytes != types[name].nbytes:
            out.append(f"%{name}: {t.nbytes} bytes, its type {types[name]} has more or less")
        if t.offset % alignment:
            out.append(f"%{name}: offset {t.offset} is not a multiple of {alignment}")
        if t.offset + t.nbytes > p.plan.arena_bytes:
            out.append(f"%{name}: ends past the arena ({p.plan.arena_bytes} bytes)")
        if t.view_of is not None:
            src = p.plan.tensors[t.view_of]
            if (src.offset, src.nbytes) != (t.offset, t.nbytes):
                out.append(f"%{name}: a view of %{t.view_of} at other bytes")
    return out


def _legal_inplace(p: _Plan, node: Node, index: int) -> bool:
    """May output 0 of ``node`` overwrite input ``index``'s bytes (recomputed from the graph)?"""
    v, out, step = node.inputs[index], node.outputs[0], p.step_of[node.outputs[0].name]
    if v.name not in p.in_arena or v.type.dtype != out.type.dtype:
        return False
    if v.type.nbytes != out.type.nbytes:
        return False
    members = p.version_members(p.version(v.name))
    return all(p.spans[m][1] <= step and m not in p.outputs for m in members)


def _inplace_rules(p: _Plan, inplace_ok: InplaceOk) -> list[str]:
    """In place exactly when legal, allowed and the op says so; over the first such input."""
    out = []
    for step, node in enumerate(p.nodes):
        opdef = get_op(node.op)
        if opdef.alias is not None or not node.outputs:
            continue
        legal = [
            node.inputs[i].name
            for i in opdef.inplace
            if i < len(node.inputs) and _legal_inplace(p, node, i)
        ]
        expected = legal[0] if legal and inplace_ok(node) else None
        name = node.outputs[0].name
        got = p.plan.tensors[name].inplace_of
        if got != expected:
            out.append(f"%{name} ({node.op}, step {step}): in place of {got}, expected {expected}")
        for extra in node.outputs[1:]:
            if p.plan.tensors[extra.name].inplace_of is not None:
                out.append(f"%{extra.name}: only output 0 may be in place")
        if got is not None and p.plan.tensors[name].offset != p.plan.tensors[got].offset:
            out.append(f"%{name}: in place of %{got} but at other bytes")
    return out


def _handoff(p: _Plan, a: str, b: str, step: int) -> bool:
    """Is ``step`` the node writing ``b``'s version over ``a``'s (or the reverse) in place?"""
    for old, new in ((a, b), (b, a)):
        t = p.plan.tensors[p.version(new)]
        over_old = t.inplace_of is not None and p.version(t.inplace_of) == p.version(old)
        old_dead = all(p.spans[m][1] <= step for m in p.version_members(p.version(old)))
        if over_old and t.first == step and old_dead:
            return True
    return False


def _overlaps(p: _Plan) -> list[str]:
    """No two tensors live at one step share a byte, unless they hold the same data."""
    out = []
    for step in range(-1, len(p.nodes) + 1):
        live = [t for t in p.in_arena.values() if t.first <= step <= t.last and t.nbytes]
        for a, b in combinations(live, 2):
            if a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes:
                same = p.version(a.name) == p.version(b.name)
                if not same and not _handoff(p, a.name, b.name, step):
                    out.append(
                        f"step {step}: %{a.name} [{a.offset}, +{a.nbytes}) and %{b.name} "
                        f"[{b.offset}, +{b.nbytes}) are both live and share bytes"
                    )
    return out


def _workspaces(p: _Plan, workspace: Workspace, alignment: int) -> list[str]:
    """A workspace for exactly the steps asking, of their size, clear of every live tensor."""
    out = []
    asked = {s: n for s, node in enumerate(p.nodes) if (n := workspace(node)) > 0}
    if set(p.plan.workspaces) != set(asked):
        out.append(f"workspaces at steps {sorted(p.plan.workspaces)}, asked at {sorted(asked)}")
    for step, (offset, nbytes) in p.plan.workspaces.items():
        if nbytes < asked.get(step, 0):
            out.append(f"step {step}: workspace of {nbytes} bytes, asked for {asked[step]}")
        if offset % alignment or offset + nbytes > p.plan.arena_bytes:
            out.append(f"step {step}: workspace at {offset} unaligned or past the arena")
        for t in p.in_arena.values():
            clear = t.offset + t.nbytes <= offset or offset + nbytes <= t.offset
            if t.first <= step <= t.last and t.nbytes and not clear:
                out.append(f"step {step}: workspace [{offset}, +{nbytes}) overlaps live %{t.name}")
    return out


def _totals(p: _Plan, alignment: int) -> list[str]:
    """lower_bound and naive_bytes recomputed step by step; lower <= arena <= naive."""
    out = []
    buffers: dict[str, list[int]] = {}  # first tensor of a buffer -> [first, last, size]
    for name, t in p.in_arena.items():
        span = buffers.setdefault(p.buffer(name), [t.first, t.last, _aligned(t.nbytes, alignment)])
        span[0], span[1] = min(span[0], t.first), max(span[1], t.last)
    spaces = {s: _aligned(n, alignment) for s, (_, n) in p.plan.workspaces.items()}
    peak = max(
        (
            sum(size for first, last, size in buffers.values() if first <= step <= last)
            + spaces.get(step, 0)
            for step in range(-1, len(p.nodes) + 1)
        ),
        default=0,
    )
    naive = sum(_aligned(t.nbytes, alignment) for t in p.in_arena.values() if t.view_of is None)
    naive += sum(spaces.values())
    plan = p.plan
    if plan.lower_bound != peak:
        out.append(f"lower_bound {plan.lower_bound}, the most bytes live at one step is {peak}")
    if plan.naive_bytes != naive:
        out.append(f"naive_bytes {plan.naive_bytes}, one buffer per tensor is {naive}")
    if not plan.lower_bound <= plan.arena_bytes <= plan.naive_bytes:
        out.append(f"not lower {plan.lower_bound} <= arena {plan.arena_bytes} <= naive {naive}")
    return out


def _reuses(p: _Plan) -> list[str]:
    """``reuses`` names the dead tensor read last in these bytes, for a buffer's first tensor."""
    out = []
    for name, t in p.in_arena.items():
        first_of_buffer = t.view_of is None and t.inplace_of is None
        slot = (t.offset, t.offset + _aligned(t.nbytes, p.plan.alignment))
        dead = [
            d
            for d in p.in_arena.values()
            if p.buffer(d.name) != p.buffer(name)
            and _buffer_last(p, d.name) < t.first
            and d.offset < slot[1]
            and slot[0] < d.offset + _aligned(d.nbytes, p.plan.alignment)
        ]
        if not first_of_buffer or not dead:
            if t.reuses is not None:
                out.append(f"%{name}: reuses %{t.reuses}, but nothing dead was in its bytes")
            continue
        latest = max(_buffer_last(p, d.name) for d in dead)
        named = t.reuses in {d.name for d in dead}
        if not named or t.reuses is None or p.spans[t.reuses][1] != latest:
            out.append(f"%{name}: reuses {t.reuses}; the bytes were last read at step {latest}")
    return out


def _buffer_last(p: _Plan, name: str) -> int:
    root = p.buffer(name)
    return max(t.last for n, t in p.in_arena.items() if p.buffer(n) == root)


def run_in_arena(
    graph: Graph,
    plan: MemoryPlan,
    feeds: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Run ``graph`` with every input and node output stored at its planned bytes.

    The arena starts as garbage; each node's reference reads its inputs from
    the arena (views: from their source's bytes, never copied), its outputs are
    written into their planned bytes, and each step's workspace is overwritten
    with garbage first, as a kernel would use it.
    """
    rng = np.random.default_rng(seed)
    arena = rng.integers(0, 256, plan.arena_bytes, dtype=np.uint8)
    outside: dict[str, np.ndarray] = {}  # constants and views of constants

    def view(name: str, value_type: TensorType) -> np.ndarray:
        t = plan.tensors[name]
        shape = tuple(d for d in value_type.shape if isinstance(d, int))
        assert len(shape) == value_type.rank, f"%{name}: {value_type} is not static"
        return arena[t.offset : t.offset + t.nbytes].view(value_type.dtype.numpy).reshape(shape)

    def read(v: Value) -> np.ndarray:
        if v.const is not None:
            return np.asarray(v.const)
        if v.name in outside:
            return outside[v.name]
        return view(v.name, v.type).copy()

    for v in graph.inputs:
        view(v.name, v.type)[...] = feeds[v.name]
    for step, node in enumerate(graph.nodes):
        opdef = get_op(node.op)
        if step in plan.workspaces:
            offset, nbytes = plan.workspaces[step]
            arena[offset : offset + nbytes] = rng.integers(0, 256, nbytes, dtype=np.uint8)
        if opdef.alias is not None and plan.tensors[node.outputs[0].name].offset >= 0:
            continue  # a view: its data is its source's bytes, already in place
        results = opdef.reference([read(v) for v in node.inputs], node.attrs)
        for out, array in zip(node.outputs, results, strict=True):
            if plan.tensors[out.name].offset < 0:
                outside[out.name] = array
            else:
                view(out.name, out.type)[...] = array
    return {v.name: read(v) for v in graph.outputs}


def reference_outputs(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference interpreter's outputs (``nanograph.compile(graph, "O0")``)."""
    return ng.compile(graph, "O0")(dict(feeds))


__all__ = [
    "assert_plan_sound",
    "lifetimes",
    "plan_violations",
    "reference_outputs",
    "run_in_arena",
    "view_sources",
]
