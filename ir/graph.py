"""The graph IR: ``Value``, ``Node`` and ``Graph``.

Invariants (checked by ``verify``; kept by every ``Graph`` method):
- SSA: a value has at most one producer; graph inputs and constants have none.
- A node's outputs are fixed when it is created; its attributes are immutable.
- ``Value.uses`` lists exactly the (node, input index) pairs of the nodes that
  are in the graph, in insertion order. Only ``Graph`` methods mutate inputs,
  so use-lists never go stale.
- Nodes form a doubly linked list in topological order: insert and remove are
  O(1) (plus the node's own inputs), so rewriting stays linear.
- Value names are unique in a graph; constants are written ``@name`` in the
  text form, everything else ``%name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nanograph.ir.attrs import Attrs
from nanograph.ir.errors import NanographError, ShapeError, VerificationError
from nanograph.ir.ops import get_op
from nanograph.ir.types import TensorType, type_of_array


class Value:
    """A tensor in the graph: a graph input, a constant, or a node output."""

    __slots__ = ("_uses", "const", "name", "producer", "type")

    def __init__(
        self,
        name: str,
        type: TensorType,
        producer: Node | None = None,
        const: np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.producer = producer
        self.const = const
        # An ordered set (dict keys): removing any one use is O(1), so deleting the
        # users of a widely shared value (a DCE walking backwards) stays linear.
        self._uses: dict[tuple[Node, int], None] = {}

    @property
    def uses(self) -> tuple[tuple[Node, int], ...]:
        """(node, input index) for every use by a node in the graph, in order."""
        return tuple(self._uses)

    @property
    def num_uses(self) -> int:
        """``len(self.uses)`` in O(1): the uses are not copied (graph outputs do not count)."""
        return len(self._uses)

    @property
    def users(self) -> list[Node]:
        """The distinct nodes that use this value, in order."""
        seen: dict[int, Node] = {}
        for node, _ in self._uses:
            seen.setdefault(id(node), node)
        return list(seen.values())

    @property
    def is_const(self) -> bool:
        return self.producer is None and self.const is not None

    def __repr__(self) -> str:
        sigil = "@" if self.const is not None else "%"
        return f"<Value {sigil}{self.name}: {self.type}>"


class Node:
    """One op application. ``outputs`` are created with the node and never change."""

    __slots__ = ("_inputs", "_next", "_prev", "attrs", "graph", "loc", "op", "outputs")

    def __init__(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Attrs,
        outputs: Sequence[Value],
        loc: str = "",
    ) -> None:
        self.op = op
        self._inputs: list[Value] = list(inputs)
        self.attrs = attrs
        self.outputs: tuple[Value, ...] = tuple(outputs)
        self.loc = loc
        self.graph: Graph | None = None
        self._prev: Node | None = None
        self._next: Node | None = None
        for v in self.outputs:
            v.producer = self

    @property
    def inputs(self) -> tuple[Value, ...]:
        return tuple(self._inputs)

    @property
    def output(self) -> Value:
        """The single output; raises if the node has several."""
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs")
        return self.outputs[0]

    def __repr__(self) -> str:
        outs = ", ".join(v.name for v in self.outputs)
        ins = ", ".join(v.name for v in self._inputs)
        return f"<Node {outs} = {self.op}({ins})>"


def _input_name(opdef: Any, index: int) -> str:
    # A node may have more inputs than its op declares (the arity error being reported).
    if opdef.variadic or index < len(opdef.inputs):
        return str(opdef.input_name(index))
    return f"extra input {index}"


def _located(err: NanographError, op: str, inputs: Sequence[Value], loc: str) -> NanographError:
    """``err`` prefixed with the op, followed by the input types, located at ``loc``."""
    opdef = get_op(op)
    shapes = ", ".join(f"{_input_name(opdef, i)}: {v.type}" for i, v in enumerate(inputs))
    message = err.message if err.message.startswith(op) else f"{op}: {err.message}"
    return type(err)(f"{message} (inputs {shapes})", loc=loc or err.loc, hint=err.hint)


def infer_node_types(
    op: str, inputs: Sequence[Value], attrs: Attrs, loc: str = ""
) -> list[TensorType]:
    """Output types of ``op`` on ``inputs``; errors name the op, input types and ``loc``."""
    opdef = get_op(op)
    types = [v.type for v in inputs]
    try:
        opdef.check_arity(len(inputs))
        out = opdef.infer(types, attrs)
    except NanographError as err:
        raise _located(err, op, inputs, loc) from None
    expected = opdef.count_outputs(attrs)
    if len(out) != expected:
        raise ShapeError(f"{op}: inference gave {len(out)} outputs, expected {expected}")
    return out


class _NodeList:
    """Live view of a graph's nodes in order (iterable, sized)."""

    __slots__ = ("_graph",)

    def __init__(self, graph: Graph) -> None:
        self._graph = graph

    def __iter__(self) -> Iterator[Node]:
        node = self._graph._head
        while node is not None:
            nxt = node._next
            yield node
            node = nxt

    def __len__(self) -> int:
        return self._graph._count

    def __reversed__(self) -> Iterator[Node]:
        node = self._graph._tail
        while node is not None:
            prev = node._prev
            yield node
            node = prev


