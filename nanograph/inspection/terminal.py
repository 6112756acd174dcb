"""The terminal view of an ``Inspection``: rich tables and lines, in reading order.

1. the pipeline: one row per pass run (time, nodes before -> after, its
   counters: rewrites by rule and other stats);
2. every rewrite: rule, the nodes it matched -> what replaced them, and the
   source locations of the replaced nodes;
3. every near miss: rule, anchor node and its location, how far the pattern
   matched (x/y ops) and why it stopped, in the rule's words;
4. the graph before and after: nodes, fused nodes, parameters, FLOPs and
   activation memory at the bound dims; then nodes per op.

Rewrites and near misses are lines, not table cells, so a long reason or
location is never wrapped mid-word and can be copied whole. Everything that
comes from the model is a ``Text``, never markup, so a name like ``[bold]``
prints as itself.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from nanograph.inspection.collect import Inspection
from nanograph.inspection.summary import GraphSummary, Size
from nanograph.model_cost import human


def render(inspection: Inspection) -> list[RenderableType]:
    """Every part of the terminal view, in order."""
    return [
        headline(inspection),
        pipeline_table(inspection),
        rewrite_lines(inspection),
        near_miss_lines(inspection),
        summary_table(inspection),
        op_table(inspection),
    ]


def print_inspection(console: Console, inspection: Inspection) -> None:
    for part in render(inspection):
        console.print(part)


def headline(inspection: Inspection) -> Text:
    report = inspection.report
    verified = "; IR verified after each pass" if report.verified_each else ""
    return Text.assemble(
        (f"{inspection.model}", "bold"),
        f" at {inspection.level}: {count_text(len(report.records), 'pass')}, "
        f"{inspection.before.nodes} -> {inspection.after.nodes} nodes, "
        f"{milliseconds(report.seconds)}{verified}",
    )


def count_text(n: int, noun: str) -> str:
    """``1 pass``, ``3 passes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


def pipeline_table(inspection: Inspection) -> Table:
    table = Table(title=f"passes of {inspection.level}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("pass")
    table.add_column("time", justify="right")
    table.add_column("nodes", justify="right")
    table.add_column("rewrites and stats")
    for index, record in enumerate(inspection.records, 1):
        table.add_row(
            str(index),
            Text(record.name),
            milliseconds(record.seconds),
            f"{record.nodes_before} -> {record.nodes_after}",
            Text(stats_text(record.result.stats) or "-"),
        )
    if not inspection.records:
        table.add_row("", Text(f"(level {inspection.level} runs no passes)"), "", "", "")
    return table


def stats_text(stats: Any) -> str:
    """``rule x2, dead nodes x1``: a pass's counters, largest first."""
    return ", ".join(f"{name} x{n}" for name, n in stats.most_common())


def rewrite_lines(inspection: Inspection) -> Group:
    rewrites = [(rec.name, r) for rec in inspection.records for r in rec.result.rewrites]
    lines: list[RenderableType] = [Text(f"rewrites ({len(rewrites)})", style="bold")]
    for pass_name, rewrite in rewrites:
        made = ", ".join(rewrite.produced) or "nothing (removed)"
        lines.append(
            Text.assemble(
                "  ",
                (pass_name, "cyan"),
                "  ",
                (rewrite.rule, "bold"),
                f": {' + '.join(rewrite.matched)} -> {made}",
            )
        )
        where = ", ".join(rewrite.locations) or "(no source location)"
        lines.append(Text(f"      at {where}", style="dim"))
    if not rewrites:
        lines.append(Text("  none: no rule fired", style="dim"))
    return Group(*lines)


def near_miss_lines(inspection: Inspection) -> Group:
    misses = [(rec.name, m) for rec in inspection.records for m in rec.result.near_misses]
    title = f"near misses ({len(misses)}): rules that began to match, and why they stopped"
    lines: list[RenderableType] = [Text(title, style="bold")]
    for pass_name, miss in misses:
        where = f" ({miss.location})" if miss.location else ""
        lines.append(
            Text.assemble(
                "  ",
                (pass_name, "cyan"),
                "  ",
                (miss.rule, "bold"),
                f" at {miss.anchor_op} %{miss.anchor}{where}: matched {miss.matched}/{miss.total}",
            )
        )
        lines.append(Text.assemble("      why: ", (miss.reason, "yellow")))
    if not misses:
        lines.append(Text("  none", style="dim"))
    return Group(*lines)


def summary_table(inspection: Inspection) -> Table:
    dims = ", ".join(f"{k}={v}" for k, v in inspection.dims.items())
    title = "graph before and after the passes" + (f" (at {dims})" if dims else "")
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("input", justify="right")
    table.add_column("final", justify="right")
    for label, before, after in summary_rows(inspection.before, inspection.after):
        table.add_row(label, before, after)
    return table


def summary_rows(before: GraphSummary, after: GraphSummary) -> list[tuple[str, str, str]]:
    """(what, input, final) for each headline number; shared with the HTML page."""
    rows = [
        ("nodes", str(before.nodes), str(after.nodes)),
        ("fused nodes", str(before.fused_nodes), str(after.fused_nodes)),
        ("constants", str(before.constants), str(after.constants)),
    ]
    for label, attr, unit in (
        ("parameters", "parameters", ""),
        ("parameter memory", "parameter_bytes", "B"),
        ("FLOPs", "flops", ""),
        ("activations (all node outputs)", "activation_bytes", "B"),
        ("activations, peak live", "peak_activation_bytes", "B"),
    ):
        rows.append(
            (label, size_text(getattr(before, attr), unit), size_text(getattr(after, attr), unit))
        )
    return rows


def op_table(inspection: Inspection) -> Table:
    table = Table(title="nodes per op (* fused)", title_justify="left")
    table.add_column("op")
    table.add_column("input", justify="right")
    table.add_column("final", justify="right")
    for op, before, after, fused in op_rows(inspection.before, inspection.after):
        table.add_row(
            Text(op + (" *" if fused else ""), style="bold" if fused else ""), before, after
        )
    return table


def op_rows(before: GraphSummary, after: GraphSummary) -> list[tuple[str, str, str, bool]]:
    """(op, count in input, count in final, is fused): final graph's order, then gone ops."""
    old, new = dict(before.op_counts), dict(after.op_counts)
    fused = set(before.fused_ops) | set(after.fused_ops)
    order = [op for op, _ in after.op_counts] + [op for op, _ in before.op_counts if op not in new]
    return [(op, str(old.get(op, 0)), str(new.get(op, 0)), op in fused) for op in order]


def size_text(size: Size, unit: str = "") -> str:
    """``1.23M`` (``1.23MB`` with unit ``B``); a symbolic size as its expression."""
    return human(size, unit) if isinstance(size, int) else size


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


__all__ = [
    "count_text",
    "near_miss_lines",
    "op_rows",
    "pipeline_table",
    "print_inspection",
    "render",
    "rewrite_lines",
    "size_text",
    "summary_rows",
    "summary_table",
]
