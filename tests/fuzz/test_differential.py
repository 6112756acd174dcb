"""Differential fuzzing: every way of running a random graph agrees (see ``oracle``).

Two generators (``graph_strategies.random_graphs`` over nearly the whole op
set, ``fusion_strategies.fusion_patterns`` for the fusions' targets) feed the
oracle with N drawn in 1..3 and inputs in [-2, 2]; one random graph in 8 gets
a NaN or +-Inf in its input (onnxruntime left out then) to check that the
planned executor and the round trip propagate them as the reference does.
Fusion patterns also assert their rule fired, or did not, as the perturbation
demands (``FusionCase.fires``), so a silently dead rule is caught.

CI runs a fixed, derandomized budget (``CI_EXAMPLES``: every fusion pattern and
perturbation gets its own draws); ``pytest -m fuzz``
runs ``FUZZ_EXAMPLES`` (thousands). On a mismatch hypothesis shrinks the graph
and the failure message carries it as text IR: add it to ``test_regressions``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanograph.api import optimize
from nanograph.ir.graph import Graph
from nanograph.ir.text import print_graph
from tests.fuzz.fusion_strategies import CASES, FusionCase, fusion_patterns
from tests.fuzz.graph_strategies import random_graphs
from tests.fuzz.oracle import check_all_agree, mismatch

CI_EXAMPLES = {"random": 600, "patterns_each": 10}
FUZZ_EXAMPLES = {"random": 3000, "patterns": 1000}

_COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
_N = st.integers(1, 3)
_SEED = st.integers(0, 2**16)
_NONFINITE = st.integers(0, 7).map(lambda k: k == 0)  # one graph in 8 gets NaN/Inf inputs


def check_fusion_case(case: FusionCase, n: int, seed: int) -> None:
    """The oracle, then the rule's firing as the perturbation demands."""
    check_all_agree(case.graph, n, seed)
    if case.fires is None:
        return
    _, report = optimize(case.graph, "O2")
    fired = report.rewrite_counts()[case.rule] > 0
    assert fired == case.fires, (
        f"rule {case.rule!r} {'did not fire' if case.fires else 'fired'} on "
        f"{case.perturbation!r}; rewrites {dict(report.rewrite_counts())}; near misses "
        f"{[m.reason for m in report.near_misses]}\n{print_graph(case.graph)}"
    )


@settings(max_examples=CI_EXAMPLES["random"], **_COMMON)  # type: ignore[arg-type]
@given(graph=random_graphs(), n=_N, seed=_SEED, nonfinite=_NONFINITE)
def test_random_graphs_agree(graph: Graph, n: int, seed: int, nonfinite: bool) -> None:
    check_all_agree(graph, n, seed, nonfinite)


@pytest.mark.parametrize(("name", "perturbation"), CASES)
def test_fusion_patterns_agree(name: str, perturbation: str) -> None:
    """Each (pattern, perturbation) pair gets its own draws, so none is left out."""

    @settings(max_examples=CI_EXAMPLES["patterns_each"], **_COMMON)  # type: ignore[arg-type]
    @given(case=fusion_patterns(name, perturbation), n=_N, seed=_SEED)
    def check(case: FusionCase, n: int, seed: int) -> None:
        check_fusion_case(case, n, seed)

    check()


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES["random"], **_COMMON)  # type: ignore[arg-type]
@given(graph=random_graphs(), n=_N, seed=_SEED, nonfinite=_NONFINITE)
def test_random_graphs_agree_many(graph: Graph, n: int, seed: int, nonfinite: bool) -> None:
    check_all_agree(graph, n, seed, nonfinite)


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES["patterns"], **_COMMON)  # type: ignore[arg-type]
@given(case=fusion_patterns(), n=_N, seed=_SEED)
def test_fusion_patterns_agree_many(case: FusionCase, n: int, seed: int) -> None:
    check_fusion_case(case, n, seed)


def test_oracle_can_fail() -> None:
    """The comparison rejects a real difference and NaN placement (so the fuzzer can fail)."""
    want = np.array([1.0, 2.0, np.nan], dtype=np.float32)
    assert mismatch("y", want, want.copy(), finite_only=False) is None
    assert mismatch("y", want, np.array([1.0, 2.01, np.nan], np.float32), finite_only=False)
    assert mismatch("y", want, np.array([1.0, 2.0, 0.0], np.float32), finite_only=False)
    assert mismatch("y", want, np.array([1.0, 2.0], np.float32), finite_only=False)
    assert mismatch("y", want, np.array([1.0, 2.0, 0.0], np.float32), finite_only=True) is None
    assert mismatch("y", want, np.array([1.0, 2.01, 0.0], np.float32), finite_only=True)
