"""Diagnosing an ONNX graph whose nodes are not in topological order.

``onnx.checker`` refuses such a graph with a message that names the value but
not the node (``input 'b' of node: ``, then the node on a later line). Before
the checker runs, ``check_node_order(graph, source)`` finds the first node
that uses a value not yet defined and raises an ``OnnxLoadError`` located at
that node (its ONNX name, or ``node <op>_<index>`` as everywhere in the
importer) that says which of three cases it is:

- the value is made by no node and is neither a graph input nor an
  initializer (the model is incomplete);
- the nodes form a cycle (named node by node, with the values on it);
- the value is made by a later node (the nodes are merely out of order).

Only the main graph is checked: subgraphs (``If``, ``Loop``) may use values
of the enclosing scope, and the importer refuses them anyway.
"""

from __future__ import annotations

import networkx as nx
import onnx

from nanograph.ir.errors import OnnxLoadError


def node_loc(node: onnx.NodeProto, index: int) -> str:
    """The importer's ``loc`` of a node (as ``unsupported.node_loc``, which imports
    ``loading`` and so cannot be imported here)."""
    return node.name or f"node {node.op_type}_{index}"


def _label(node: onnx.NodeProto, index: int) -> str:
    """``node 'n1' (Add, #0)``, or ``node #0 (Add)`` for an unnamed node."""
    if node.name:
        return f"node {node.name!r} ({node.op_type}, #{index})"
    return f"node #{index} ({node.op_type})"


def _cycle(graph: onnx.GraphProto, producer: dict[str, int], user: int, maker: int) -> list[int]:
    """Indices of the nodes on a cycle ``user -> ... -> maker -> user``, or ``[]`` when
    ``maker`` does not depend on ``user``."""
    deps = nx.DiGraph()
    deps.add_nodes_from(range(len(graph.node)))
    for i, node in enumerate(graph.node):
        deps.add_edges_from((producer[n], i) for n in node.input if n in producer)
    try:
        return list(nx.shortest_path(deps, user, maker))
    except nx.NetworkXNoPath:
        return []


def check_node_order(graph: onnx.GraphProto, source: str) -> None:
    """Raise ``OnnxLoadError`` at the first node using a value not defined before it."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {t.values.name for t in graph.sparse_initializer}
    producer: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for name in node.output:
            producer.setdefault(name, i)
    for i, node in enumerate(graph.node):
        for name in node.input:
            if not name or name in defined:
                continue
            user = _label(node, i)
            if name not in producer:
                raise OnnxLoadError(
                    f"{source} is not a valid ONNX model: input {name!r} of {user} is not "
                    "a graph input, "
                    "an initializer, nor the output of any node",
                    loc=node_loc(node, i),
                    hint="the model is incomplete: fix the exporter, or add the missing "
                    "input, initializer or node",
                )
            j = producer[name]
            cycle = _cycle(graph, producer, i, j)
            if cycle:
                ring = " -> ".join(_label(graph.node[k], k) for k in [*cycle, i])
                raise OnnxLoadError(
                    f"{source} is not a valid ONNX model: its nodes form a cycle, {ring}: "
                    f"{user} uses {name!r}, which depends on its own output",
                    loc=node_loc(node, i),
                    hint="an ONNX graph must be acyclic; fix the exporter (loops are "
                    "written with the Loop op)",
                )
            raise OnnxLoadError(
                f"{source} is not a valid ONNX model: {user} uses {name!r} before "
                f"{_label(graph.node[j], j)} computes it; ONNX requires the nodes in "
                "topological order",
                loc=node_loc(node, i),
                hint="reorder model.graph.node so each node follows the producers of its "
                "inputs (or fix the exporter)",
            )
        defined.update(n for n in node.output if n)


__all__ = ["check_node_order"]
