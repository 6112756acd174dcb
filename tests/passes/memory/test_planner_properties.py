"""``plan_memory`` on random graphs: the safety property the executor relies on.

Hypothesis draws DAGs of elementwise ops (unary, binary with constants and
broadcasting, ``where`` over a comparison), views (reshape, squeeze,
unsqueeze, also of constants), in-place ops (softmax), size changes
(reduce_sum, concat) and a multi-output op (split), with random graph
outputs, kernels allowing in place at random nodes, random workspaces and
alignments. For every plan the independent checker (``plan_checker``) must
find nothing wrong: no two tensors live at one step share a byte unless they
hold the same data or a node writes one over the other in place at that very
step; workspaces are clear of everything live; lifetimes, in-place choices,
the lower bound and the naive sum match their brute-force recomputation. And
the graph executed through the plan's byte offsets gives exactly the
reference interpreter's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.types import DType, TensorType
from nanograph.passes.memory.planner import plan_memory
from tests.passes.memory.plan_checker import plan_violations, reference_outputs, run_in_arena

SHAPES: dict[int, list[tuple[int, ...]]] = {
    4: [(4,), (1, 4), (2, 2)],
    12: [(12,), (3, 4), (4, 3), (1, 12), (2, 2, 3)],
    24: [(24,), (4, 6), (2, 3, 4), (1, 24)],
}
UNARY = ("relu", "exp", "tanh", "neg", "sigmoid")
BINARY = ("add", "mul", "sub", "maximum")
KINDS = (
    "unary",
    "binary",
    "binary_const",
    "where",
    "reshape",
    "unsqueeze",
    "squeeze",
    "const_view",
    "softmax",
    "reduce",
    "concat",
    "split",
)


@dataclass
class RandomGraph:
    graph: Graph
    inplace_at: set[str]  # output names of the nodes whose kernel allows in place
    workspace_at: dict[str, int]  # output name of a node -> its workspace bytes
    alignment: int

    def inplace_ok(self, node: Node) -> bool:
        return node.outputs[0].name in self.inplace_at

    def workspace(self, node: Node) -> int:
        return self.workspace_at.get(node.outputs[0].name, 0)


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _shape(v: Value) -> tuple[int, ...]:
    return tuple(d for d in v.type.shape if isinstance(d, int))


def _add_node(draw: st.DrawFn, g: Graph, pool: list[Value], step: int) -> tuple[Value, ...]:
    """One random node over values of ``pool``; returns its outputs."""
    kind = draw(st.sampled_from(KINDS))
    x = draw(st.sampled_from(pool))
    shape = _shape(x)
    loc = f"random.py:{step}"
    if kind == "unary":
        return g.add(draw(st.sampled_from(UNARY)), [x], loc=loc).outputs
    if kind in ("binary", "where"):
        # y of x's shape, or smaller and broadcast (in place over it would be too small)
        fits = [v for v in pool if _broadcasts(_shape(v), shape)] + [_const(draw, g, shape[-1:])]
        y = draw(st.sampled_from(fits))
        if kind == "where":
            cond = g.add("greater", [x, y], loc=loc).outputs[0]
            return g.add("where", [cond, x, y], loc=loc).outputs
        pair = [x, y] if draw(st.booleans()) else [y, x]
        return g.add(draw(st.sampled_from(BINARY)), pair, loc=loc).outputs
    if kind == "binary_const":
        return g.add(draw(st.sampled_from(BINARY)), [_const(draw, g, shape), x], loc=loc).outputs
    if kind == "reshape":
        numel = _numel(shape)
        target = draw(st.sampled_from(SHAPES.get(numel, [(numel,), (1, numel)])))
        return g.add("reshape", [x], {"shape": list(target)}, loc=loc).outputs
    if kind == "unsqueeze" or (kind == "squeeze" and shape[0] != 1):
        return g.add("unsqueeze", [x], {"axes": [0]}, loc=loc).outputs
    if kind == "squeeze":
        return g.add("squeeze", [x], {"axes": [0]}, loc=loc).outputs
    if kind == "const_view":
        numel = draw(st.sampled_from(sorted(SHAPES)))
        c = _const(draw, g, (numel,))
        target = draw(st.sampled_from(SHAPES[numel]))
        return g.add("reshape", [c], {"shape": list(target)}, loc=loc).outputs
    if kind == "softmax":
        return g.add("softmax", [x], {"axis": -1}, loc=loc).outputs
    if kind == "reduce":
        return g.add("reduce_sum", [x], {"axes": [len(shape) - 1]}, loc=loc).outputs
    if kind == "concat":
        same = [v for v in pool if _shape(v) == shape]
        return g.add("concat", [x, draw(st.sampled_from(same))], {"axis": 0}, loc=loc).outputs
    if shape[0] % 2:  # split needs an even first dim; otherwise a plain unary op
        return g.add("relu", [x], loc=loc).outputs
    half = shape[0] // 2
    return g.add("split", [x], {"axis": 0, "sizes": [half, half]}, loc=loc).outputs


def _broadcasts(small: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Does ``small`` broadcast to ``shape`` (right-aligned dims of 1 or equal)?"""
    if len(small) > len(shape):
        return False
    return all(a in (1, b) for a, b in zip(reversed(small), reversed(shape), strict=False))


def _const(draw: st.DrawFn, g: Graph, shape: tuple[int, ...]) -> Value:
    seed = draw(st.integers(0, 2**16))
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return g.add_constant(g.unique_name("c"), data)


@st.composite
def random_graphs(draw: st.DrawFn) -> RandomGraph:
    g = Graph("random")
    pool: list[Value] = []
    for i in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from([s for shapes in SHAPES.values() for s in shapes]))
        pool.append(g.add_input(f"in{i}", TensorType(DType.f32, shape)))
    for step in range(draw(st.integers(1, 14))):
        outputs = _add_node(draw, g, [v for v in pool if v.type.rank > 0], step)
        pool += [v for v in outputs if v.type.dtype == DType.f32]
    candidates = [v for v in [*g.inputs, *(o for n in g.nodes for o in n.outputs)]]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
    g.outputs = list(chosen)
    names = [n.outputs[0].name for n in g.nodes]
    inplace_at = draw(st.sets(st.sampled_from(names))) if names else set()
    spaces = draw(st.dictionaries(st.sampled_from(names), st.integers(0, 300))) if names else {}
    return RandomGraph(g, inplace_at, spaces, draw(st.sampled_from([8, 64])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_no_two_live_tensors_share_bytes_and_the_plan_runs_right(case: RandomGraph) -> None:
    g = case.graph
    plan = plan_memory(
        g, workspace=case.workspace, inplace_ok=case.inplace_ok, alignment=case.alignment
    )
    problems = plan_violations(
        g, plan, workspace=case.workspace, inplace_ok=case.inplace_ok, alignment=case.alignment
    )
    assert not problems, "\n".join(problems)
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.standard_normal(_shape(v)).astype(np.float32) for v in g.inputs}
    got = run_in_arena(g, plan, feeds)
    for name, want in reference_outputs(g, feeds).items():
        np.testing.assert_array_equal(got[name], want, err_msg=f"output {name}")


@settings(max_examples=60, deadline=None)
@given(random_graphs())
def test_in_place_never_raises_the_bound(case: RandomGraph) -> None:
    g = case.graph
    with_inplace = plan_memory(g, inplace_ok=case.inplace_ok, alignment=case.alignment)
    without = plan_memory(g, alignment=case.alignment)
    assert with_inplace.lower_bound <= without.lower_bound
    assert with_inplace.naive_bytes == without.naive_bytes
