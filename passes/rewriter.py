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
(removing an identity): graph inputs, constants, or outputs of nodes before
the root. It may raise ``Reject("why")``, which undoes what it emitted (nodes
and constants), so the graph is as it was; each check returns ``None`` or the
reason it fails. A check or rejection after a full structural match is a near
miss like a pattern that stopped part-way. ``build`` must change the graph
only through the emitter.

``apply_rules(graph, rules)`` runs a worklist over the nodes, first in graph
order: each node is tried against the rules anchored at its op, in the given
order, and the first that applies wins. After a rewrite it revisits every
node whose match may have changed: the new nodes, the nodes that used the
root's outputs (they now read the results), the users of the values the
matched and emitted nodes read where those now have two uses or fewer
(single-use constraints may now hold, or fail) and, for patterns deeper than
one op, the users of all these down to the deepest pattern's depth. It never
revisits all the users of a widely shared value, so a pass stays linear. So rules compose until
nothing matches (a fixpoint). Matched nodes left without uses are removed, as
are nodes ``build`` emitted but did not use. Constants the rewrites leave unused
stay (dead-code elimination removes them) unless ``free_constants=True`` asks
``apply_rules`` to remove them itself.

Near misses: at most one per (rule, anchor), and only for anchors still in
the graph at the end. Each attempt at an anchor replaces the previous
outcome (an anchor is tried again only when the graph around it changed, so
the last attempt describes the final graph); within one attempt the deepest
failure over ``either`` alternatives and commutative orders is the one
reported (see ``nanograph.passes.pattern``). They are listed in graph order,
then rule order.

Contracts: the graph stays in topological order and keeps its output names
(a rule may not replace a graph output by a graph input or a constant, or
merge two graph outputs into one value: that is rejected, as a near miss).
Bugs in a rule raise ``InternalError`` naming the rule and the root's
``loc``: a ``build`` returning the wrong number of values, a value of another
type, the root's own output, or a value computed after the root; any other
exception from ``build`` (after undoing what it emitted), from a check or
from a pattern's predicate; and more rewrites than ``10 * nodes + 100``,
which means two rules undo each other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import islice

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.errors import InternalError, NanographError
from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.pattern import (
    EitherPattern,
    Match,
    MatchFailure,
    OpPattern,
    match,
)
from nanograph.passes.records import NearMiss, PassResult, Rewrite, describe_node, source_locations

Check = Callable[[Match], str | None]
Build = Callable[[Match, GraphEmitter], Sequence[Value]]


class Reject(Exception):
    """Raised by a rule's ``build`` to decline a match; the message says why."""


@dataclass(frozen=True)
class Rule:
    """``pattern`` rooted at one op; ``checks`` then ``build`` make the rewrite.

    ``min_near_miss`` is how many pattern ops must match before a failure is
    worth reporting (default 2: the root and one more); a failed check or a
    ``Reject`` after a full match is always reported. ``checks`` may be any
    sequence (kept as a tuple). A pattern not rooted at an op is a
    ``TypeError`` here.
    """

    name: str
    pattern: OpPattern | EitherPattern
    build: Build
    checks: Sequence[Check] = field(default=())
    min_near_miss: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))
        _root_ops(self.pattern)

    @property
    def root_ops(self) -> tuple[str, ...]:
        return _root_ops(self.pattern)

    @cached_property
    def total_ops(self) -> int:
        """The number of op patterns in a full match."""
        return self.pattern.count_ops()

    @cached_property
    def depth(self) -> int:
        """The longest chain of op patterns from the root (see ``Pattern.depth``)."""
        return self.pattern.depth()


def _root_ops(pattern: OpPattern | EitherPattern) -> tuple[str, ...]:
    if isinstance(pattern, OpPattern):
        return pattern.ops
    if not isinstance(pattern, EitherPattern):
        raise TypeError(f"a rule's pattern must be rooted at an op, got {pattern!r}")
    ops: list[str] = []
    for alt in pattern.alternatives:
        if not isinstance(alt, OpPattern | EitherPattern):
            raise TypeError("a rule's pattern must be rooted at an op")
        ops += _root_ops(alt)
    return tuple(dict.fromkeys(ops))


