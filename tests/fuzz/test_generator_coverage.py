"""``random_graphs`` reaches what its docstring promises: every op of the registry but
the ones it lists as not covered. (Fusion patterns need no such test:
``test_differential`` runs every pattern and perturbation by name.)

Generation only (no graph is run), so a silently dead generator branch fails here in
about a second instead of shrinking the fuzzer's coverage unnoticed.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings

from nanograph.ir.graph import Graph
from nanograph.ir.ops.registry import OPS
from tests.fuzz.graph_strategies import random_graphs

NOT_GENERATED = {"shape"}
"""Registry ops ``random_graphs`` does not draw (its docstring says why)."""

_SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_random_graphs_cover_the_op_set() -> None:
    seen: Counter[str] = Counter()

    @_SETTINGS
    @given(graph=random_graphs())
    def collect(graph: Graph) -> None:
        seen.update(node.op for node in graph.nodes)

    collect()
    missing = set(OPS) - NOT_GENERATED - set(seen)
    assert not missing, f"ops never generated in 400 graphs: {sorted(missing)}"
