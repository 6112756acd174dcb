"""``verify(graph)``: check the IR invariants; raise ``VerificationError`` on the first break.

Checked in this order, so each report names the root problem (a cycle is
reported as a cycle, not as the use-before-definition it also causes):

1. structure: every listed node belongs to the graph; graph inputs and
   constants have no producer and constants are stored under their own name;
   a value is the output of exactly one node (SSA); value names are unique;
   constant data matches its declared type; no static dim is negative (a
   ``TensorType`` refuses one when built; this catches one patched in after);
2. no cycles (networkx ``find_cycle``; the message names the cycle's values);
3. every node input is defined before use (a graph input, a constant, or the
   output of an earlier node), and none is dangling (from outside the graph);
4. use-lists equal the uses by nodes in the graph;
5. per node: the op exists, its attributes validate against the op's specs
   and are normalized, and its output types equal re-inference;
6. graph outputs are defined in the graph.

Every error carries the offending node's ``loc`` where there is one.
"""

from __future__ import annotations

from collections import Counter

import networkx as nx

from nanograph.ir.errors import NanographError, VerificationError
from nanograph.ir.graph import Graph, Node, Value, infer_node_types
from nanograph.ir.ops import get_op
from nanograph.ir.toposort import dependency_graph, describe_cycle


def verify(graph: Graph) -> None:
    """Raise ``VerificationError`` if ``graph`` breaks an IR invariant; else return None."""
    nodes = list(graph.nodes)
    _check_membership(graph, nodes)
    _check_sources(graph)
    _check_producers(nodes)
    _check_names(graph, nodes)
    _check_dims(graph)
    _check_cycles(graph, nodes)
    _check_order(graph, nodes)
    _check_uses(graph, nodes)
    for node in nodes:
        _check_node(node)
    _check_outputs(graph, nodes)


def _describe(node: Node) -> str:
    outs = ", ".join(f"%{v.name}" for v in node.outputs)
    return f"{node.op} node ({outs})" if outs else f"{node.op} node"


def _check_membership(graph: Graph, nodes: list[Node]) -> None:
    if len(nodes) != len(graph.nodes):
        raise VerificationError(
            f"graph {graph.name} lists {len(nodes)} nodes but counts {len(graph.nodes)}",
            hint="nodes must be inserted and removed only through Graph methods",
        )
    for node in nodes:
        if node.graph is not graph:
            raise VerificationError(
                f"{_describe(node)} is in the node list of graph {graph.name} "
                "but does not belong to it",
                loc=node.loc,
            )


def _check_sources(graph: Graph) -> None:
    for v in graph.inputs:
        if v.producer is not None:
            raise VerificationError(
                f"graph input %{v.name} is also the output of {_describe(v.producer)}",
                loc=v.producer.loc,
                hint="a node must create new output values",
            )
    for name, c in graph.constants.items():
        if c.name != name:
            raise VerificationError(f"constant @{c.name} is stored under the name @{name}")
        if c.producer is not None:
            raise VerificationError(
                f"constant @{name} is also the output of {_describe(c.producer)}",
                loc=c.producer.loc,
            )
        data = c.const
        if data is not None and (data.dtype != c.type.dtype.numpy or data.shape != c.type.shape):
            raise VerificationError(
                f"constant @{name} is typed {c.type} but holds a {data.dtype} array "
                f"of shape {data.shape}"
            )


def _check_producers(nodes: list[Node]) -> None:
    owner: dict[int, Node] = {}
    for node in nodes:
        for v in node.outputs:
            first = owner.get(id(v)) or (v.producer if v.producer is not node else None)
            if first is not None:
                raise VerificationError(
                    f"value %{v.name} is produced by two nodes: {_describe(first)}"
                    f"{_at(first)} and {_describe(node)}{_at(node)}",
                    loc=node.loc,
                    hint="SSA: a value has one producer; create the node with new outputs",
                )
            owner[id(v)] = node


def _at(node: Node) -> str:
    return f" at {node.loc}" if node.loc else ""


def _check_names(graph: Graph, nodes: list[Node]) -> None:
    seen: dict[str, str] = {}
    named: list[tuple[Value, str, str]] = [(v, "graph input", "") for v in graph.inputs]
    named += [(c, "constant", "") for c in graph.constants.values()]
    named += [(v, _describe(n), n.loc) for n in nodes for v in n.outputs]
    for value, owner, loc in named:
        if value.name in seen:
            raise VerificationError(
                f"value name %{value.name} is used twice: by {seen[value.name]} and by {owner}",
                loc=loc,
                hint="give the value a fresh name (Graph.unique_name)",
            )
        seen[value.name] = owner


def _check_dims(graph: Graph) -> None:
    for v in graph.values():
        bad = [(axis, d) for axis, d in enumerate(v.type.shape) if isinstance(d, int) and d < 0]
        if bad:
            axis, d = bad[0]
            owner = _describe(v.producer) if v.producer is not None else "graph input or constant"
            raise VerificationError(
                f"%{v.name} ({owner}) has type {v.type} with the negative dim {d} at axis {axis}",
                loc=v.producer.loc if v.producer is not None else "",
                hint="a dim is a size >= 0; use a symbol (N, S, ...) for a size known "
                "only at run time",
            )