@dataclass
class _Applied:
    """A rewrite done: its record, and the nodes whose matches it may have changed."""

    rewrite: Rewrite
    seeds: list[Node]


def apply_rules(graph: Graph, rules: Sequence[Rule], *, free_constants: bool = False) -> PassResult:
    """Apply ``rules`` to ``graph`` in place until none matches; see the module docstring.

    With ``free_constants``, the constants the rewrites left unused (those replaced by
    folded ones) are removed too, counted as ``dead constants``: see ``run_freeing_constants``.
    """
    if free_constants:
        return run_freeing_constants(graph, lambda g: apply_rules(g, rules))
    by_op: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.root_ops:
            by_op.setdefault(name, []).append(rule)
    rank = {id(rule): i for i, rule in enumerate(rules)}
    reach = max((rule.depth for rule in rules), default=1)
    result = PassResult()
    misses: dict[tuple[int, int], tuple[Node, int, NearMiss]] = {}
    worklist: deque[Node] = deque(graph.nodes)
    queued = {id(n) for n in worklist}
    budget = 10 * len(graph.nodes) + 100
    while worklist:
        node = worklist.popleft()
        queued.discard(id(node))
        if node.graph is not graph:
            continue
        for rule in by_op.get(node.op, ()):
            key = (id(rule), id(node))
            misses.pop(key, None)  # this attempt's outcome replaces the last one's
            outcome = _try(graph, rule, node)
            if outcome is None:
                continue
            if isinstance(outcome, NearMiss):
                misses[key] = (node, rank[id(rule)], outcome)
                continue
            result.record(outcome.rewrite)
            budget -= 1
            if budget < 0:
                raise InternalError(
                    f"rewrite rules did not reach a fixpoint after {len(result.rewrites)} "
                    f"rewrites (the last: {rule.name} at {describe_node(node)}); "
                    "two rules probably undo each other",
                    loc=node.loc,
                    hint="make one rule's result something the other does not match",
                )
            for n in _downstream(outcome.seeds, reach):
                if id(n) not in queued and n.graph is graph:
                    worklist.append(n)
                    queued.add(id(n))
            break
    result.near_misses = _live_near_misses(graph, misses.values())
    return result


def run_freeing_constants(graph: Graph, run: Callable[[Graph], PassResult]) -> PassResult:
    """``run(graph)``, then remove the constants that were used before it (by a node, or as a
    graph output) and are not any more, each counted in its result as ``dead constants``.
    Constants that were already unused are left to dead-code elimination."""
    used_before = [v for v in graph.constants.values() if _is_used(graph, v)]
    result = run(graph)
    for value in used_before:
        if not _is_used(graph, value):
            graph.remove_constant(value.name)
            result.count("dead constants")
    return result


def _is_used(graph: Graph, value: Value) -> bool:
    return bool(value.num_uses) or any(value is out for out in graph.outputs)


def _live_near_misses(graph: Graph, misses: Iterable[tuple[Node, int, NearMiss]]) -> list[NearMiss]:
    """The near misses whose anchor is still in ``graph``, in graph order, then rule order,
    each naming its anchor as it is named now (a later rewrite may have renamed it)."""
    alive = [(node, order, miss) for node, order, miss in misses if node.graph is graph]
    if not alive:
        return []
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    alive.sort(key=lambda item: (position[id(item[0])], item[1]))
    return [replace(miss, anchor=node.outputs[0].name) for node, _, miss in alive]


def _downstream(seeds: Iterable[Node], reach: int) -> list[Node]:
    """``seeds`` and their users, transitively, up to ``reach - 1`` steps down: the anchors
    whose patterns (at most ``reach`` ops deep) can see a seed."""
    seen: dict[int, Node] = {id(n): n for n in seeds}
    frontier = list(seen.values())
    for _ in range(reach - 1):
        nxt = []
        for node in frontier:
            for value in node.outputs:
                for user in value.users:
                    if id(user) not in seen:
                        seen[id(user)] = user
                        nxt.append(user)
        frontier = nxt
    return list(seen.values())


