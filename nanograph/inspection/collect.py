"""``inspect_graph``: run one level's passes with everything captured, for the views.

An ``Inspection`` is what every view of ``nanograph inspect`` (terminal,
``--print-after``, ``--dot``, ``--html``, ``--json``) reads: the
instrumented ``PipelineReport`` with the text IR before the first pass and
after every pass, the compiled graph, and the summaries of the graph before
and after. The views compute nothing about the passes themselves.

The caller's graph is not changed (``nanograph.api.optimize`` works on a
copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nanograph.api import optimize, pipeline
from nanograph.inspection.summary import GraphSummary, summarize_graph
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph
from nanograph.passes.manager import PassRecord, PipelineReport


@dataclass(frozen=True)
class Inspection:
    """One model through one level's passes: the report, the result and their summaries.

    ``dims`` are the bindings the sizes in ``before``/``after`` are given at;
    ``graph`` is the compiled graph (the pipeline's own copy); ``pass_summaries``
    say what each pass of the pipeline does (the first line of its docstring).
    """

    model: str
    level: str
    dims: Mapping[str, int]
    report: PipelineReport
    graph: Graph
    before: GraphSummary
    after: GraphSummary
    ir_input: str
    pass_summaries: tuple[str, ...] = ()

    @property
    def records(self) -> tuple[PassRecord, ...]:
        return self.report.records

    def ir_before(self, index: int) -> str:
        """The text IR that pass ``index`` (0-based, in pipeline order) was given."""
        if index == 0:
            return self.ir_input
        return _captured(self.records[index - 1])

    def ir_after(self, index: int) -> str:
        """The text IR that pass ``index`` left."""
        return _captured(self.records[index])

    @property
    def ir_final(self) -> str:
        return self.ir_after(len(self.records) - 1) if self.records else self.ir_input

    def to_dict(self) -> dict[str, Any]:
        """The report (``PipelineReport.to_dict``) and both summaries, as JSON-ready data."""
        return {
            "model": self.model,
            "level": self.level,
            "dims": dict(self.dims),
            "seconds": self.report.seconds,
            **self.report.to_dict(),
            "summary": {"input": self.before.to_dict(), "final": self.after.to_dict()},
        }


def _captured(record: PassRecord) -> str:
    if record.ir_after is None:  # inspect_graph captures every pass; anything else is a bug
        raise ValueError(f"the IR after pass {record.name} was not captured")
    return record.ir_after


def inspect_graph(
    graph: Graph,
    level: str,
    *,
    dims: Mapping[str, int],
    model: str | None = None,
    verify_each: bool = False,
    backend: str | None = None,
) -> Inspection:
    """Run ``level``'s passes on a copy of ``graph``, capturing the IR around every pass.

    ``dims`` bind the symbols for the summaries' sizes; ``verify_each`` runs
    the verifier after every pass (``InternalError`` naming a pass that broke
    the graph); ``backend`` picks the pipeline variant (at O3 the NumPy backends add
    layout planning; None: the backend-neutral pipeline, as the ONNX export runs).
    ``ConfigError`` for an unknown level or backend.
    """
    work, report = optimize(
        graph, level, backend=backend, verify_each=verify_each, capture=("input", "all")
    )
    return Inspection(
        model=model or graph.name,
        level=level,
        dims=dict(dims),
        report=report,
        graph=work,
        before=summarize_graph(graph, dims),
        after=summarize_graph(work, dims),
        ir_input=report.ir_before if report.ir_before is not None else print_graph(graph),
        pass_summaries=tuple(p.summary for p in pipeline(level, backend)),
    )


__all__ = ["Inspection", "inspect_graph"]
