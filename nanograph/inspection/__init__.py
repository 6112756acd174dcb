"""``nanograph inspect``: what each pass did to a model, and why a fusion did not fire.

- ``collect``: ``inspect_graph(graph, level, dims=...)`` runs the level's
  passes with the IR captured around each one -> ``Inspection``;
- ``summary``: nodes, parameters, FLOPs and activation memory of a graph;
- ``terminal``: the rich tables and lines the command prints;
- ``print_after``: ``--print-after PASS`` / ``--print-after-all``;
- ``ir_diff``: the line diff of two IR texts (``difflib``);
- ``dot``: the compiled graph as Graphviz text, fused nodes marked;
- ``html`` (with ``html_assets``): one self-contained page with all of it.

Every view reads the same ``Inspection``; none runs a pass itself.
"""

from nanograph.inspection.collect import Inspection, inspect_graph
from nanograph.inspection.dot import graph_to_dot
from nanograph.inspection.html import inspection_html
from nanograph.inspection.print_after import ALL, check_pass_names, ir_dumps
from nanograph.inspection.summary import GraphSummary, summarize_graph
from nanograph.inspection.terminal import print_inspection

__all__ = [
    "ALL",
    "GraphSummary",
    "Inspection",
    "check_pass_names",
    "graph_to_dot",
    "inspect_graph",
    "inspection_html",
    "ir_dumps",
    "print_inspection",
    "summarize_graph",
]
