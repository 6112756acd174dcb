"""The memory report of ``nanograph inspect --memory``: where every tensor lives, and why.

``memory_report(inspection)`` plans memory (``passes/memory/planner.py``) for
the inspected model at its bound dims, as the planned executor would for one
call at those sizes: ``specialize`` to the dims, then ``plan_memory`` with
the executor's kernels deciding workspaces and in-place safety
(``executor_plan_options``). It plans the compiled graph, and also the graph
before the first pass and after every pass (the IR text the inspection
captured, parsed back; constants need no data to be planned), so the report
shows how each pass moved the peak.

A ``MemoryReport`` holds, by tensor name, each tensor's lifetime in steps,
size, arena offset and how it got its bytes (fresh, reusing a dead
tensor's, in place of an input, a view of another tensor or of a constant);
the kernel workspaces by step; the arena's peak next to the lower bound (the
most bytes live at one step) and the naive sum (one buffer per tensor).

Views: ``memory_lines`` (rich renderables for the terminal), ``memory_html``
(a ``section#memory`` for the ``--html`` page) and ``MemoryReport.to_dict``
(the ``memory`` key of ``--json``). Model names are always ``Text`` or
escaped, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from html import escape
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from nanograph.inspection.collect import Inspection
from nanograph.ir.graph import Graph, Node
from nanograph.ir.specialize import graph_symbols, specialize
from nanograph.ir.text import parse_graph
from nanograph.passes.memory.placement import MemoryPlan, TensorPlacement
from nanograph.passes.memory.planner import plan_memory


@dataclass(frozen=True)
class PlanOptions:
    """What the planner asks of kernels: scratch bytes and in-place safety per node."""

    workspace: Callable[[Node], int]
    inplace_ok: Callable[[Node], bool]
    source: str  # in words, for the report


def executor_plan_options() -> PlanOptions:
    """The planned executor's choices: its kernels' workspaces and ``inplace_safe`` flags.

    Without the kernels package (``nanograph.backends.planned.kernels``), no
    node runs in place and none has a workspace.
    """
    try:
        from nanograph.backends.planned.kernels import EXECUTOR_KERNELS as kernels
    except ImportError as err:
        if err.name != "nanograph.backends.planned.kernels":
            raise
        return PlanOptions(lambda n: 0, lambda n: False, "no executor kernels: none in place")

    def workspace(node: Node) -> int:
        kernel = kernels.get(node.op)
        if kernel is None:
            return 0
        ins, outs = [v.type for v in node.inputs], [v.type for v in node.outputs]
        return int(kernel.workspace_bytes(ins, outs, node.attrs))

    def inplace_ok(node: Node) -> bool:
        return node.op in kernels and kernels[node.op].inplace_safe

    return PlanOptions(workspace, inplace_ok, "workspaces and in place as the executor's kernels")


@dataclass(frozen=True)
class PassPeak:
    """The plan of the graph a pass left (``index`` 0: the input graph, before any pass)."""

    index: int
    name: str
    nodes: int
    arena_bytes: int
    lower_bound: int
    naive_bytes: int


@dataclass(frozen=True)
class TensorRow:
    """One tensor of the plan, as the report shows it."""

    name: str
    op: str  # the producing op, or "input"
    type: str
    placement: TensorPlacement
    views_constant: bool = False  # a view of a constant itself (``@name``), not of a value

    @property
    def how(self) -> str:
        """How it got its bytes, in words."""
        t = self.placement
        if t.view_of is not None:
            sigil = "@" if self.views_constant else "%"
            outside = " (not in the arena)" if t.offset < 0 else ""
            return f"view of {sigil}{t.view_of}{outside}"
        if t.inplace_of is not None:
            return f"in place of %{t.inplace_of}"
        if t.reuses is not None:
            return f"reuses %{t.reuses}"
        return "fresh"


@dataclass(frozen=True)
class MemoryReport:
    """The plan of one compiled graph at ``dims``, and the peak after each pass."""

    dims: Mapping[str, int]
    graph: Graph  # the compiled graph, specialized to ``dims``: what was planned
    plan: MemoryPlan
    peaks: tuple[PassPeak, ...]
    options: str

    @property
    def ratio(self) -> float:
        """arena / lower bound (1.0 for an empty graph)."""
        return self.plan.arena_bytes / self.plan.lower_bound if self.plan.lower_bound else 1.0

    def rows(self) -> list[TensorRow]:
        """Every planned tensor: graph inputs, then node outputs in step order."""
        tensors, constants = self.plan.tensors, self.graph.constants
        rows = [TensorRow(v.name, "input", str(v.type), tensors[v.name]) for v in self.graph.inputs]
        for node in self.graph.nodes:
            for v in node.outputs:
                t = tensors[v.name]
                rows.append(TensorRow(v.name, node.op, str(v.type), t, t.view_of in constants))
        return rows

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        nodes = list(self.graph.nodes)
        return {
            "dims": dict(self.dims),
            "options": self.options,
            "arena_bytes": plan.arena_bytes,
            "lower_bound": plan.lower_bound,
            "naive_bytes": plan.naive_bytes,
            "alignment": plan.alignment,
            "tensors": [
                {
                    "name": r.name,
                    "op": r.op,
                    "type": r.type,
                    "first": r.placement.first,
                    "last": r.placement.last,
                    "nbytes": r.placement.nbytes,
                    "offset": r.placement.offset,
                    "view_of": r.placement.view_of,
                    "inplace_of": r.placement.inplace_of,
                    "reuses": r.placement.reuses,
                }
                for r in self.rows()
            ],
            "workspaces": [
                {"step": s, "node": nodes[s].outputs[0].name, "offset": o, "nbytes": n}
                for s, (o, n) in sorted(plan.workspaces.items())
            ],
            "passes": [
                {
                    "index": p.index,
                    "pass": p.name,
                    "nodes": p.nodes,
                    "arena_bytes": p.arena_bytes,
                    "lower_bound": p.lower_bound,
                    "naive_bytes": p.naive_bytes,
                }
                for p in self.peaks
            ],
        }


def plan_at(
    graph: Graph, dims: Mapping[str, int], options: PlanOptions
) -> tuple[Graph, MemoryPlan]:
    """``graph`` specialized to ``dims`` (the symbols it has), and its memory plan."""
    symbols = set(graph_symbols(graph))
    static = specialize(graph, {k: v for k, v in dims.items() if k in symbols})
    plan = plan_memory(static, workspace=options.workspace, inplace_ok=options.inplace_ok)
    return static, plan


def memory_report(inspection: Inspection, options: PlanOptions | None = None) -> MemoryReport:
    """Plan the inspected model's compiled graph and each pass's result (module docstring)."""
    options = options or executor_plan_options()
    graph, plan = plan_at(inspection.graph, inspection.dims, options)
    texts = [("input", inspection.ir_input)]
    texts += [(r.name, inspection.ir_after(i)) for i, r in enumerate(inspection.records)]
    planned: dict[str, PassPeak] = {}  # by IR text: most passes change nothing
    peaks = []
    for index, (name, ir) in enumerate(texts):
        if ir not in planned:
            planned[ir] = _peak(index, name, ir, inspection.dims, options)
        peaks.append(replace(planned[ir], index=index, name=name))
    return MemoryReport(dict(inspection.dims), graph, plan, tuple(peaks), options.source)


def _peak(
    index: int, name: str, ir: str, dims: Mapping[str, int], options: PlanOptions
) -> PassPeak:
    """The plan of one captured IR text; ``nodes`` counts the nodes as the pass left them."""
    graph = parse_graph(ir)
    _, plan = plan_at(graph, dims, options)
    return PassPeak(
        index, name, len(graph.nodes), plan.arena_bytes, plan.lower_bound, plan.naive_bytes
    )


# views ------------------------------------------------------------------------------------
def nbytes_text(n: int) -> str:
    """``16,384 B``: exact, so offsets and sizes can be added up by eye."""
    return f"{n:,} B"


def lifetime_text(t: TensorPlacement, steps: int) -> str:
    """``in -> 3``, ``4 -> 9``, ``9 -> out``: steps, with graph inputs and outputs named."""
    first = "in" if t.first < 0 else str(t.first)
    last = "out" if t.last >= steps else str(t.last)
    return f"{first} -> {last}"


def headline(report: MemoryReport) -> Text:
    """Two lines: what was planned and how; then arena, lower bound and naive sum."""
    plan = report.plan
    dims = ", ".join(f"{k}={v}" for k, v in report.dims.items()) or "static shapes"
    saved = plan.naive_bytes / plan.arena_bytes if plan.arena_bytes else 1.0
    return Text.assemble(
        ("memory plan", "bold"),
        f" at {dims} ({report.options}; offsets aligned to {plan.alignment} B)\n",
        f"  arena {nbytes_text(plan.arena_bytes)} = {report.ratio:.3f}x the lower bound "
        f"{nbytes_text(plan.lower_bound)}; naive sum {nbytes_text(plan.naive_bytes)} "
        f"({saved:.1f}x the arena)",
    )


def tensor_table(report: MemoryReport) -> Table:
    steps = len(report.graph.nodes)
    table = Table(
        title="tensors (steps: the node order; in/out: graph inputs/outputs)", title_justify="left"
    )
    for column in ("tensor", "op", "type", "lifetime", "size", "offset", "bytes from"):
        justify: Any = "right" if column in ("size", "offset") else "left"
        table.add_column(column, justify=justify, overflow="fold")  # names whole, never "..."
    for row in report.rows():
        t = row.placement
        offset = "-" if t.offset < 0 else f"{t.offset:,}"
        table.add_row(
            Text(row.name),
            Text(row.op),
            Text(row.type),
            lifetime_text(t, steps),
            nbytes_text(t.nbytes),
            offset,
            Text(row.how),
        )
    return table


def workspace_table(report: MemoryReport) -> Table:
    nodes = list(report.graph.nodes)
    table = Table(title="kernel workspaces (live during their step only)", title_justify="left")
    for column in ("step", "node", "op", "size", "offset"):
        justify: Any = "right" if column in ("step", "size", "offset") else "left"
        table.add_column(column, justify=justify, overflow="fold")
    for step, (offset, nbytes) in sorted(report.plan.workspaces.items()):
        node = nodes[step]
        table.add_row(
            str(step), Text(node.outputs[0].name), Text(node.op), nbytes_text(nbytes), f"{offset:,}"
        )
    return table


def peak_table(report: MemoryReport) -> Table:
    table = Table(title="peak memory after each pass", title_justify="left")
    for column in ("#", "pass", "nodes", "arena", "lower bound", "naive sum", "arena change"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    previous: int | None = None
    for p in report.peaks:
        change = "" if previous is None else _change(p.arena_bytes - previous)
        table.add_row(
            str(p.index),
            Text(p.name),
            str(p.nodes),
            nbytes_text(p.arena_bytes),
            nbytes_text(p.lower_bound),
            nbytes_text(p.naive_bytes),
            change,
        )
        previous = p.arena_bytes
    return table


def _change(delta: int) -> str:
    return "=" if delta == 0 else f"{'+' if delta > 0 else '-'}{abs(delta):,} B"


def memory_lines(report: MemoryReport) -> list[RenderableType]:
    """The terminal view, in reading order."""
    parts: list[RenderableType] = [headline(report), tensor_table(report)]
    if report.plan.workspaces:
        parts.append(workspace_table(report))
    parts.append(peak_table(report))
    return parts


def memory_html(report: MemoryReport) -> str:
    """``section#memory`` for the ``--html`` page: the headline, then ``table.memory-tensors``,
    ``table.memory-workspaces`` and ``table.memory-passes`` (a ``tr`` per tensor, workspace
    and pass, with ``data-`` attributes for tests and scripts)."""
    e = _escape
    steps = len(report.graph.nodes)
    tensors = "".join(
        f'<tr class="tensor" data-tensor="{e(r.name)}" data-offset="{r.placement.offset}" '
        f'data-nbytes="{r.placement.nbytes}"><td><code>%{e(r.name)}</code></td><td>{e(r.op)}</td>'
        f"<td><code>{e(r.type)}</code></td><td>{e(lifetime_text(r.placement, steps))}</td>"
        f"<td class='num'>{e(nbytes_text(r.placement.nbytes))}</td>"
        f"<td class='num'>{'-' if r.placement.offset < 0 else f'{r.placement.offset:,}'}</td>"
        f"<td>{e(r.how)}</td></tr>"
        for r in report.rows()
    )
    nodes = list(report.graph.nodes)
    spaces = "".join(
        f'<tr class="workspace" data-step="{s}"><td class="num">{s}</td>'
        f"<td><code>%{e(nodes[s].outputs[0].name)}</code></td><td>{e(nodes[s].op)}</td>"
        f"<td class='num'>{e(nbytes_text(n))}</td><td class='num'>{o:,}</td></tr>"
        for s, (o, n) in sorted(report.plan.workspaces.items())
    )
    passes = "".join(
        f'<tr class="memory-pass" data-pass="{e(p.name)}" data-arena="{p.arena_bytes}" '
        f'data-lower-bound="{p.lower_bound}"><td class="num">{p.index}</td><td>{e(p.name)}</td>'
        f"<td class='num'>{p.nodes}</td><td class='num'>{e(nbytes_text(p.arena_bytes))}</td>"
        f"<td class='num'>{e(nbytes_text(p.lower_bound))}</td>"
        f"<td class='num'>{e(nbytes_text(p.naive_bytes))}</td></tr>"
        for p in report.peaks
    )
    return (
        '<section id="memory"><h2>Memory plan</h2>'
        f"<p class='totals'>{e(headline(report).plain)}</p>"
        "<h3>Tensors</h3><table class='memory-tensors'><thead><tr><th>tensor</th><th>op</th>"
        "<th>type</th><th>lifetime</th><th class='num'>size</th><th class='num'>offset</th>"
        f"<th>bytes from</th></tr></thead><tbody>{tensors}</tbody></table>"
        "<h3>Kernel workspaces</h3><table class='memory-workspaces'><thead><tr>"
        "<th class='num'>step</th><th>node</th><th>op</th><th class='num'>size</th>"
        f"<th class='num'>offset</th></tr></thead><tbody>{spaces}</tbody></table>"
        "<h3>Peak after each pass</h3><table class='memory-passes'><thead><tr>"
        "<th class='num'>#</th><th>pass</th><th class='num'>nodes</th><th class='num'>arena</th>"
        "<th class='num'>lower bound</th><th class='num'>naive sum</th></tr></thead>"
        f"<tbody>{passes}</tbody></table></section>"
    )


def _escape(text: object) -> str:
    return escape(str(text), quote=True)


__all__ = [
    "MemoryReport",
    "PassPeak",
    "PlanOptions",
    "TensorRow",
    "executor_plan_options",
    "memory_html",
    "memory_lines",
    "memory_report",
    "plan_at",
]
