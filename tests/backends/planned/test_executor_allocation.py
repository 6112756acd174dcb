"""Allocation-free steady state: with a kernel for every op, what a call allocates does not
grow between batch 1 and batch 32 (``traced_bytes_per_call``: tracemalloc's peak during one
call, beyond the outputs it returns; NumPy's own per-call bookkeeping stays, constant).

Two measures: ``exe.run`` (the whole call: feed check, copies in, steps, copies out) and
``Program.execute`` (copies in and steps only), which cannot hide a transient array smaller
than the outputs.

``SLACK`` (512 bytes) is what may grow without an array growing: Python int objects for
sizes above 256 (28-32 bytes each; kernels' shape arithmetic makes a few per call: 256
bytes in vit_tiny's layer_norm step) and NumPy's iterator buffers, capped by
``ITERATOR_BUFSIZE``. The smallest batch-32 intermediate of these graphs is lenet's
[32, 10] logits (1,280 bytes); the others are 4 KB and more.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import pytest

from nanograph.api import optimize
from nanograph.backends.feeds import bind_inputs
from nanograph.backends.planned.executor import PlannedExecutor, executor_kernels
from nanograph.backends.planned.kernel import Kernel
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType
from nanograph.zoo import MODELS
from tests.backends.planned.planned_models import (
    MLP_OPS,
    WRITE_KERNELS,
    mlp_feeds,
    mlp_graph,
    steps_that_grow,
    traced_bytes_per_call,
    zoo,
    zoo_feeds,
)

SLACK = 512
SMALL, LARGE = 1, 32


def residual_chain(width: int = 64, depth: int = 20) -> Graph:
    """x -> (add bias, relu) x depth, with a residual add of x at the end: broadcasting adds,
    in-place steps and a value (x) that lives across the whole chain."""
    g = Graph("residual_chain")
    x = g.add_input("x", TensorType.of("f32", ("N", width)))
    bias = g.add_constant("bias", np.linspace(-1, 1, width, dtype=np.float32))
    v = x
    for i in range(depth):
        v = g.add("add", [v, bias], loc=f"chain.py:{2 * i}").output
        v = g.add("relu", [v], loc=f"chain.py:{2 * i + 1}").output
    g.outputs = [g.add("add", [v, x], loc="chain.py:99").output]
    return g


def growth(
    executor: PlannedExecutor,
    feeds_at: Mapping[int, dict[str, np.ndarray]],
    measures: tuple[str, ...] = ("run", "execute"),
) -> int:
    """How much more one call traces at batch LARGE than at SMALL, on the ``measures``."""
    traced: dict[str, dict[int, int]] = {measure: {} for measure in measures}
    for batch, feeds in feeds_at.items():
        program = executor.program(dims_of(executor, feeds))
        calls = {"run": partial(executor.run, feeds), "execute": partial(program.execute, feeds)}
        for measure in measures:
            traced[measure][batch] = traced_bytes_per_call(calls[measure])
    return max(t[LARGE] - t[SMALL] for t in traced.values())


def assert_allocation_free(
    executor: PlannedExecutor,
    feeds_at: Mapping[int, dict[str, np.ndarray]],
    measures: tuple[str, ...] = ("run", "execute"),
) -> None:
    """No growth beyond ``SLACK``; a failure names the steps that grow."""
    grown = growth(executor, feeds_at, measures)
    if grown > SLACK:
        small, large = (
            (executor.program(dims_of(executor, feeds_at[b])), feeds_at[b]) for b in (SMALL, LARGE)
        )
        culprits = steps_that_grow(small, large, SLACK) or ["none alone: several small ones"]
        pytest.fail(
            f"a call traces {grown} bytes more at batch {LARGE} than at {SMALL}; "
            f"steps that grow: {', '.join(culprits)}"
        )


def dims_of(executor: PlannedExecutor, feeds: Mapping[str, np.ndarray]) -> dict[str, int]:
    """The symbol values ``feeds`` bind (as a call binds them)."""
    return bind_inputs(executor.graph, feeds)[1]


def chain_feeds(batch: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(batch).standard_normal((batch, 64)).astype(np.float32)}


def test_kernels_for_every_op_make_calls_allocation_free() -> None:
    executor = PlannedExecutor(residual_chain(), kernels=WRITE_KERNELS, fallbacks={})
    assert executor.program({"N": LARGE}).fallback_ops == set()
    assert_allocation_free(executor, {b: chain_feeds(b) for b in (SMALL, LARGE)})


def test_the_measure_sees_fallback_steps_allocate() -> None:
    """The same graph on references: each step's result is a fresh [N, 64] array, so the
    measure must grow by about one of them (8 KB at batch 32; at least half of that, as
    other transients, such as NumPy's iterator buffers, may set the peak at batch 1)."""
    executor = PlannedExecutor(residual_chain(), kernels={}, fallbacks={})
    half_an_intermediate = (LARGE - SMALL) * 64 * 4 // 2
    assert growth(executor, {b: chain_feeds(b) for b in (SMALL, LARGE)}) >= half_an_intermediate


def test_one_fallback_op_is_enough_to_be_seen() -> None:
    """Only relu on its reference: the measure still grows by about one [N, 64] array."""
    kernels = {"add": WRITE_KERNELS["add"]}
    executor = PlannedExecutor(residual_chain(), kernels=kernels, fallbacks={})
    assert executor.program({"N": SMALL}).fallback_ops == {"relu"}
    half_an_intermediate = (LARGE - SMALL) * 64 * 4 // 2
    assert growth(executor, {b: chain_feeds(b) for b in (SMALL, LARGE)}) >= half_an_intermediate


def _missing(ops: set[str], kernels: Mapping[str, Kernel]) -> list[str]:
    return sorted(ops - set(kernels))


def test_executor_kernels_make_an_mlp_allocation_free() -> None:
    """linear, relu, add, layer_norm and softmax on EXECUTOR_KERNELS, once they all exist."""
    missing = _missing(MLP_OPS, executor_kernels())
    if missing:
        pytest.skip(f"EXECUTOR_KERNELS has no kernel for {', '.join(missing)} yet")
    executor = PlannedExecutor(mlp_graph(), fallbacks={})
    assert_allocation_free(executor, {b: mlp_feeds(b) for b in (SMALL, LARGE)})


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_at_o2_is_allocation_free_on_the_executor_kernels(name: str) -> None:
    """``execute`` only: what ``run`` adds (feed check, copies out) does not depend on the
    model and is measured above."""
    graph, spec = zoo(name)
    work, _ = optimize(graph, "O2")
    executor = PlannedExecutor(work, fallbacks={})
    feeds = {b: zoo_feeds(spec, b) for b in (SMALL, LARGE)}
    fallback_ops = executor.program(dims_of(executor, feeds[SMALL])).fallback_ops
    assert not fallback_ops, f"no executor kernel for {', '.join(sorted(fallback_ops))}"
    assert_allocation_free(executor, feeds, ("execute",))
