"""The compiled graph as Graphviz text: ``graph_to_dot(graph, title)``.

- Graph inputs and outputs are ellipses; each node is a box labelled with
  its op, its first output's name and its source location; each edge is a
  value, labelled with its type.
- Fused nodes (``get_op(op).is_fused``) are filled and bold
  (``style="rounded,filled,bold"``, ``fillcolor``, ``penwidth=2``) and carry
  ``class="fused"``, so they stand out in the drawing and can be found in
  the text.
- Constants (weights) are not drawn: a node's label says how many it reads.
- Node ids are ``in0``, ``n0``, ``out0`` ...; every label and attribute is
  a double-quoted string with ``\\`` and ``"`` escaped and line breaks as
  ``\\n``, so any model name is safe.

Render it with ``dot -Tsvg model.dot -o model.svg``.
"""

from __future__ import annotations

from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops import get_op

FUSED_FILL = "#ffd27f"


def dot_quote(text: str) -> str:
    """``text`` as a DOT double-quoted string (line breaks become ``\\n``)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{key}={dot_quote(value)}" for key, value in attrs.items()) + "]"


def _label(*lines: str) -> str:
    # A line's own line breaks become spaces: only the separators break the label.
    return "\n".join(line.replace("\n", " ") for line in lines if line)


def graph_to_dot(graph: Graph, title: str = "") -> str:
    """Graphviz ``digraph`` text of ``graph`` (see the module docstring)."""
    lines = [
        f"digraph {dot_quote(graph.name)} {{",
        f"  graph {_attrs(rankdir='TB', label=title or graph.name, labelloc='t')};",
        f"  node {_attrs(shape='box', style='rounded', fontname='Helvetica', fontsize='10')};",
        f"  edge {_attrs(fontname='Helvetica', fontsize='9', color='#555555')};",
    ]
    ids: dict[int, str] = {}
    for i, value in enumerate(graph.inputs):
        ids[id(value)] = f"in{i}"
        label = _label(f"input %{value.name}", str(value.type))
        lines.append(f"  in{i} {_attrs(label=label, shape='ellipse')};")
    edges: list[str] = []
    for i, node in enumerate(graph.nodes):
        node_id = f"n{i}"
        constants = sum(1 for v in node.inputs if v.producer is None and v.const is not None)
        reads = f"{constants} constant{'s' if constants != 1 else ''}" if constants else ""
        outputs = ", ".join(f"%{v.name}" for v in node.outputs)
        label = _label(f"{node.op} {outputs}", reads, node.loc)
        lines.append(f"  {node_id} {_node_style(node.op, label)};")
        for value in node.inputs:
            source = ids.get(id(value))
            if source is not None:
                edges.append(f"  {source} -> {node_id} {_edge(value)};")
        for value in node.outputs:
            ids[id(value)] = node_id
    for i, value in enumerate(graph.outputs):
        label = _label(f"output %{value.name}", str(value.type))
        lines.append(f"  out{i} {_attrs(label=label, shape='ellipse', style='dashed')};")
        source = ids.get(id(value))
        if source is not None:
            edges.append(f"  {source} -> out{i} {_edge(value)};")
    return "\n".join([*lines, *edges, "}"]) + "\n"


def _node_style(op: str, label: str) -> str:
    if get_op(op).is_fused:
        return _attrs(
            label=label,
            style="rounded,filled,bold",
            fillcolor=FUSED_FILL,
            penwidth="2",
            tooltip=f"fused op {op}: {get_op(op).doc}",
            **{"class": "fused"},
        )
    return _attrs(label=label)


def _edge(value: Value) -> str:
    return _attrs(label=str(value.type), tooltip=f"%{value.name}")


__all__ = ["FUSED_FILL", "dot_quote", "graph_to_dot"]
