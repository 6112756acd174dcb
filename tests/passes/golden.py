"""Running one pass on a hand-written graph, for golden text tests.

``run_text(p, text)`` parses ``text`` (the IR text form, constants inline),
runs pass ``p`` through the pipeline runner with the verifier after it, and
returns the printed graph and the pass's result; ``run_graph(p, graph)`` does
the same on a graph in place. ``rewrites`` and ``misses`` give the records as
the report prints them, so tests compare words.
"""

from __future__ import annotations

from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph, print_graph
from nanograph.passes.manager import Pass, run_pipeline
from nanograph.passes.records import PassResult


def run_graph(p: Pass, graph: Graph) -> PassResult:
    """Run ``p`` on ``graph`` in place, verifying the graph after it."""
    return run_pipeline(graph, [p], verify_each=True).records[0].result


def run_text(p: Pass, text: str) -> tuple[str, PassResult]:
    """The printed graph after ``p`` ran on ``parse_graph(text)``, and what ``p`` reported."""
    graph = parse_graph(text)
    result = run_graph(p, graph)
    return print_graph(graph), result


def rewrites(result: PassResult) -> list[str]:
    return [str(r) for r in result.rewrites]


def misses(result: PassResult) -> list[str]:
    return [str(m) for m in result.near_misses]
