"""What a pass reports: ``PassResult``, with each ``Rewrite`` applied and each ``NearMiss``.

These are plain, immutable records of strings and numbers, so the terminal,
``--html``, JSON and notebooks all read the same data, and a record never
keeps a graph alive.

- A ``Rewrite`` is one application of a rule: the rule's name, the nodes it
  matched (``"op %name"``, in pattern order, root first), the source
  locations of the nodes it replaced, and the ops that replace them.
- A ``NearMiss`` is a rule that began to match at an anchor node and then
  failed: how many of the pattern's ops matched, out of how many, and the
  check that failed, in words. Only misses that matched at least the rule's
  ``min_near_miss`` ops (by default 2: past the anchor), or that failed a
  check or were rejected after a full structural match, are kept: "this
  matmul is not followed by a softmax" is not news.
- ``PassResult.stats`` are counters (rewrites per rule, nodes removed, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nanograph.ir.graph import Node


def describe_node(node: Node) -> str:
    """``"op %first_output"``: how records name a node."""
    return f"{node.op} %{node.outputs[0].name}" if node.outputs else node.op


def source_locations(nodes: Iterable[Node]) -> tuple[str, ...]:
    """The distinct non-empty ``loc``s of ``nodes``, in first-seen order."""
    return tuple(dict.fromkeys(n.loc for n in nodes if n.loc))


@dataclass(frozen=True)
class Rewrite:
    """One rule application: ``matched`` nodes became ``produced`` ops."""

    rule: str
    anchor: str
    matched: tuple[str, ...]
    locations: tuple[str, ...]
    produced: tuple[str, ...]

    @classmethod
    def of(cls, rule: str, matched: Sequence[Node], produced: Sequence[Node] = ()) -> Rewrite:
        """A record from live nodes (describe ``matched`` before removing them; the
        ``produced`` nodes can be added later with ``with_produced``)."""
        return cls(
            rule=rule,
            anchor=matched[0].outputs[0].name if matched and matched[0].outputs else "",
            matched=tuple(describe_node(n) for n in matched),
            locations=source_locations(matched),
            produced=tuple(describe_node(n) for n in produced),
        )

    def with_produced(self, produced: Sequence[Node]) -> Rewrite:
        """This record naming ``produced`` as the replacement (as they are named now)."""
        return replace(self, produced=tuple(describe_node(n) for n in produced))

    def __str__(self) -> str:
        where = f" at {', '.join(self.locations)}" if self.locations else ""
        made = ", ".join(self.produced) or "nothing (removed)"
        return f"{self.rule}: {' + '.join(self.matched)} -> {made}{where}"


@dataclass(frozen=True)
class NearMiss:
    """A rule that matched ``matched`` of ``total`` pattern ops at ``anchor``, then failed."""

    rule: str
    anchor: str
    anchor_op: str
    location: str
    matched: int
    total: int
    reason: str

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return (
            f"{self.rule} at {self.anchor_op} %{self.anchor}{where}: matched "
            f"{self.matched}/{self.total} ops, then {self.reason}"
        )


@dataclass
class PassResult:
    """What one pass did to the graph it was given (in place)."""

    changed: bool = False
    stats: Counter[str] = field(default_factory=Counter)
    rewrites: list[Rewrite] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)

    def record(self, rewrite: Rewrite) -> None:
        """Add one rewrite; counts it under its rule and marks the graph changed."""
        self.rewrites.append(rewrite)
        self.stats[rewrite.rule] += 1
        self.changed = True

    def count(self, stat: str, n: int = 1) -> None:
        """Add ``n`` to counter ``stat``; a positive count marks the graph changed."""
        if n:
            self.stats[stat] += n
            self.changed = True

    def merge(self, other: PassResult) -> None:
        """Fold a sub-step's result into this one."""
        self.changed |= other.changed
        self.stats.update(other.stats)
        self.rewrites.extend(other.rewrites)
        self.near_misses.extend(other.near_misses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "stats": dict(self.stats),
            "rewrites": [asdict(r) for r in self.rewrites],
            "near_misses": [asdict(m) for m in self.near_misses],
        }


__all__ = ["NearMiss", "PassResult", "Rewrite", "describe_node", "source_locations"]
