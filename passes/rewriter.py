"""The rewrite driver: ``Rule``s (pattern + checks + replacement) applied to a fixpoint.

A rule is::

    Rule(
        "matmul+add->linear",
        op.add(op.matmul(var("x"), var("w"), capture="mm"), const("b")),
        build=lambda m, em: [em.op("linear", m["x"], m["w"], m["b"])],
        checks=[lambda m: None if m["b"].type.rank == 1 else "the bias is not 1-D"],
    )

``build(match, emitter)`` writes the replacement with a ``GraphEmitter``
(new nodes go right before the root and carry the root's ``loc``) and returns
one value per root output, of the same type. It may return existing values
(removing an identity) and may raise ``Reject("why")``; each check returns
``None`` or the reason it fails. A rejection after a full structural match is
a near miss like a pattern that stopped part-way.

``apply_rules(graph, rules)`` runs a worklist over the nodes: each node is
tried against the rules anchored at its op, in the given order; after a
rewrite, the new nodes and the users of their results are revisited, so
rules compose until nothing matches (a fixpoint). Matched nodes left without
uses are removed. Near misses are reported only for anchors still in the
graph at the end, at most one per (rule, anchor): the deepest.

Contracts: the graph stays in topological order and keeps its output names
(a rule may not replace a graph output by a graph input or a constant: that
is rejected, as a near miss); a ``build`` returning a value of another type
is a bug (``InternalError`` naming the rule); more rewrites than
``10 * nodes + 100`` means two rules undo each other (``InternalError``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.pattern import EitherPattern, Match, MatchFailure, OpPattern, match
from nanograph.passes.records import NearMiss, PassResult, Rewrite

Check = Callable[[Match], str | None]
Build = Callable[[Match, GraphEmitter], Sequence[Value]]


class Reject(Exception):
    """Raised by a rule's ``build`` to decline a match; the message says why."""


@dataclass(frozen=True)
class Rule:
    """``pattern`` rooted at one op; ``checks`` then ``build`` make the rewrite.

    ``min_near_miss`` is how many pattern ops must match before a failure is
    worth reporting (default 2: the root and one more); a failed check after
    a full match is always reported.
    """

    name: str
    pattern: OpPattern | EitherPattern
    build: Build
    checks: tuple[Check, ...] = field(default=())
    min_near_miss: int = 2

    @property
    def root_ops(self) -> tuple[str, ...]:
        return _root_ops(self.pattern)


def _root_ops(pattern: OpPattern | EitherPattern) -> tuple[str, ...]:
    if isinstance(pattern, OpPattern):
        return pattern.ops
    ops: list[str] = []
    for alt in pattern.alternatives:
        if not isinstance(alt, OpPattern | EitherPattern):
            raise TypeError("a rule's pattern must be rooted at an op")
        ops += _root_ops(alt)
    return tuple(dict.fromkeys(ops))


def apply_rules(graph: Graph, rules: Sequence[Rule]) -> PassResult:
    """Apply ``rules`` to ``graph`` in place until none matches; see the module docstring."""
    by_op: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.root_ops:
            by_op.setdefault(name, []).append(rule)
    result = PassResult()
    misses: dict[tuple[str, int], tuple[Node, NearMiss]] = {}
    worklist: deque[Node] = deque(graph.nodes)
    queued = {id(n) for n in worklist}
    budget = 10 * len(graph.nodes) + 100
    while worklist:
        node = worklist.popleft()
        queued.discard(id(node))
        if node.graph is not graph:
            continue
        for rule in by_op.get(node.op, ()):
            outcome = _try(graph, rule, node)
            if isinstance(outcome, NearMiss):
                key = (rule.name, id(node))
                if key not in misses or misses[key][1].matched <= outcome.matched:
                    misses[key] = (node, outcome)
                continue
            if outcome is None:
                continue
            rewrite, fresh = outcome
            result.record(rewrite)
            budget -= 1
            if budget < 0:
                raise InternalError(
                    f"rewrite rules did not reach a fixpoint (last: {rule.name}); "
                    "two rules probably undo each other"
                )
            for n in _revisit(fresh):
                if id(n) not in queued and n.graph is graph:
                    worklist.append(n)
                    queued.add(id(n))
            break
    result.near_misses = [m for node, m in misses.values() if node.graph is graph]
    return result


