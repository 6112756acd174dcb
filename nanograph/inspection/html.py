"""The ``--html`` page: one self-contained file showing what every pass did.

``inspection_html(inspection)`` returns the page; it needs nothing else: the
style and script are inline (``html_assets``), there are no links or
sources other than ``#fragment`` links within the page, and a
Content-Security-Policy forbids loading anything (``default-src 'none'``).
Every string from the model (names, locations, IR text, reasons) is
HTML-escaped.

Structure (stable ids and classes, for people linking to a pass and for
tests):

- ``#pipeline``: a table with a ``tr.pass-row`` per pass run (time, nodes
  before -> after, its counters), linking to the pass's section;
- ``section.pass#pass-NAME`` per pass run (``NAME`` is the pass name with
  ``_`` as ``-``, ``-2``, ``-3`` ... appended when a pass runs again), with
  ``data-pass``, ``data-index``, ``data-changed``, ``data-rewrites`` and
  ``data-near-misses``; inside: ``li.rewrite`` per rewrite, ``li.near-miss``
  per near miss, and ``div.diff`` with the unified diff of the IR before ->
  after the pass (``tr.added``/``tr.removed``/``tr.context``/``tr.hunk``),
  or ``p.no-change`` where the pass left the IR as it was;
- ``section#memory`` where the caller adds it (``inspect --memory``: see
  ``memory.memory_html``), before the summary;
- ``#summary``: the graph before and after (``table.summary``, ``table.ops``,
  fused ops marked ``.fused``), and ``details#input-ir``/``#final-ir``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from nanograph.inspection.collect import Inspection
from nanograph.inspection.html_assets import SCRIPT, STYLE
from nanograph.inspection.ir_diff import DiffLine, count_changes, ir_diff
from nanograph.inspection.terminal import (
    count_text,
    milliseconds,
    op_rows,
    stats_text,
    summary_rows,
)
from nanograph.passes.manager import PassRecord
from nanograph.passes.records import NearMiss, Rewrite

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def inspection_html(inspection: Inspection, extra_sections: Sequence[str] = ()) -> str:
    """The whole page (see the module docstring); ``extra_sections`` (HTML, already escaped,
    e.g. ``memory.memory_html``) go between the pass sections and ``#summary``."""
    ids = pass_ids([r.name for r in inspection.records])
    title = f"nanograph inspect: {inspection.model} at {inspection.level}"
    sections = [
        _pass_section(inspection, i, record, ids[i]) for i, record in enumerate(inspection.records)
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            '<body data-ready="false">',
            _header(inspection),
            _pipeline(inspection, ids),
            *sections,
            *extra_sections,
            _summary(inspection),
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
        ]
    )


def pass_ids(names: list[str]) -> list[str]:
    """``pass-NAME`` per pass run, unique: a repeated pass gets ``-2``, ``-3``, ..."""
    seen: dict[str, int] = {}
    ids = []
    for name in names:
        slug = "pass-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed")
        seen[slug] = seen.get(slug, 0) + 1
        ids.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return ids


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _header(inspection: Inspection) -> str:
    report = inspection.report
    verified = "; the IR was verified after each pass" if report.verified_each else ""
    dims = ", ".join(f"{k}={v}" for k, v in inspection.dims.items()) or "no symbols"
    return (
        f"<header><h1>{_e(inspection.model)} <span class='muted'>at "
        f"{_e(inspection.level)}</span></h1>\n"
        f"<p class='totals'>{_e(count_text(len(report.records), 'pass'))}, "
        f"{inspection.before.nodes} "
        f"&rarr; {inspection.after.nodes} nodes, {_e(milliseconds(report.seconds))}"
        f"{_e(verified)}; sizes at {_e(dims)}</p>\n"
        '<nav id="toc" aria-label="passes"></nav>\n'
        '<label><input type="checkbox" id="only-changed" disabled> '
        "only the passes that changed the IR</label></header>"
    )