class Graph:
    """A function from named inputs to named outputs, built of nodes in topological order."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.constants: dict[str, Value] = {}
        self._head: Node | None = None
        self._tail: Node | None = None
        self._count = 0
        self._names: set[str] = set()
        # base -> where unique_name's search for base_1, base_2, ... resumes: every
        # base_j below it is taken (kept by _release), so naming k values "add" is O(k).
        self._next_suffix: dict[str, int] = {}

    # naming -----------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """``base`` if unused, else ``base_1``, ``base_2``, ... (deterministic)."""
        if base not in self._names:
            return base
        i = self._next_suffix.get(base, 1)
        while f"{base}_{i}" in self._names:
            i += 1
        self._next_suffix[base] = i
        return f"{base}_{i}"

    def _claim(self, name: str, what: str = "a value", loc: str = "") -> None:
        """Take ``name`` for ``what`` (e.g. ``graph input``); a name held already raises
        ``VerificationError`` naming its holder, located at ``loc``."""
        if name in self._names:
            holder = next((self._describe_holder(v) for v in self.values() if v.name == name), "")
            held = f" (held by {holder})" if holder else ""
            raise VerificationError(
                f"value name %{name} is used twice in graph {self.name}: {what} "
                f"wants the name already taken{held}",
                loc=loc,
                hint="give each graph input, constant and node output its own name "
                "(Graph.unique_name makes one)",
            )
        self._names.add(name)

    def _describe_holder(self, value: Value) -> str:
        if any(value is v for v in self.inputs):
            return "a graph input"
        if self.constants.get(value.name) is value:
            return "a constant"
        node = value.producer
        return f"the output of a {node.op} node" if node is not None else "a value"

    def _release(self, name: str) -> None:
        """Make ``name`` free again; ``unique_name`` will find it if it is some ``base_j``."""
        self._names.discard(name)
        base, _, digits = name.rpartition("_")
        suffix = int(digits) if digits.isascii() and digits.isdigit() and digits[0] != "0" else 0
        if 0 < suffix < self._next_suffix.get(base, 0):
            self._next_suffix[base] = suffix

    # building ---------------------------------------------------------------------
    @property
    def nodes(self) -> _NodeList:
        return _NodeList(self)

    def add_input(self, name: str, type: TensorType) -> Value:
        self._claim(name, f"graph input %{name}")
        value = Value(name, type)
        self.inputs.append(value)
        return value

    def add_constant(
        self, name: str, array: np.ndarray | None, type: TensorType | None = None
    ) -> Value:
        """A named constant. ``array`` may be None (declared, data not attached)."""
        self._claim(name, f"constant @{name}")
        if array is not None:
            # asarray keeps 0-d arrays 0-d (ascontiguousarray makes them 1-d); the view
            # freezes the graph's copy without making the caller's array read-only.
            array = np.asarray(array, order="C").view()
            array.flags.writeable = False
        vtype = type if type is not None else type_of_array(np.asarray(array))
        value = Value(name, vtype, const=array)
        self.constants[name] = value
        return value

    def create_node(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        *,
        loc: str = "",
        names: Sequence[str] | None = None,
        types: Sequence[TensorType] | None = None,
    ) -> Node:
        """A new node (not yet inserted): validates attrs, infers output types.

        ``names`` are output-name bases made unique in this graph; ``types``
        skips inference (used by the parser and by ``verify`` tests).
        """
        opdef = get_op(op)
        try:
            norm = attrs if isinstance(attrs, Attrs) else opdef.make_attrs(attrs or {})
        except NanographError as err:
            raise _located(err, op, inputs, loc) from None
        out_types = list(types) if types is not None else infer_node_types(op, inputs, norm, loc)
        bases = list(names) if names else [op] * len(out_types)
        if len(bases) < len(out_types):
            bases += [f"{bases[-1]}_{i}" for i in range(len(bases), len(out_types))]
        outputs = []
        for base, t in zip(bases, out_types, strict=False):
            name = self.unique_name(base)
            self._claim(name)
            outputs.append(Value(name, t))
        return Node(op, inputs, norm, outputs, loc)

    def add(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        *,
        loc: str = "",
        names: Sequence[str] | None = None,
    ) -> Node:
        """Create a node and append it at the end of the graph."""
        node = self.create_node(op, inputs, attrs, loc=loc, names=names)
        self.append(node)
        return node

    # linked-list mutation ---------------------------------------------------------
    def _attach(self, node: Node) -> None:
        if node.graph is not None:
            raise VerificationError(
                f"node {node!r} is already in a graph",
                loc=node.loc,
                hint="create a new node (Graph.create_node) instead of inserting one twice",
            )
        node.graph = self
        self._count += 1
        for i, v in enumerate(node._inputs):
            v._uses[(node, i)] = None

    def append(self, node: Node) -> None:
        self._attach(node)
        self._link_last(node)

    def _link_last(self, node: Node) -> None:
        node._prev, node._next = self._tail, None
        if self._tail is None:
            self._head = node
        else:
            self._tail._next = node
        self._tail = node

    def insert_before(self, anchor: Node, node: Node) -> None:
        self._attach(node)
        node._prev, node._next = anchor._prev, anchor
        if anchor._prev is None:
            self._head = node
        else:
            anchor._prev._next = node
        anchor._prev = node

    def insert_after(self, anchor: Node, node: Node) -> None:
        if anchor._next is None:
            self.append(node)
            return
        self.insert_before(anchor._next, node)

    def remove(self, node: Node) -> None:
        """Remove a node whose outputs are unused (and are not graph outputs)."""
        for v in node.outputs:
            if v._uses or any(v is o for o in self.outputs):
                raise VerificationError(
                    f"cannot remove {node.op} node: its output %{v.name} is still used",
                    loc=node.loc,
                    hint="replace_all_uses of its outputs first",
                )
        self._unlink(node)
        for v in node.outputs:
            self._release(v.name)

    def _unlink(self, node: Node) -> None:
        if node.graph is not self:
            raise VerificationError(
                f"node {node!r} is not in graph {self.name}",
                loc=node.loc,
                hint="remove a node only from the graph that holds it",
            )
        for i, v in enumerate(node._inputs):
            del v._uses[(node, i)]
        if node._prev is None:
            self._head = node._next
        else:
            node._prev._next = node._next
        if node._next is None:
            self._tail = node._prev
        else:
            node._next._prev = node._prev
        node._prev = node._next = None
        node.graph = None
        self._count -= 1

    def set_input(self, node: Node, index: int, value: Value) -> None:
        """Make ``node``'s input ``index`` refer to ``value``."""
        old = node._inputs[index]
        if node.graph is self:
            del old._uses[(node, index)]
            value._uses[(node, index)] = None
        node._inputs[index] = value

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every use of ``old`` (node inputs and graph outputs) now uses ``new``."""
        if old is new:
            return
        if old.type != new.type:
            raise VerificationError(
                f"cannot replace %{old.name}: {old.type} with %{new.name}: {new.type}",
                hint="a replacement must have exactly the same type",
            )
        for node, index in list(old._uses):
            node._inputs[index] = new
            new._uses[(node, index)] = None
        old._uses.clear()
        self.outputs = [new if o is old else o for o in self.outputs]

    def rename(self, value: Value, name: str) -> None:
        """Give ``value`` the unused name ``name`` (constants are re-keyed too)."""
        if name == value.name:
            return
        self._claim(name, f"renaming %{value.name}")
        self._release(value.name)
        if self.constants.get(value.name) is value:
            del self.constants[value.name]
            self.constants[name] = value
        value.name = name

    def remove_constant(self, name: str) -> None:
        value = self.constants.pop(name)
        if value._uses:
            raise VerificationError(
                f"cannot remove constant @{name}: it is still used",
                hint="replace_all_uses of the constant first",
            )
        self._release(name)

    def sort(self) -> None:
        """Reorder nodes topologically (stable); raises VerificationError on a cycle."""
        from nanograph.ir.toposort import topological_order

        order = topological_order(self)
        self._head = self._tail = None
        for node in order:
            self._link_last(node)

    # copying ----------------------------------------------------------------------
    def copy(self) -> Graph:
        """A deep copy of the structure; constant arrays are shared (read-only)."""
        g = Graph(self.name)
        mapping: dict[int, Value] = {}
        for v in self.inputs:
            mapping[id(v)] = g.add_input(v.name, v.type)
        for name, v in self.constants.items():
            mapping[id(v)] = g.add_constant(name, v.const, v.type)
        for node in self.nodes:
            ins = [mapping[id(v)] for v in node.inputs]
            outs = []
            for v in node.outputs:
                g._claim(v.name)
                outs.append(Value(v.name, v.type))
            new = Node(node.op, ins, node.attrs, outs, node.loc)
            g.append(new)
            for old, nv in zip(node.outputs, outs, strict=True):
                mapping[id(old)] = nv
        g.outputs = [mapping[id(v)] for v in self.outputs]
        return g

    def values(self) -> Iterable[Value]:
        """Inputs, constants, then node outputs in order."""
        yield from self.inputs
        yield from self.constants.values()
        for node in self.nodes:
            yield from node.outputs

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {self._count} nodes>"
