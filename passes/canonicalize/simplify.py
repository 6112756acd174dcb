"""``simplify``: the identity and chain rules, applied together to a fixpoint.

``identity_rules`` remove ops that change nothing (``identity``, a reshape to
the same shape, ``x * 1``, ...); ``chain_rules`` collapse transpose and
reshape chains. They run in one ``apply_rules`` worklist because they feed
each other: two transposes that compose to the identity perm cancel, and an
op freed from a no-op in between can start a new chain. Every rewrite is
recorded under its rule's name, with the source locations it removed; the
rewriter's near misses say why a candidate was kept (``x + 0`` that
broadcasts, a graph output that would be renamed to a graph input).
"""

from __future__ import annotations

from nanograph.ir.graph import Graph
from nanograph.passes.canonicalize.chains import chain_rules
from nanograph.passes.canonicalize.identities import identity_rules
from nanograph.passes.manager import Pass
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import apply_rules

simplify_rules = (*identity_rules, *chain_rules)


def simplify(graph: Graph) -> PassResult:
    """Remove no-op ops and collapse transpose/reshape chains (rules, to a fixpoint)."""
    return apply_rules(graph, simplify_rules)


SIMPLIFY = Pass("simplify", simplify)

__all__ = ["SIMPLIFY", "simplify", "simplify_rules"]
