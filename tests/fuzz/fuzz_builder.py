"""The builder the fuzz strategies write graphs with: bounded constants, exactness tracking.

Contract of every value a strategy puts in its pool: f32, axis 0 is the
symbolic batch ``N`` (so feeds may bind any N), the other dims are small
static ints, and its magnitude stays O(1)-O(10) for inputs in [-2, 2]:
weights are scaled by ``1/sqrt(fan_in)``, ``exp`` only sees ``tanh``,
divisors and ``reciprocal`` arguments are kept away from 0.

*Exact* values (``Builder.is_exact``) are bit-identical in every backend and
at every level: the graph input and what data movement, selection
(``relu``, ``max``, ``where``, ``clip``, pools' max, ...) and casts make of
exact values. Ops that jump on a threshold (comparisons, ``cast`` to f16 or
to an integer, ``argmax``) only ever read exact values, so a one-ulp rounding
difference upstream (a reordered sum) cannot flip a branch and look like a
bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from nanograph.ir.graph import Graph, Value

EXACT_OPS = frozenset(
    {
        "relu", "neg", "abs", "identity", "clip", "maximum", "minimum", "where", "cast",
        "reshape", "transpose", "flatten", "squeeze", "unsqueeze", "concat", "split",
        "slice", "expand", "pad", "gather", "max_pool2d", "global_max_pool2d",
        "reduce_max", "reduce_min",
    }
)  # fmt: skip
"""Ops whose output is bit-exact given bit-exact inputs (no rounding of their own)."""


class Builder:
    """Appends nodes to ``graph``; draws constants from seeds so graphs shrink well."""

    def __init__(self, graph: Graph, draw: Any) -> None:
        self.graph, self.draw = graph, draw
        self._exact: set[str] = {v.name for v in graph.inputs}

    # drawing ---------------------------------------------------------------------------
    def pick(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(options)))

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def flip(self, p_true: int = 2) -> bool:
        """True with probability 1/p_true."""
        return int(self.draw(st.integers(0, p_true - 1))) == 0

    def distinct(self, lo: int, hi: int, count: int) -> list[int]:
        """``count`` distinct ints in [lo, hi], sorted."""
        ints = st.lists(st.integers(lo, hi), min_size=count, max_size=count, unique=True)
        return sorted(self.draw(ints))

    def draw_permutation(self, items: Sequence[int]) -> list[int]:
        return list(self.draw(st.permutations(list(items))))

    # constants -------------------------------------------------------------------------
    def array(self, shape: Sequence[int], lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
        seed = self.draw(st.integers(0, 2**16))
        return np.random.default_rng(seed).uniform(lo, hi, size=tuple(shape)).astype(np.float32)

    def const(self, shape: Sequence[int], lo: float = -1.0, hi: float = 1.0) -> Value:
        return self.constant(self.array(shape, lo, hi), "c")

    def weight(self, shape: Sequence[int], fan_in: int) -> Value:
        """A weight in +-1/sqrt(fan_in), so a product keeps its input's magnitude."""
        bound = 1.0 / np.sqrt(max(1, fan_in))
        return self.constant(self.array(shape, -bound, bound), "w")

    def constant(self, array: np.ndarray, base: str = "c") -> Value:
        value = self.graph.add_constant(self.graph.unique_name(base), np.asarray(array))
        self._exact.add(value.name)
        return value

    def scalar(self, x: float, dtype: Any = np.float32) -> Value:
        return self.constant(np.array(x, dtype=dtype), "s")

    def nonzero(self, shape: Sequence[int], lo: float = 0.5, hi: float = 2.0) -> Value:
        """A constant with |c| in [lo, hi] and a random sign (a safe divisor)."""
        mag = self.array(shape, lo, hi)
        sign = np.where(self.array(shape) < 0, -1.0, 1.0).astype(np.float32)
        return self.constant(mag * sign, "d")

    # nodes -----------------------------------------------------------------------------
    def node(self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None) -> Value:
        return self.nodes(op, inputs, attrs)[0]

    def nodes(
        self, op: str, inputs: Sequence[Value], attrs: dict[str, Any] | None = None
    ) -> list[Value]:
        outs = list(self.graph.add(op, list(inputs), attrs).outputs)
        if op in EXACT_OPS and all(self.is_exact(v) for v in inputs):
            self._exact.update(v.name for v in outs)
        return outs

    def is_exact(self, v: Value) -> bool:
        return v.name in self._exact


def static_dims(v: Value) -> list[int]:
    """The static dims after the batch axis of a pool value."""
    return [dim(v, axis) for axis in range(1, v.type.rank)]


def dim(v: Value, axis: int) -> int:
    """The static dim ``axis`` of ``v`` (an assertion error if it is symbolic)."""
    d = v.type.shape[axis]
    assert isinstance(d, int), f"axis {axis} of {v.type} is symbolic"
    return d
