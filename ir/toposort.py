"""Dependency graph of a ``Graph``'s nodes, topological order, and cycle reports.

Uses networkx for the graph algorithms (cycle finding names the cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from nanograph.ir.errors import VerificationError

if TYPE_CHECKING:
    from nanograph.ir.graph import Graph, Node


def dependency_graph(graph: Graph) -> nx.DiGraph:
    """A DiGraph with an edge producer -> user for every value passed between nodes."""
    dg = nx.DiGraph()
    nodes = list(graph.nodes)
    dg.add_nodes_from(range(len(nodes)))
    index = {id(n): i for i, n in enumerate(nodes)}
    for i, node in enumerate(nodes):
        for v in node.inputs:
            p = v.producer
            if p is not None and id(p) in index:
                dg.add_edge(index[id(p)], i)
    dg.graph["nodes"] = nodes
    return dg


def describe_cycle(graph: Graph) -> str | None:
    """``None`` if the node graph is acyclic, else the cycle in words."""
    dg = dependency_graph(graph)
    try:
        cycle = nx.find_cycle(dg)
    except nx.NetworkXNoCycle:
        return None
    nodes = dg.graph["nodes"]
    steps = [f"%{nodes[a].outputs[0].name} ({nodes[a].op})" for a, _ in cycle]
    return " -> ".join([*steps, steps[0]])


def topological_order(graph: Graph) -> list[Node]:
    """Nodes in a topological order that keeps the current order where it can."""
    dg = dependency_graph(graph)
    nodes: list[Node] = dg.graph["nodes"]
    try:
        order = list(nx.lexicographical_topological_sort(dg))
    except nx.NetworkXUnfeasible:
        cycle = describe_cycle(graph)
        raise VerificationError(
            f"graph {graph.name} has a cycle: {cycle}",
            hint="a value cannot depend on itself; check the rewrite that created this edge",
        ) from None
    return [nodes[i] for i in order]
