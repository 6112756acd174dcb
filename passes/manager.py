"""Running a pipeline of passes, instrumented: ``run_pipeline(graph, passes)``.

A pass is a function ``Graph -> PassResult`` that changes the graph in place;
``Pass`` gives it the name pipelines, the CLI and reports use. Every run is
instrumented (it costs a clock read and a node count per pass): each pass's
``PassRecord`` holds its wall time, node counts before and after, and its
``PassResult`` (rewrites, near misses, stats). Optionally:

- ``verify_each``: run the IR verifier after every pass; a pass that breaks
  an invariant raises ``InternalError`` naming the pass (the verifier's
  message and ``loc`` included), instead of a confusing failure later;
- ``capture``: the pass names (or ``"all"``) after which the text IR is kept
  in the record (``--print-after``, ``--html`` diffs); ``"input"`` in the
  set keeps the IR before the first pass too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nanograph.ir.errors import InternalError, NanographError
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph
from nanograph.ir.verify import verify
from nanograph.passes.records import NearMiss, PassResult, Rewrite


class Pass(NamedTuple):
    """A named pass; ``run(graph)`` mutates ``graph`` and says what it did.

    What the pass does is the first line of ``run``'s docstring (``summary``).
    """

    name: str
    run: Callable[[Graph], PassResult]

    @property
    def summary(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0] if self.run.__doc__ else ""


@dataclass(frozen=True)
class PassRecord:
    """One pass's run: time, node counts, its result, and the IR after it if captured."""

    name: str
    seconds: float
    nodes_before: int
    nodes_after: int
    result: PassResult
    ir_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seconds": self.seconds,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            **self.result.to_dict(),
        }


@dataclass(frozen=True)
class PipelineReport:
    """All passes of one compile, in order; ``ir_before`` if the input IR was captured."""

    records: tuple[PassRecord, ...] = ()
    ir_before: str | None = None
    verified_each: bool = False

    @property
    def rewrites(self) -> list[Rewrite]:
        return [r for rec in self.records for r in rec.result.rewrites]

    @property
    def near_misses(self) -> list[NearMiss]:
        return [m for rec in self.records for m in rec.result.near_misses]

    def rewrite_counts(self) -> Counter[str]:
        """How many times each rule fired, over the whole pipeline."""
        return Counter(r.rule for r in self.rewrites)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def record(self, name: str) -> PassRecord:
        """The record of pass ``name`` (the first, if it ran more than once)."""
        for rec in self.records:
            if rec.name == name:
                return rec
        raise KeyError(f"no pass {name!r} ran; ran: {', '.join(r.name for r in self.records)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified_each": self.verified_each,
            "passes": [r.to_dict() for r in self.records],
        }


@dataclass
class _Capture:
    names: Collection[str] = field(default_factory=frozenset)

    def wants(self, name: str) -> bool:
        return "all" in self.names or name in self.names


def run_pipeline(
    graph: Graph,
    passes: Sequence[Pass],
    *,
    verify_each: bool = False,
    capture: Collection[str] = (),
) -> PipelineReport:
    """Run ``passes`` on ``graph`` in place, in order; the instrumented report."""
    want = _Capture(frozenset(capture))
    ir_before = print_graph(graph) if want.wants("input") else None
    records = []
    for p in passes:
        before = len(graph.nodes)
        start = time.perf_counter()
        result = p.run(graph)
        seconds = time.perf_counter() - start
        if verify_each:
            _verify_after(graph, p.name)
        ir_after = print_graph(graph) if want.wants(p.name) else None
        records.append(PassRecord(p.name, seconds, before, len(graph.nodes), result, ir_after))
    return PipelineReport(tuple(records), ir_before, verify_each)


def _verify_after(graph: Graph, name: str) -> None:
    try:
        verify(graph)
    except NanographError as err:
        raise InternalError(
            f"pass {name} left a broken graph: {err.message}",
            loc=err.loc,
            hint="this is a bug in the pass; compile at a lower level to work around it",
        ) from err


__all__ = ["Pass", "PassRecord", "PipelineReport", "run_pipeline"]