def _revisit(fresh: Iterable[Value]) -> list[Node]:
    """The producers and users of the rewrite's results (where new matches can start)."""
    nodes: list[Node] = []
    for value in fresh:
        if value.producer is not None:
            nodes.append(value.producer)
        nodes += value.users
    return nodes


def _try(graph: Graph, rule: Rule, node: Node) -> tuple[Rewrite, list[Value]] | NearMiss | None:
    """Apply ``rule`` at ``node``: the rewrite and its results, a near miss, or None."""
    total = rule.pattern.count_ops()
    found = match(rule.pattern, node)
    if isinstance(found, MatchFailure):
        if found.matched < rule.min_near_miss:
            return None
        return _near_miss(rule, node, found.matched, total, found.reason)
    for check in rule.checks:
        reason = check(found)
        if reason is not None:
            return _near_miss(rule, node, total, total, reason)
    emitter = GraphEmitter(graph, node)
    try:
        results = list(rule.build(found, emitter))
        _check_replaceable(graph, node, results)
    except Reject as why:
        for created in reversed(emitter.created):  # undo what build emitted before declining
            graph.remove(created)
        return _near_miss(rule, node, total, total, str(why))
    rewrite = Rewrite.of(rule.name, found.nodes)
    _replace(graph, rule, node, results, made={id(n) for n in emitter.created})
    _remove_dead(graph, found.nodes[1:])
    return rewrite.with_produced(emitter.created), results


def _near_miss(rule: Rule, node: Node, matched: int, total: int, reason: str) -> NearMiss:
    return NearMiss(rule.name, node.outputs[0].name, node.op, node.loc, matched, total, reason)


def _check_replaceable(graph: Graph, root: Node, results: Sequence[Value]) -> None:
    if len(results) != len(root.outputs):
        raise InternalError(
            f"a rewrite gave {len(results)} values for {root.op}'s {len(root.outputs)} outputs"
        )
    outputs = {id(v) for v in graph.outputs}
    for old, new in zip(root.outputs, results, strict=True):
        if id(old) in outputs and new.producer is None:
            raise Reject(f"it would rename graph output %{old.name} to %{new.name}")
        if id(old) in outputs and id(new) in outputs:
            raise Reject(f"graph outputs %{old.name} and %{new.name} would become one value")


def _replace(
    graph: Graph, rule: Rule, root: Node, results: Sequence[Value], made: set[int]
) -> None:
    """Root outputs -> results. New results take the root's output names (so a fused
    node is named after what it computes), as do existing values that become graph
    outputs (graph outputs keep their names)."""
    renames: list[tuple[Value, str]] = []
    outputs = {id(v) for v in graph.outputs}
    for old, new in zip(root.outputs, results, strict=True):
        if old.type != new.type:
            raise InternalError(
                f"rule {rule.name} replaced %{old.name}: {old.type} by %{new.name}: {new.type}",
                loc=root.loc,
            )
        if id(old) in outputs or (new.producer is not None and id(new.producer) in made):
            renames.append((new, old.name))
        graph.replace_all_uses(old, new)
    graph.remove(root)
    for value, name in renames:
        graph.rename(value, name)


def _remove_dead(graph: Graph, nodes: Iterable[Node]) -> None:
    """Remove matched (non-root) nodes that no longer have uses, users first."""
    outputs = {id(v) for v in graph.outputs}
    for node in nodes:
        if node.graph is graph and not any(v.uses or id(v) in outputs for v in node.outputs):
            graph.remove(node)


__all__ = ["Build", "Check", "Reject", "Rule", "apply_rules"]