def _try(graph: Graph, rule: Rule, node: Node) -> _Applied | NearMiss | None:
    """Apply ``rule`` at ``node``: the rewrite done, a near miss, or None."""
    total = rule.total_ops
    try:
        found = match(rule.pattern, node)
        if isinstance(found, MatchFailure):
            if found.matched < rule.min_near_miss:
                return None
            return _near_miss(rule, node, found.matched, total, found.reason)
        reason = next((r for r in (check(found) for check in rule.checks) if r is not None), None)
    except Exception as err:  # a predicate or check that crashed
        raise _crashed(rule, node, "its pattern or a check", err) from err
    if reason is not None:
        return _near_miss(rule, node, total, total, reason)
    emitter = GraphEmitter(graph, node)
    constants_before = len(graph.constants)
    try:
        results = list(rule.build(found, emitter))
        _check_results(graph, rule, found, results, emitter.created)
    except Reject as why:
        _undo(graph, emitter.created, constants_before)
        return _near_miss(rule, node, total, total, str(why))
    except Exception as err:
        _undo(graph, emitter.created, constants_before)
        if isinstance(err, InternalError):
            raise
        raise _crashed(rule, node, "its build", err) from err
    return _commit(graph, rule, found, results, emitter.created)


_RULE_BUG_HINT = "this is a bug in the rule; compile at a lower level to work around it"


def _crashed(rule: Rule, node: Node, where: str, err: Exception) -> InternalError:
    message = err.message if isinstance(err, NanographError) else f"{type(err).__name__}: {err}"
    return InternalError(
        f"rule {rule.name} failed in {where} at {describe_node(node)}: {message}",
        loc=node.loc,
        hint=_RULE_BUG_HINT,
    )


def _commit(
    graph: Graph, rule: Rule, found: Match, results: Sequence[Value], created: Sequence[Node]
) -> _Applied:
    """Make ``results`` stand for the root's outputs, remove the matched and emitted nodes
    left unused; the record, and the nodes whose matches may have changed (the seeds)."""
    root = found.root
    matched = tuple(describe_node(n) for n in found.nodes)
    locations = source_locations(found.nodes)
    touched = {id(v): v for n in (*found.nodes, *created) for v in n.inputs}
    seeds = [user for value in root.outputs for user in value.users]  # their inputs change
    _replace(graph, root, results, made={id(n) for n in created})
    _remove_dead(graph, [*found.nodes[1:], *reversed(created)])
    produced = [n for n in created if n.graph is graph]
    seeds += produced
    for value in touched.values():  # use counts changed: single use may now (not) hold
        if value.num_uses <= 2 and _in_graph(graph, value):
            seeds += value.users
    made = tuple(describe_node(n) for n in produced)
    anchor = root.outputs[0].name
    return _Applied(Rewrite(rule.name, anchor, matched, locations, made), seeds)


def _near_miss(rule: Rule, node: Node, matched: int, total: int, reason: str) -> NearMiss:
    return NearMiss(rule.name, node.outputs[0].name, node.op, node.loc, matched, total, reason)


def _undo(graph: Graph, created: Sequence[Node], constants_before: int) -> None:
    """Remove what a declined ``build`` emitted: its nodes, then its (now unused) constants."""
    for node in reversed(created):
        if node.graph is graph:
            graph.remove(node)
    added = len(graph.constants) - constants_before
    for name in list(islice(reversed(graph.constants), max(added, 0))):
        if not graph.constants[name].num_uses:
            graph.remove_constant(name)


def _bug(rule: Rule, root: Node, what: str) -> InternalError:
    return InternalError(
        f"rule {rule.name} at {describe_node(root)}: {what}", loc=root.loc, hint=_RULE_BUG_HINT
    )


