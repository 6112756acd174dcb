"""The estimates the memory limit is checked against, on graphs whose bytes are counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.memory_estimate import MemoryEstimate, TensorSize, arena_bytes, live_bytes
from nanograph.backends.memory_limit import check_memory, format_bytes, suggest_limit
from nanograph.backends.planned.executor import PlannedExecutor
from nanograph.ir.errors import NanographError, ResourceLimitError
from tests.reliability.clear_error import assert_clear

CHAIN = """graph chain(%x: f32[N,8]) -> (f32[N,8]) {
  %a = relu(%x) : f32[N,8]  # m.py:1
  %b = exp(%a) : f32[N,8]  # m.py:2
  %c = add(%a, %b) : f32[N,8]  # m.py:3
  %r = reshape(%c) {shape=[N,2,4]} : f32[N,2,4]  # m.py:4
  %d = relu(%r) : f32[N,2,4]  # m.py:5
  %e = reshape(%d) {shape=[N,8]} : f32[N,8]  # m.py:6
  return %e
}"""


def test_live_bytes_is_the_most_node_outputs_alive_at_one_step() -> None:
    graph = ng.parse_graph(CHAIN, {})
    row = 8 * 4  # bytes of one f32[8] row
    # step 2 (add): a and b are read, c is made -> 3 rows per N; later at most c, d alive.
    # The reshapes are views: 0 bytes. The input x is the caller's: not counted.
    estimate = live_bytes(graph, {"N": 10})
    assert estimate.total == 3 * row * 10
    # between steps: a and b (after exp), then c, then d (the output): 2 rows per N
    assert live_bytes(graph, {"N": 10}, between_steps=True).total == 2 * row * 10
    assert estimate.largest == TensorSize("a", "f32[10,8]", row * 10, "relu", "m.py:1")


def test_sizes_are_python_ints_so_huge_products_do_not_overflow() -> None:
    graph = ng.parse_graph(CHAIN, {})
    huge = 10**18  # N * 8 * 4 * 3 overflows int64 (9.2e18)
    assert live_bytes(graph, {"N": huge}).total == 3 * 8 * 4 * huge
    wrapped = np.prod(np.array([huge, 8, 4, 3], np.int64))  # what NumPy's int64 would say
    assert int(wrapped) != 3 * 8 * 4 * huge


def test_an_unbound_symbol_counts_its_tensors_as_zero() -> None:
    """A lower bound: what cannot be sized is not counted, never guessed."""
    assert live_bytes(ng.parse_graph(CHAIN, {})).total == 0


def test_arena_bytes_is_the_executors_allocation() -> None:
    graph = ng.parse_graph(CHAIN, {})
    executor = PlannedExecutor(graph)
    program = executor.program({"N": 10})
    estimate = arena_bytes(program.graph, program.plan)
    assert estimate == program.estimate
    assert estimate.total == program.plan.arena_bytes + program.plan.alignment
    assert estimate.total >= program.arena.nbytes  # what Arena really holds (plus slack)
    # the check before specialize is a lower bound; the in-place steps make the
    # interpreter's measure (a node's inputs and output together) exceed the arena here
    assert estimate.total >= live_bytes(program.graph, between_steps=True).total == 2 * 320
    assert live_bytes(program.graph).total == 3 * 320 > estimate.total


def test_a_refusal_without_bindings_or_locations_still_says_where() -> None:
    estimate = MemoryEstimate(3 * 2**30, "the node outputs alive at once", None)
    with pytest.raises(NanographError) as info:
        check_memory(estimate, 2**30, graph="g", dims={})
    error = assert_clear(info.value, ResourceLimitError, "needs at least 3 GiB", "graph g")
    assert "memory_limit= of compile" in error.message and "at least 3GiB" in error.hint
    check_memory(estimate, None, graph="g", dims={})  # no limit: nothing is refused
    check_memory(estimate, 3 * 2**30, graph="g", dims={})  # exactly at the limit fits


@pytest.mark.parametrize(
    ("n", "text", "suggestion"),
    [
        (512, "512 B", "512B"),
        (1536, "1.5 KiB", "2KiB"),
        (3 * 2**30, "3 GiB", "3GiB"),
        (4 * 10**12, "3.64 TiB", "4TiB"),
    ],
)
def test_byte_counts_for_people(n: int, text: str, suggestion: str) -> None:
    assert format_bytes(n) == text
    assert suggest_limit(n) == suggestion