def _pipeline(inspection: Inspection, ids: list[str]) -> str:
    rows = []
    for i, record in enumerate(inspection.records):
        changed = inspection.ir_before(i) != inspection.ir_after(i)
        rows.append(
            f'<tr class="pass-row{" changed" if changed else ""}" data-pass="{_e(record.name)}">'
            f'<td class="num">{i + 1}</td><td><a href="#{ids[i]}">{_e(record.name)}</a></td>'
            f'<td class="num">{_e(milliseconds(record.seconds))}</td>'
            f'<td class="num">{record.nodes_before} &rarr; {record.nodes_after}</td>'
            f"<td>{_e(stats_text(record.result.stats) or '-')}</td></tr>"
        )
    if not rows:
        rows.append(f'<tr><td colspan="5">level {_e(inspection.level)} runs no passes</td></tr>')
    return (
        '<section id="pipeline"><h2>Pipeline</h2><table class="pipeline">'
        '<thead><tr><th class="num">#</th><th>pass</th><th class="num">time</th>'
        '<th class="num">nodes</th><th>rewrites and stats</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _pass_section(inspection: Inspection, index: int, record: PassRecord, anchor: str) -> str:
    before, after = inspection.ir_before(index), inspection.ir_after(index)
    result = record.result
    summary = inspection.pass_summaries[index] if index < len(inspection.pass_summaries) else ""
    data = (
        f'data-pass="{_e(record.name)}" data-index="{index + 1}" '
        f'data-changed="{"true" if before != after else "false"}" '
        f'data-rewrites="{len(result.rewrites)}" data-near-misses="{len(result.near_misses)}"'
    )
    return "\n".join(
        [
            f'<section class="pass" id="{anchor}" {data}>',
            f"<h2>{index + 1}. {_e(record.name)}</h2>",
            f"<p class='muted'>{_e(summary.replace('``', ''))}</p>" if summary else "",
            f"<p class='pass-meta'>{_e(milliseconds(record.seconds))}, "
            f"{record.nodes_before} &rarr; {record.nodes_after} nodes; "
            f"{_e(stats_text(result.stats) or 'no counters')}</p>",
            _rewrites(result.rewrites),
            _near_misses(result.near_misses),
            _diff(before, after),
            "</section>",
        ]
    )


def _rewrites(rewrites: list[Rewrite]) -> str:
    if not rewrites:
        return "<h3>Rewrites (0)</h3><p class='muted'>No rule fired.</p>"
    items = []
    for r in rewrites:
        made = ", ".join(r.produced) or "nothing (removed)"
        where = ", ".join(r.locations) or "no source location"
        items.append(
            f'<li class="rewrite" data-rule="{_e(r.rule)}"><span class="rule">{_e(r.rule)}</span>: '
            f"<code>{_e(' + '.join(r.matched))}</code> &rarr; <code>{_e(made)}</code> "
            f'<span class="loc">at {_e(where)}</span></li>'
        )
    return f'<h3>Rewrites ({len(rewrites)})</h3><ol class="rewrites">{"".join(items)}</ol>'


def _near_misses(misses: list[NearMiss]) -> str:
    if not misses:
        return "<h3>Near misses (0)</h3><p class='muted'>None.</p>"
    items = []
    for m in misses:
        where = f' <span class="loc">({_e(m.location)})</span>' if m.location else ""
        items.append(
            f'<li class="near-miss" data-rule="{_e(m.rule)}" data-matched="{m.matched}" '
            f'data-total="{m.total}"><span class="rule">{_e(m.rule)}</span> at '
            f"<code>{_e(m.anchor_op)} %{_e(m.anchor)}</code>{where}: matched "
            f'{m.matched}/{m.total} ops, then <span class="reason">{_e(m.reason)}</span></li>'
        )
    return f'<h3>Near misses ({len(misses)})</h3><ul class="near-misses">{"".join(items)}</ul>'


def _diff(before: str, after: str) -> str:
    if before == after:
        return "<h3>IR diff</h3><p class='no-change'>The IR is unchanged.</p>"
    lines = ir_diff(before, after)
    removed, added = count_changes(lines)
    rows = "".join(_diff_row(line) for line in lines)
    return (
        f"<h3>IR diff <span class='muted'>(-{removed} +{added} lines)</span></h3>"
        f'<div class="diff" data-removed="{removed}" data-added="{added}">'
        f'<table class="code">{rows}</table></div>'
    )


_SIGNS = {"hunk": "", "context": " ", "removed": "-", "added": "+"}


def _diff_row(line: DiffLine) -> str:
    old = "" if line.old is None else str(line.old)
    new = "" if line.new is None else str(line.new)
    return (
        f'<tr class="{line.kind}"><td class="ln">{old}</td><td class="ln">{new}</td>'
        f'<td class="sign">{_SIGNS[line.kind]}</td><td class="code">{_e(line.text)}</td></tr>'
    )


def _summary(inspection: Inspection) -> str:
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td class='num'>{_e(b)}</td><td class='num'>{_e(a)}</td></tr>"
        for label, b, a in summary_rows(inspection.before, inspection.after)
    )
    ops = "".join(
        f'<tr class="{"fused" if fused else "op"}" data-op="{_e(op)}"><td>{_e(op)}'
        f"{' (fused)' if fused else ''}</td><td class='num'>{b}</td><td class='num'>{a}</td></tr>"
        for op, b, a, fused in op_rows(inspection.before, inspection.after)
    )
    head = "<thead><tr><th></th><th class='num'>input</th><th class='num'>final</th></tr></thead>"
    return (
        '<section id="summary"><h2>The graph before and after</h2>'
        f'<table class="summary">{head}<tbody>{rows}</tbody></table>'
        f'<h3>Nodes per op</h3><table class="ops">{head}<tbody>{ops}</tbody></table>'
        f'<details id="input-ir"><summary>Input IR</summary><pre>{_e(inspection.ir_input)}</pre>'
        f'</details><details id="final-ir"><summary>Final IR</summary>'
        f"<pre>{_e(inspection.ir_final)}</pre></details></section>"
    )


__all__ = ["CSP", "inspection_html", "pass_ids"]