def _check_results(
    graph: Graph, rule: Rule, found: Match, results: Sequence[Value], created: Sequence[Node]
) -> None:
    """Raise ``InternalError`` for results no rule may return, ``Reject`` for results that
    would rename or merge graph outputs."""
    root = found.root
    if len(results) != len(root.outputs):
        raise _bug(rule, root, f"build gave {len(results)} values for {len(root.outputs)} outputs")
    made = {id(n) for n in created}
    for old, new in zip(root.outputs, results, strict=True):
        if not isinstance(new, Value):
            raise _bug(rule, root, f"build returned {new!r}, not a Value")
        if new.type != old.type:
            raise _bug(
                rule,
                root,
                f"build would replace %{old.name}: {old.type} by %{new.name}: {new.type}",
            )
        if new.producer is root:
            raise _bug(
                rule,
                root,
                f"build returned the root's own output %{new.name}; "
                "raise Reject to decline a match",
            )
        if not _in_graph(graph, new):
            raise _bug(rule, root, f"build returned %{new.name}, which is not in the graph")
        computed_after = (
            new.producer is not None
            and id(new.producer) not in made
            and not _before(graph, found, new)
        )
        if computed_after:
            raise _bug(
                rule,
                root,
                f"build returned %{new.name}, which is computed after the root "
                "(its users would come before it)",
            )
    _check_outputs_kept(graph, root, results)


def _check_outputs_kept(graph: Graph, root: Node, results: Sequence[Value]) -> None:
    """``Reject`` a rewrite that would rename a graph output to a graph input or constant,
    or make two graph outputs one value (graph outputs keep their names)."""
    outputs = {id(v) for v in graph.outputs}
    taken: dict[int, Value] = {}
    for old, new in zip(root.outputs, results, strict=True):
        if id(old) not in outputs:
            continue
        if new.producer is None:
            raise Reject(f"it would rename graph output %{old.name} to %{new.name}")
        other = taken.get(id(new))
        if id(new) in outputs or other is not None:
            name = new.name if other is None else other.name
            raise Reject(f"graph outputs %{old.name} and %{name} would become one value")
        taken[id(new)] = old


def _in_graph(graph: Graph, value: Value) -> bool:
    if value.producer is not None:
        return value.producer.graph is graph
    if graph.constants.get(value.name) is value:
        return True
    return any(v is value for v in graph.inputs)


def _before(graph: Graph, found: Match, value: Value) -> bool:
    """Whether ``value``'s producer comes before the root (it is a value the match saw, or,
    rarely, found by a walk over the graph)."""
    seen = {id(v) for n in found.nodes for v in (*n.inputs, *n.outputs)}
    if id(value) in seen and value.producer is not found.root:
        return True
    for node in graph.nodes:
        if node is value.producer:
            return True
        if node is found.root:
            return False
    return False


def _replace(graph: Graph, root: Node, results: Sequence[Value], made: set[int]) -> None:
    """Root outputs -> results. New results take the root's output names (so a fused
    node is named after what it computes), as do existing values that become graph
    outputs (graph outputs keep their names); other existing values keep theirs."""
    renames: list[tuple[Value, str]] = []
    outputs = {id(v) for v in graph.outputs}
    for old, new in zip(root.outputs, results, strict=True):
        if id(old) in outputs or (new.producer is not None and id(new.producer) in made):
            renames.append((new, old.name))
        graph.replace_all_uses(old, new)
    graph.remove(root)
    for value, name in renames:
        graph.rename(value, name)


def _remove_dead(graph: Graph, nodes: Sequence[Node]) -> None:
    """Remove those of ``nodes`` that no longer have uses; again while one removal leaves
    another of them (its producer) without uses. Users-first order takes one sweep."""
    outputs = {id(v) for v in graph.outputs}
    removed = True
    while removed:
        removed = False
        for node in nodes:
            if node.graph is graph and not any(
                v.num_uses or id(v) in outputs for v in node.outputs
            ):
                graph.remove(node)
                removed = True
        nodes = [n for n in nodes if n.graph is graph] if removed else nodes
        removed = removed and bool(nodes)


__all__ = ["Build", "Check", "Reject", "Rule", "apply_rules", "run_freeing_constants"]
