"""Running a pipeline of passes, instrumented: ``run_pipeline(graph, passes)``.

A pass is a function ``Graph -> PassResult`` that changes the graph in place;
``Pass`` gives it the name pipelines, the CLI and reports use. Every run is
instrumented (it costs a clock read and a node count per pass): each pass's
``PassRecord`` holds its wall time, node counts before and after, and its
``PassResult`` (rewrites, near misses, stats). Optionally:

- ``verify_each``: run the IR verifier after every pass; a pass that breaks
  an invariant raises ``InternalError`` naming the pass (the verifier's
  message and ``loc`` included), instead of a confusing failure later;
- ``capture``: the pass names after which the text IR is kept in the record
  (``--print-after``, ``--html`` diffs); ``"input"`` keeps the IR before the
  first pass too, ``"all"`` the input and the IR after every pass. One name
  may be given as a plain string. A name that is none of these is a
  ``ConfigError`` listing the pipeline's passes (a misspelt name would
  otherwise capture nothing).

A pass that raises anything but a ``NanographError`` has a bug: it becomes an
``InternalError`` naming the pass (the original chained as its cause).
``NanographError``s pass through unchanged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nanograph.ir.errors import ConfigError, InternalError, NanographError
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
        lines = (self.run.__doc__ or "").strip().splitlines()
        return lines[0] if lines else ""


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
        """JSON-ready: plain numbers, strings, lists and dicts (``ir_after`` None if not kept)."""
        return {
            "name": self.name,
            "seconds": self.seconds,
            "nodes_before": self.nodes_before,
            "nodes_after": self.nodes_after,
            **self.result.to_dict(),
            "ir_after": self.ir_after,
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
        """JSON-ready: the records in order, the total time, the rewrites per rule and the
        input IR (``ir_before``, None if not captured)."""
        return {
            "verified_each": self.verified_each,
            "seconds": self.seconds,
            "rewrite_counts": dict(self.rewrite_counts()),
            "ir_before": self.ir_before,
            "passes": [r.to_dict() for r in self.records],
        }


@dataclass
class _Capture:
    names: Collection[str] = field(default_factory=frozenset)

    def wants(self, name: str) -> bool:
        return "all" in self.names or name in self.names


def _capture_names(capture: Collection[str] | str, passes: Sequence[Pass]) -> _Capture:
    names = frozenset((capture,) if isinstance(capture, str) else capture)
    known = {p.name for p in passes}
    unknown = sorted(names - known - {"all", "input"})
    if unknown:
        ran = ", ".join(p.name for p in passes) or "none"
        raise ConfigError(
            f"capture names no pass of this pipeline: {', '.join(unknown)}",
            hint=f'use "all", "input" or a pass name; this pipeline runs: {ran}',
        )
    return _Capture(names)


def run_pipeline(
    graph: Graph,
    passes: Sequence[Pass],
    *,
    verify_each: bool = False,
    capture: Collection[str] | str = (),
) -> PipelineReport:
    """Run ``passes`` on ``graph`` in place, in order; the instrumented report."""
    want = _capture_names(capture, passes)
    ir_before = print_graph(graph) if want.wants("input") else None
    records = []
    for p in passes:
        before = len(graph.nodes)
        start = time.perf_counter()
        result = _run_one(p, graph)
        seconds = time.perf_counter() - start
        if verify_each:
            _verify_after(graph, p.name)
        ir_after = print_graph(graph) if want.wants(p.name) else None
        records.append(PassRecord(p.name, seconds, before, len(graph.nodes), result, ir_after))
    return PipelineReport(tuple(records), ir_before, verify_each)


def _run_one(p: Pass, graph: Graph) -> PassResult:
    try:
        result = p.run(graph)
    except NanographError:
        raise
    except Exception as err:
        raise InternalError(
            f"pass {p.name} crashed: {type(err).__name__}: {err}",
            hint="this is a bug in the pass; compile at a lower level to work around it",
        ) from err
    if not isinstance(result, PassResult):
        raise InternalError(
            f"pass {p.name} returned {type(result).__name__}, not a PassResult",
            hint="a pass returns PassResult(changed, stats) describing what it did",
        )
    return result


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
