"""Switching a set of region ops to NHWC: ``switch_to_nhwc(graph, nodes, constants)``.

Each op is rebuilt in place with NHWC operands: a layout op gets
``layout="NHWC"``, an agnostic op stays as it is. Its operands:

- a data value (``regions.data_inputs``) produced by a switched op: that op's
  NHWC result; any other (a graph input, an op left NCHW): an *entry*
  transpose ``transpose(v) {perm=[0,2,3,1]}`` named ``%v.nhwc``, made once,
  just before the first switched op that reads it;
- a conv's weight: the constant laid out as OHWI at compile time,
  ``@w.ohwi``; a constant operand of an agnostic op: padded to rank 4 and
  transposed, ``@c.nhwc`` (kept as it is when all ones in shape);
  ``NhwcConstants`` makes each once, however many ops read it;
- anything else (biases, batch norm's per-channel parameters): unchanged.

A switched op's result keeps its name (and its ``loc``); where it is also
needed in NCHW (an op not switched, a graph output) an *exit* transpose
``{perm=[0,3,1,2]}`` named ``%v.nchw`` is made once, just before the first
op that reads it, so the NCHW copy lives no longer than the original did. A
graph output keeps its name: the exit transpose takes it, and the NHWC value
is ``%v.nhwc``. An exit transpose has its producer's ``loc``, an entry
transpose its first reader's.

Adjacent transposes that cancel (an entry transpose of a user's own
NHWC -> NCHW transpose) are left to ``simplify``'s transpose-of-transpose
rule, which runs after this pass in ``NUMPY_LAYOUT``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.layout.conv_geometry import CONV_OPS
from nanograph.passes.layout.regions import LAYOUT_OPS, data_inputs

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)


class NhwcConstants:
    """Constants laid out for NHWC ops, made once each; ``free_unused`` removes the
    originals nothing reads any more."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.made: dict[tuple[int, str], Value] = {}
        self.replaced: dict[str, Value] = {}

    def weight(self, w: Value) -> Value:
        """``@w.ohwi``: conv weight ``@w`` (OIHW) as OHWI."""
        return self._made(w, "ohwi", lambda a: a.transpose(TO_NHWC))

    def operand(self, c: Value) -> Value:
        """``@c.nhwc``: constant operand ``@c`` of an agnostic op, as its NHWC operand."""
        if all(d == 1 for d in c.type.shape):
            return c
        return self._made(
            c, "nhwc", lambda a: a.reshape((1,) * (4 - a.ndim) + a.shape).transpose(TO_NHWC)
        )

    def _made(self, c: Value, suffix: str, lay_out: Callable[[np.ndarray], np.ndarray]) -> Value:
        key = (id(c), suffix)
        if key not in self.made:
            if c.const is None:
                raise ValueError(f"constant @{c.name} has no data to lay out for NHWC")
            array = np.ascontiguousarray(lay_out(c.const))
            name = self.graph.unique_name(f"{c.name}.{suffix}")
            self.made[key] = self.graph.add_constant(name, array)
            self.replaced[c.name] = c
        return self.made[key]

    def free_unused(self) -> int:
        """Remove the replaced constants that nothing uses now; how many were removed."""
        outputs = {id(v) for v in self.graph.outputs}
        freed = 0
        for name, value in self.replaced.items():
            if value.num_uses == 0 and id(value) not in outputs and name in self.graph.constants:
                self.graph.remove_constant(name)
                freed += 1
        self.replaced.clear()
        return freed


def switch_to_nhwc(graph: Graph, nodes: Sequence[Node], constants: NhwcConstants) -> list[Node]:
    """Rebuild ``nodes`` (graph order) in NHWC, with the transposes their boundary needs;
    the nodes made, in graph order. The old nodes are removed."""
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    switched = {id(n) for n in nodes}
    nhwc: dict[int, Value] = {}
    made: list[Node] = []
    for node in nodes:
        inputs = [_operand(graph, node, k, nhwc, constants, made) for k in range(len(node.inputs))]
        attrs = {**node.attrs, "layout": "NHWC"} if node.op in LAYOUT_OPS else node.attrs
        names = [f"{v.name}.nhwc" for v in node.outputs]
        new = graph.create_node(node.op, inputs, attrs, loc=node.loc, names=names)
        graph.insert_before(node, new)
        made.append(new)
        nhwc.update((id(old), v) for old, v in zip(node.outputs, new.outputs, strict=True))
    renames: list[tuple[Value, str]] = []
    for node in nodes:
        for old in node.outputs:
            renames.append(_exit(graph, old, nhwc[id(old)], switched, position, made))
    for node in reversed(nodes):
        graph.remove(node)
    for value, name in renames:
        graph.rename(value, name)
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    return sorted(made, key=lambda n: order[id(n)])


def _operand(
    graph: Graph,
    node: Node,
    k: int,
    nhwc: dict[int, Value],
    constants: NhwcConstants,
    made: list[Node],
) -> Value:
    v = node.inputs[k]
    if k in data_inputs(node):
        if id(v) not in nhwc:
            entry = graph.create_node(
                "transpose", [v], {"perm": TO_NHWC}, loc=node.loc, names=[f"{v.name}.nhwc"]
            )
            graph.insert_before(node, entry)
            made.append(entry)
            nhwc[id(v)] = entry.outputs[0]
        return nhwc[id(v)]
    if node.op in CONV_OPS and k == 1:
        return constants.weight(v)
    if node.op not in LAYOUT_OPS and v.is_const:
        return constants.operand(v)
    return v


def _exit(
    graph: Graph,
    old: Value,
    new: Value,
    switched: set[int],
    position: dict[int, int],
    made: list[Node],
) -> tuple[Value, str]:
    """Give the users of ``old`` outside ``switched`` an NCHW copy of ``new``; the value to
    rename to ``old``'s name once ``old`` is gone, and that name."""
    outside = sorted((n for n in old.users if id(n) not in switched), key=lambda n: position[id(n)])
    is_output = any(o is old for o in graph.outputs)
    if not outside and not is_output:
        return new, old.name
    producer = new.producer
    assert producer is not None
    back = graph.create_node(
        "transpose", [new], {"perm": TO_NCHW}, loc=producer.loc, names=[f"{old.name}.nchw"]
    )
    if outside:
        graph.insert_before(outside[0], back)
    else:
        graph.insert_after(producer, back)
    made.append(back)
    graph.replace_all_uses(old, back.outputs[0])
    # A graph output keeps its name: the NCHW copy takes it, the NHWC value keeps ``.nhwc``.
    return (back.outputs[0], old.name) if is_output else (new, old.name)
