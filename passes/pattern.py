"""Patterns over the IR: op calls with named captures, attribute checks and reasons.

A pattern reads like the expression it matches::

    from nanograph.passes.pattern import const, op, var

    x = var("x")
    linear = op.add(op.matmul(x, const("w"), capture="mm"), const("b"))

- ``op.NAME(*inputs, **attrs)`` matches a value produced by an ``NAME`` node
  whose inputs match ``inputs`` in order. A trailing ``...`` accepts any
  further inputs (``op.conv2d(x, w, ...)`` matches with or without a bias).
  Keyword arguments check attributes: a plain value must be equal, a
  ``such_that(fn, words)`` must hold. Reserved keywords: ``capture`` (name
  the node and its value), ``single_use`` (see below), ``output`` (which
  output of a multi-output node), ``ops`` (extra op names accepted).
- Commutative ops (``add``, ``mul``, ``maximum``, ``minimum``, ``and``,
  ``or``, ``equal``) also match with their two inputs swapped.
- Every op pattern except the root requires, by default, that its value has
  exactly one use and is not a graph output: fusing a shared intermediate
  would compute it twice. ``single_use=False`` lifts that.
- ``var(name)`` matches any value, ``const(name)`` a constant, ``scalar(name)``
  a one-element constant; the same name used twice must bind the same value
  (``op.sub(x, op.reduce_mean(x))``). ``either(p, q)`` tries alternatives.

``match(pattern, node)`` returns a ``Match`` (captures, matched nodes root
first) or a ``MatchFailure``: how far the deepest attempt got, and its first
failure in words (``"%s is produced by relu, not softmax"``). The rewriter
turns failures into near misses.

How far an attempt got (``MatchFailure.matched``), precisely: op patterns are
tried root first, then each one's inputs left to right, depth first. Every op
pattern whose node was accepted counts one. An op pattern whose op name
matched but whose own constraint on that node failed (the ``output`` index,
single use, an attribute, the input count, its ``capture`` name already bound
to another value) counts one as well: the failure is about that node, so the
pattern did reach it. Any other failure (a value that is a graph input or is
produced by another op; a ``var``/``const``/``scalar`` whose predicate does
not hold or whose name is bound to another value) counts only the ops
accepted before it. Each ``either`` alternative and each order of a
commutative op's inputs is an attempt; the deepest failure is reported, the
first one seen among equally deep ones. A full match counts
``pattern.count_ops()`` ops.

Mistakes in a pattern are raised when it is built: an unknown op name
(``UnknownOpError``, with close names) or attribute (``AttributeValueError``);
plain attribute values are normalized as the op's nodes store them
(``perm=[0, 2, 1, 3]`` matches the node's tuple).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

import numpy as np

from nanograph.ir.errors import AttributeValueError
from nanograph.ir.graph import Node, Value
from nanograph.ir.ops import get_op

COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "and", "or", "equal"})


@dataclass(frozen=True)
class Predicate:
    """A check on an attribute value or a ``Value``, with the words a failure shows."""

    fn: Callable[[Any], bool]
    words: str


def such_that(fn: Callable[[Any], bool], words: str) -> Predicate:
    """A predicate: ``such_that(lambda p: p == (0, 2, 1, 3), "swaps axes 1 and 2")``."""
    return Predicate(fn, words)


class _State:
    """Captures and matched nodes so far, plus the deepest failure seen."""

    def __init__(self) -> None:
        self.values: dict[str, Value] = {}
        self.named_nodes: dict[str, Node] = {}
        self.nodes: list[Node] = []
        self.fail_depth = -1
        self.fail_reason = ""

    def fail(self, reason: str, op_matched: bool = False) -> bool:
        """Record a failure; ``op_matched``: the op itself was right, a constraint on it failed
        (so it counts as matched when saying how far the pattern got)."""
        depth = len(self.nodes) + int(op_matched)
        if depth > self.fail_depth:
            self.fail_depth, self.fail_reason = depth, reason
        return False

    def snapshot(self) -> tuple[dict[str, Value], dict[str, Node], int]:
        return dict(self.values), dict(self.named_nodes), len(self.nodes)

    def restore(self, snap: tuple[dict[str, Value], dict[str, Node], int]) -> None:
        self.values, self.named_nodes = dict(snap[0]), dict(snap[1])
        del self.nodes[snap[2] :]

    def bind(self, name: str | None, value: Value, op_matched: bool = False) -> bool:
        """Capture ``value`` as ``name``; a name used twice must be the same value."""
        if name is None:
            return True
        bound = self.values.get(name)
        if bound is None:
            self.values[name] = value
            return True
        if bound is value:
            return True
        return self.fail(f"%{value.name} is not %{bound.name} (both must be {name!r})", op_matched)


class Pattern:
    """A pattern matching one ``Value``."""

    def count_ops(self) -> int:
        """The number of op patterns a full match contains."""
        raise NotImplementedError

    def depth(self) -> int:
        """The longest chain of op patterns from the root down (0 for a value pattern).

        A match of this pattern at a node only looks at nodes fewer than
        ``depth()`` producer steps above it (the rewriter's revisits rely on it).
        """
        raise NotImplementedError

    def match_value(self, value: Value, state: _State, root: bool = False) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class ValuePattern(Pattern):
    """Any value satisfying ``where`` (all values if None); bound to ``name``."""

    name: str | None = None
    where: Predicate | None = None

    def count_ops(self) -> int:
        return 0

    def depth(self) -> int:
        return 0

    def match_value(self, value: Value, state: _State, root: bool = False) -> bool:
        if self.where is not None and not self.where.fn(value):
            return state.fail(f"%{value.name} {self.where.words}")
        return state.bind(self.name, value)


@dataclass(frozen=True, eq=False)
class OpPattern(Pattern):
    """A value produced by an op in ``ops`` whose inputs match ``inputs``."""

    ops: tuple[str, ...]
    inputs: tuple[Pattern, ...]
    any_more_inputs: bool = False
    attrs: tuple[tuple[str, Any], ...] = ()
    capture: str | None = None
    single_use: bool = True
    output: int | None = None

    @property
    def described(self) -> str:
        return " or ".join(self.ops)

    def count_ops(self) -> int:
        return 1 + sum(p.count_ops() for p in self.inputs)

    def depth(self) -> int:
        return 1 + max((p.depth() for p in self.inputs), default=0)

    def match_value(self, value: Value, state: _State, root: bool = False) -> bool:
        node = value.producer
        if node is None:
            kind = "a constant" if value.const is not None else "a graph input"
            return state.fail(f"%{value.name} is {kind}, not the output of {self.described}")
        if node.op not in self.ops:
            return state.fail(f"%{value.name} is produced by {node.op}, not {self.described}")
        if not self._is_output(node, value, state):
            return False
        if not root and self.single_use and not _used_once(value):
            return state.fail(
                f"%{value.name} ({node.op}) is also used elsewhere "
                f"({_use_count(value)} uses), so fusing it would compute it twice",
                True,
            )
        if not self._attrs_hold(node, state):
            return False
        n_pat, n_in = len(self.inputs), len(node.inputs)
        if n_in < n_pat or (n_in > n_pat and not self.any_more_inputs):
            return state.fail(f"{node.op} %{value.name} has {n_in} inputs, not {n_pat}", True)
        if not state.bind(self.capture, value, op_matched=True):
            return False
        state.nodes.append(node)
        if self.capture is not None:
            state.named_nodes[self.capture] = node
        inputs = node.inputs[:n_pat]
        if n_pat == 2 and node.op in COMMUTATIVE:
            snap = state.snapshot()
            if self._match_inputs(inputs, state):
                return True
            state.restore(snap)
            return self._match_inputs((inputs[1], inputs[0]), state)
        return self._match_inputs(inputs, state)

    def _is_output(self, node: Node, value: Value, state: _State) -> bool:
        if self.output is None:
            return True
        if self.output >= len(node.outputs):
            return state.fail(
                f"{node.op} %{node.outputs[0].name} has {len(node.outputs)} outputs, "
                f"so no output {self.output}",
                True,
            )
        if node.outputs[self.output] is not value:
            return state.fail(f"%{value.name} is not output {self.output} of {node.op}", True)
        return True

    def _attrs_hold(self, node: Node, state: _State) -> bool:
        for key, expected in self.attrs:
            actual = node.attrs.get(key)
            if isinstance(expected, Predicate):
                if not expected.fn(actual):
                    return state.fail(
                        f"{node.op} %{node.outputs[0].name} has {key}={actual!r}, "
                        f"which is not {expected.words}",
                        True,
                    )
            elif actual != expected:
                return state.fail(
                    f"{node.op} %{node.outputs[0].name} has {key}={actual!r}, not {expected!r}",
                    True,
                )
        return True

    def _match_inputs(self, inputs: Sequence[Value], state: _State) -> bool:
        return all(p.match_value(v, state) for p, v in zip(self.inputs, inputs, strict=True))


@dataclass(frozen=True, eq=False)
class EitherPattern(Pattern):
    """The first of ``alternatives`` that matches."""

    alternatives: tuple[Pattern, ...]

    def count_ops(self) -> int:
        return max(p.count_ops() for p in self.alternatives)

    def depth(self) -> int:
        return max(p.depth() for p in self.alternatives)

    def match_value(self, value: Value, state: _State, root: bool = False) -> bool:
        snap = state.snapshot()
        for pattern in self.alternatives:
            if pattern.match_value(value, state, root):
                return True
            state.restore(snap)
        return False


def _use_count(value: Value) -> int:
    """Uses by nodes, plus one per time ``value`` is a graph output. Asked for every
    single-use check, so it must not grow with the fan-out (``num_uses`` copies nothing)."""
    graph = value.producer.graph if value.producer is not None else None
    outputs = graph.outputs if graph is not None else []
    return value.num_uses + sum(1 for o in outputs if o is value)


def _used_once(value: Value) -> bool:
    return _use_count(value) == 1


def _checked_attrs(ops: Sequence[str], attrs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """``attrs`` sorted, each a known attribute of one of ``ops``; plain values normalized
    as that op stores them (``[0, 1]`` -> ``(0, 1)``), ``None`` (absent) and predicates kept."""
    defs = [get_op(name) for name in ops]  # UnknownOpError for a misspelt op
    checked = []
    for key, expected in sorted(attrs.items()):
        spec = next((d.attrs[key] for d in defs if key in d.attrs), None)
        if spec is None:
            known = ", ".join(sorted({a for d in defs for a in d.attrs})) or "none"
            raise AttributeValueError(
                f"op.{ops[0]}: unknown attribute {key!r} in a pattern",
                hint=f"{' or '.join(ops)} take these attributes: {known}",
            )
        if expected is not None and not isinstance(expected, Predicate):
            expected = spec.normalize(ops[0], key, expected)
        checked.append((key, expected))
    return tuple(checked)


class _OpFactory:
    """``op.NAME(*inputs, **attrs)`` builds an ``OpPattern`` for op ``NAME``."""

    def __getattr__(self, name: str) -> Callable[..., OpPattern]:
        if name.startswith("__"):
            raise AttributeError(name)

        def build(
            *inputs: Pattern | EllipsisType,
            capture: str | None = None,
            single_use: bool = True,
            output: int | None = None,
            ops: Sequence[str] = (),
            **attrs: Any,
        ) -> OpPattern:
            more = bool(inputs) and inputs[-1] is Ellipsis
            patterns = inputs[:-1] if more else inputs
            for p in patterns:
                if not isinstance(p, Pattern):
                    raise TypeError(f"op.{name}: inputs must be patterns, got {p!r}")
            names = (name, *ops)
            return OpPattern(
                ops=names,
                inputs=tuple(p for p in patterns if isinstance(p, Pattern)),
                any_more_inputs=more,
                attrs=_checked_attrs(names, attrs),
                capture=capture,
                single_use=single_use,
                output=output,
            )

        return build


op = _OpFactory()


def var(name: str | None = None, where: Predicate | None = None) -> ValuePattern:
    """Any value (satisfying ``where``), captured as ``name``."""
    return ValuePattern(name, where)


def const(name: str | None = None) -> ValuePattern:
    """A constant with data, captured as ``name``."""
    return ValuePattern(name, such_that(lambda v: v.is_const, "is not a constant"))


def scalar(name: str | None = None, equal_to: float | None = None) -> ValuePattern:
    """A one-element constant (any shape), equal to ``equal_to`` within 1e-6 if given."""

    def holds(v: Value) -> bool:
        if not v.is_const or v.const is None or v.const.size != 1:
            return False
        return equal_to is None or bool(np.isclose(float(v.const.item()), equal_to, atol=1e-6))

    words = "is not a one-element constant" + ("" if equal_to is None else f" = {equal_to:g}")
    return ValuePattern(name, such_that(holds, words))


def either(*alternatives: Pattern) -> EitherPattern:
    """The first alternative that matches."""
    if not alternatives:
        raise TypeError("either() needs at least one alternative")
    return EitherPattern(tuple(alternatives))


@dataclass
class Match:
    """A full match rooted at ``root``: captured values and nodes, the distinct matched
    nodes in the order they were matched (root first, then inputs depth first)."""

    root: Node
    nodes: list[Node]
    values: dict[str, Value] = field(default_factory=dict)
    named_nodes: dict[str, Node] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def get(self, name: str) -> Value | None:
        return self.values.get(name)

    def node(self, name: str) -> Node:
        return self.named_nodes[name]

    def array(self, name: str) -> np.ndarray:
        """The data of the constant captured as ``name``."""
        data = self.values[name].const
        assert data is not None, f"{name} is not a constant"
        return data


@dataclass(frozen=True)
class MatchFailure:
    """The deepest attempt matched ``matched`` ops (root included; see the module docstring
    for what counts) before ``reason`` stopped it."""

    matched: int
    reason: str


def match(pattern: OpPattern | EitherPattern, node: Node) -> Match | MatchFailure:
    """Match ``pattern`` with its root at ``node``: at its output ``pattern.output`` (0 if
    None, or if ``node`` has no such output: the failure then says so)."""
    if not node.outputs:
        return MatchFailure(0, f"{node.op} has no outputs")
    output = pattern.output if isinstance(pattern, OpPattern) and pattern.output else 0
    value = node.outputs[output] if output < len(node.outputs) else node.outputs[0]
    state = _State()
    if pattern.match_value(value, state, root=True):
        nodes = list({id(n): n for n in state.nodes}.values())
        return Match(node, nodes, dict(state.values), dict(state.named_nodes))
    return MatchFailure(max(state.fail_depth, 0), state.fail_reason)


__all__ = [
    "COMMUTATIVE",
    "EitherPattern",
    "Match",
    "MatchFailure",
    "OpPattern",
    "Pattern",
    "Predicate",
    "ValuePattern",
    "const",
    "either",
    "match",
    "op",
    "scalar",
    "such_that",
    "var",
]