def _check_cycles(graph: Graph, nodes: list[Node]) -> None:
    if _in_topological_order(graph, nodes):
        return  # every edge points forward in the list, so there is no cycle
    cycle = describe_cycle(graph)
    if cycle is None:
        return
    dg = dependency_graph(graph)
    first = dg.graph["nodes"][nx.find_cycle(dg)[0][0]]
    raise VerificationError(
        f"graph {graph.name} has a cycle: {cycle}",
        loc=first.loc,
        hint="a value cannot depend on itself; check the rewrite that created this edge",
    )


def _in_topological_order(graph: Graph, nodes: list[Node]) -> bool:
    """Whether every node input is a graph input, a constant or an earlier node's output.

    The common case, checked in one pass; only otherwise is networkx asked for
    a cycle (its ``find_cycle`` allocates per edge, which made ``verify`` of a
    10,000-node graph spend most of its time there and in the garbage collector).
    """
    defined = {id(v) for v in graph.inputs} | {id(c) for c in graph.constants.values()}
    for node in nodes:
        if any(id(v) not in defined for v in node._inputs):
            return False
        defined.update(id(v) for v in node.outputs)
    return True


def _check_order(graph: Graph, nodes: list[Node]) -> None:
    defined = {id(v) for v in graph.inputs} | {id(c) for c in graph.constants.values()}
    later = {id(v): n for n in nodes for v in n.outputs}
    for node in nodes:
        for i, v in enumerate(node.inputs):
            if id(v) in defined:
                continue
            what = f"%{v.name} (input {i} of {_describe(node)})"
            if id(v) in later:
                raise VerificationError(
                    f"{what} is used before its definition by {_describe(later[id(v)])}",
                    loc=node.loc,
                    hint="nodes must be in topological order (Graph.sort)",
                )
            raise VerificationError(
                f"{what} is dangling: it is neither a graph input, a constant, "
                "nor the output of a node in the graph",
                loc=node.loc,
                hint="add the value's producer to the graph, or use a graph input or constant",
            )
        defined.update(id(v) for v in node.outputs)


def _check_uses(graph: Graph, nodes: list[Node]) -> None:
    index = {id(n): k for k, n in enumerate(nodes)}
    expected: dict[int, Counter[tuple[int, int]]] = {}
    for k, node in enumerate(nodes):
        for i, v in enumerate(node.inputs):
            expected.setdefault(id(v), Counter())[(k, i)] += 1
    for v in graph.values():
        actual = Counter((index.get(id(n), -1), i) for n, i in v.uses)
        want = expected.get(id(v), Counter())
        if actual != want:
            raise VerificationError(
                f"the use-list of %{v.name} is stale: it records {_uses(actual, nodes)} "
                f"but the nodes use it at {_uses(want, nodes)}",
                hint="change node inputs only through Graph methods (set_input, ...)",
            )


def _uses(uses: Counter[tuple[int, int]], nodes: list[Node]) -> str:
    parts = [
        f"input {i} of {_describe(nodes[k]) if k >= 0 else 'a node outside the graph'}"
        for k, i in sorted(uses.elements())
    ]
    return "[" + "; ".join(parts) + "]"


def _check_node(node: Node) -> None:
    where = _describe(node)
    try:
        opdef = get_op(node.op)
        attrs = opdef.make_attrs(dict(node.attrs))
    except NanographError as err:
        raise VerificationError(f"{where}: {err.message}", loc=node.loc, hint=err.hint) from None
    if set(attrs) != set(node.attrs) or any(
        attrs[k] != node.attrs[k] and repr(attrs[k]) != repr(node.attrs[k]) for k in attrs
    ):
        raise VerificationError(
            f"{where}: attributes {dict(node.attrs)} are not normalized (expected {dict(attrs)})",
            loc=node.loc,
            hint="build attributes with the op's make_attrs (Graph.create_node does)",
        )
    try:
        inferred = infer_node_types(node.op, node.inputs, node.attrs, node.loc)
    except NanographError as err:
        raise VerificationError(
            f"{where}: type inference fails: {err.message}", loc=node.loc, hint=err.hint
        ) from None
    if len(inferred) != len(node.outputs):
        raise VerificationError(
            f"{where} has {len(node.outputs)} outputs but {node.op} infers {len(inferred)}",
            loc=node.loc,
        )
    for v, t in zip(node.outputs, inferred, strict=True):
        if v.type != t:
            raise VerificationError(
                f"%{v.name} ({node.op}) has type {v.type} but inference gives {t}",
                loc=node.loc,
                hint="a rewrite changed the inputs without re-inferring; rebuild the node",
            )


def _check_outputs(graph: Graph, nodes: list[Node]) -> None:
    defined = {id(v) for v in graph.inputs} | {id(c) for c in graph.constants.values()}
    defined |= {id(v) for n in nodes for v in n.outputs}
    for k, v in enumerate(graph.outputs):
        if id(v) not in defined:
            raise VerificationError(
                f"graph output {k} %{v.name} is not defined: it is neither a graph input, "
                "a constant, nor the output of a node in the graph",
                hint="return a value computed in this graph",
            )
