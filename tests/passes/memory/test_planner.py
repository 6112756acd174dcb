"""``plan_memory`` on hand-written graphs: each rule of its contract, and where it must not apply.

Every test states what the plan must say (lifetimes, views, in place,
workspaces, reuse) from the graph, then runs the independent checker
(``plan_checker``) and, where a result could be corrupted, executes the graph
through the plan's offsets against the reference interpreter.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nanograph.ir.errors import ConfigError, ShapeError
from nanograph.ir.graph import Node
from nanograph.ir.ops import get_op
from nanograph.ir.text import parse_graph
from nanograph.passes.memory import planner
from nanograph.passes.memory.planner import plan_memory
from tests.passes.memory.plan_checker import (
    assert_plan_sound,
    reference_outputs,
    run_in_arena,
)


def always(node: Node) -> bool:
    return True


def _feeds(text: str, seed: int = 0) -> dict[str, np.ndarray]:
    graph = parse_graph(text)
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in graph.inputs:
        shape = tuple(d for d in v.type.shape if isinstance(d, int))
        feeds[v.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _runs_right(text: str, **options: object) -> None:
    """The plan is sound and the graph run through its offsets gives the reference's outputs."""
    graph = parse_graph(text)
    plan = plan_memory(graph, **options)  # type: ignore[arg-type]
    assert_plan_sound(graph, plan, **options)
    feeds = _feeds(text)
    got = run_in_arena(graph, plan, feeds)
    for name, want in reference_outputs(graph, feeds).items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)


CHAIN = """\
graph chain(%x: f32[4,8], %unused: f32[4,8]) -> (f32[4,8], f32[4,8]) {
  %a = relu(%x) : f32[4,8]  # m.py:1
  %b = exp(%a) : f32[4,8]  # m.py:2
  %c = tanh(%b) : f32[4,8]  # m.py:3
  %d = add(%b, %c) : f32[4,8]  # m.py:4
  %s, %t = split(%d) {axis=1, sizes=[4,4]} : f32[4,4], f32[4,4]  # m.py:5
  %e = neg(%d) : f32[4,8]  # m.py:6
  return %e, %x
}
"""


# lifetimes -------------------------------------------------------------------------------
def test_lifetimes_run_from_the_writing_step_to_the_last_read() -> None:
    plan = plan_memory(parse_graph(CHAIN))
    spans = {name: (t.first, t.last) for name, t in plan.tensors.items()}
    assert spans == {
        "x": (-1, 6),  # a graph input (first -1) that is also a graph output (last = 6 nodes)
        "unused": (-1, -1),  # copied in, never read
        "a": (0, 1),
        "b": (1, 3),  # read by tanh and by add
        "c": (2, 3),
        "d": (3, 5),
        "s": (4, 4),  # outputs nobody reads live during their own step only
        "t": (4, 4),
        "e": (5, 6),
    }
    assert_plan_sound(parse_graph(CHAIN), plan)


def test_sizes_are_the_types_bytes_and_offsets_are_aligned() -> None:
    for alignment in (8, 64, 256):
        plan = plan_memory(parse_graph(CHAIN), alignment=alignment)
        assert plan.alignment == alignment
        assert plan.tensors["s"].nbytes == 4 * 4 * 4
        assert all(t.offset % alignment == 0 for t in plan.tensors.values())
        assert_plan_sound(parse_graph(CHAIN), plan, alignment=alignment)


def test_totals_of_a_chain_are_computed_by_hand() -> None:
    # 128-byte tensors; at step 3 (add) b, c, d and the graph input x are live: 4 * 128.
    plan = plan_memory(parse_graph(CHAIN))
    assert plan.lower_bound == 4 * 128
    assert plan.naive_bytes == 2 * 128 + 5 * 128 + 2 * 64  # x, unused; a..e; s and t
    assert plan.lower_bound <= plan.arena_bytes <= plan.naive_bytes
    assert plan.arena_bytes <= 1.1 * plan.lower_bound


def test_reuse_names_a_tensor_dead_before() -> None:
    plan = plan_memory(parse_graph(CHAIN))
    reusing = {n: t.reuses for n, t in plan.tensors.items() if t.reuses is not None}
    assert reusing, "a chain of five same-sized tensors must reuse bytes"
    for name, old in reusing.items():
        assert plan.tensors[old].last < plan.tensors[name].first
    _runs_right(CHAIN)


def test_symbolic_sizes_are_refused_with_where_and_how_to_fix() -> None:
    graph = parse_graph(
        "graph g(%x: f32[N,4]) -> (f32[N,4]) {\n"
        "  %y = relu(%x) : f32[N,4]  # m.py:7\n"
        "  return %y\n}\n"
    )
    with pytest.raises(ShapeError, match=r"%x: f32\[N,4\] has symbolic dims") as err:
        plan_memory(graph)
    assert "nanograph.ir.specialize" in str(err.value)


def test_an_alignment_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="alignment must be a positive"):
        plan_memory(parse_graph(CHAIN), alignment=0)


# views -----------------------------------------------------------------------------------
VIEWS = """\
graph views(%x: f32[2,3,4]) -> (f32[6,4]) {
  @w: f32[2,6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
  %a = relu(%x) : f32[2,3,4]  # m.py:1
  %v = reshape(%a) {shape=[6,4]} : f32[6,4]  # m.py:2
  %b = exp(%a) : f32[2,3,4]  # m.py:3
  %c = tanh(%b) : f32[2,3,4]  # m.py:4
  %wv = reshape(@w) {shape=[12]} : f32[12]  # m.py:5
  %u = unsqueeze(%wv) {axes=[0]} : f32[1,12]  # m.py:5
  %cv = reshape(%c) {shape=[2,12]} : f32[2,12]  # m.py:6
  %d = add(%cv, %u) : f32[2,12]  # m.py:6
  %dv = reshape(%d) {shape=[6,4]} : f32[6,4]  # m.py:7
  %e = add(%dv, %v) : f32[6,4]  # m.py:8
  return %e
}
"""


def test_a_view_shares_its_sources_bytes_and_keeps_them_alive() -> None:
    plan = plan_memory(parse_graph(VIEWS))
    a, v = plan.tensors["a"], plan.tensors["v"]
    assert v.view_of == "a" and (v.offset, v.nbytes) == (a.offset, a.nbytes)
    assert (a.first, a.last) == (0, 2)  # a's own reads end at step 2 ...
    assert v.last == 9  # ... but its bytes are read through %v until step 9
    for name in ("b", "c", "d"):  # so nothing written meanwhile may use them
        t = plan.tensors[name]
        assert t.offset + t.nbytes <= a.offset or a.offset + a.nbytes <= t.offset, name
    assert plan.naive_bytes == 6 * 128  # x, a, b, c, d, e (96 bytes, aligned): views add none
    _runs_right(VIEWS)


def test_views_of_constants_stay_outside_the_arena() -> None:
    plan = plan_memory(parse_graph(VIEWS))
    for name, source in (("wv", "w"), ("u", "wv")):
        t = plan.tensors[name]
        assert (t.offset, t.nbytes, t.view_of) == (-1, 0, source)
        assert (t.first, t.last) == ((4, 5) if name == "wv" else (5, 7))
    assert "w" not in plan.tensors  # constants are read where they are


# in place --------------------------------------------------------------------------------
INPLACE = """\
graph inplace(%x: f32[4,8], %y: f32[1,8]) -> (f32[4,8], f32[4,8], f32[4,8]) {
  %a = exp(%x) : f32[4,8]  # m.py:1
  %b = relu(%a) : f32[4,8]  # m.py:2
  %c = tanh(%b) : f32[4,8]  # m.py:3
  %d = add(%y, %c) : f32[4,8]  # m.py:4
  %e = sigmoid(%d) : f32[4,8]  # m.py:5
  %f = mul(%e, %b) : f32[4,8]  # m.py:6
  %g = neg(%e) : f32[4,8]  # m.py:7
  return %f, %e, %g
}
"""


def test_in_place_exactly_where_the_input_dies_there() -> None:
    plan = plan_memory(parse_graph(INPLACE), inplace_ok=always)
    inplace = {n: t.inplace_of for n, t in plan.tensors.items() if t.inplace_of}
    assert inplace == {
        "a": "x",  # a graph input is copied into the arena, so it may be overwritten
        "b": "a",
        # not c over b: %b is read again at step 5
        "d": "c",  # add over its input 1: input 0 (%y, f32[1,8]) is smaller than the output
        "e": "d",  # e is a graph output, which does not matter: its input d is not
        "f": "b",  # input 0 (%e) is a graph output; input 1 (%b) dies here
        # not g over e: a graph output must survive until it is copied out
    }
    for name, source in inplace.items():
        assert plan.tensors[name].offset == plan.tensors[source].offset
    assert_plan_sound(parse_graph(INPLACE), plan, inplace_ok=always)
    _runs_right(INPLACE, inplace_ok=always)


def test_in_place_lowers_the_bound() -> None:
    with_inplace = plan_memory(parse_graph(INPLACE), inplace_ok=always)
    without = plan_memory(parse_graph(INPLACE))
    assert with_inplace.lower_bound < without.lower_bound
    assert with_inplace.naive_bytes == without.naive_bytes  # one buffer per tensor either way


def test_no_in_place_where_the_kernel_does_not_allow_it() -> None:
    only_relu = plan_memory(parse_graph(INPLACE), inplace_ok=lambda n: n.op == "relu")
    inplace = {n: t.inplace_of for n, t in only_relu.tensors.items() if t.inplace_of}
    assert inplace == {"b": "a"}
    assert not any(t.inplace_of for t in plan_memory(parse_graph(INPLACE)).tensors.values())
    assert_plan_sound(parse_graph(INPLACE), only_relu, inplace_ok=lambda n: n.op == "relu")


READ_LATER = """\
graph later(%x: f32[16]) -> (f32[16]) {
  %a = relu(%x) : f32[16]  # m.py:1
  %v = reshape(%a) {shape=[4,4]} : f32[4,4]  # m.py:2
  %b = exp(%a) : f32[16]  # m.py:3
  %c = tanh(%v) : f32[4,4]  # m.py:4
  %cv = reshape(%c) {shape=[16]} : f32[16]  # m.py:5
  %d = add(%b, %x) : f32[16]  # m.py:6
  %e = sub(%d, %cv) : f32[16]  # m.py:7
  return %e
}
"""


def test_no_in_place_over_an_input_read_later_itself_or_through_a_view() -> None:
    plan = plan_memory(parse_graph(READ_LATER), inplace_ok=always)
    inplace = {n: t.inplace_of for n, t in plan.tensors.items() if t.inplace_of}
    assert inplace == {
        # not a over x: the graph input %x is read again at step 5
        # not b over a: %a's bytes are read through the view %v at step 3
        "c": "v",  # in place over a view: %a and %v both die here
        "d": "b",
        "e": "d",
    }
    assert plan.tensors["c"].offset == plan.tensors["a"].offset
    _runs_right(READ_LATER, inplace_ok=always)


def test_no_in_place_over_another_size_or_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    text = """\
graph cast(%x: f32[2,8], %m: f32[1,8]) -> (i32[2,8], f32[2,8]) {
  %a = exp(%x) : f32[2,8]  # m.py:1
  %i = cast(%a) {to=i32} : i32[2,8]  # m.py:2
  %b = relu(%m) : f32[1,8]  # m.py:3
  %c = add(%b, %x) : f32[2,8]  # m.py:4
  return %i, %c
}
"""
    cast = get_op("cast")
    pretend = dataclasses.replace(cast, inplace=(0,))  # same bytes, other dtype
    monkeypatch.setattr(planner, "get_op", lambda name: pretend if name == "cast" else get_op(name))
    plan = plan_memory(parse_graph(text), inplace_ok=always)
    inplace = {n: t.inplace_of for n, t in plan.tensors.items() if t.inplace_of}
    assert inplace == {
        # not a over x: %x is read again at step 3
        # not i over a: f32 -> i32, although both are 64 bytes
        "b": "m",
        "c": "x",  # not over input 0: %b has 32 bytes, the output 64
    }
    assert_plan_sound(parse_graph(text), plan, inplace_ok=always)


# workspaces ------------------------------------------------------------------------------
def test_workspaces_live_during_their_step_only() -> None:
    def scratch(node: Node) -> int:
        return {"exp": 500, "tanh": 300, "neg": 1000}.get(node.op, 0)

    graph = parse_graph(CHAIN)
    plan = plan_memory(graph, workspace=scratch)
    assert set(plan.workspaces) == {1, 2, 5}
    assert [plan.workspaces[s][1] for s in (1, 2, 5)] == [500, 300, 1000]
    for step, (offset, nbytes) in plan.workspaces.items():
        assert offset % 64 == 0
        for t in plan.tensors.values():
            if t.first <= step <= t.last:
                assert t.offset + t.nbytes <= offset or offset + nbytes <= t.offset, (step, t)
    # Not live at the same time, the three may share bytes: the arena holds the largest
    # workspace beside what is live at its step, not the sum of all three.
    assert plan.naive_bytes == plan_memory(graph).naive_bytes + 512 + 320 + 1024
    assert plan.arena_bytes < plan_memory(graph).arena_bytes + 512 + 320 + 1024
    assert plan.lower_bound == max(4 * 128, 3 * 128 + 1024)  # step 3, or step 5 (x, d, e)
    assert_plan_sound(graph, plan, workspace=scratch)
    _runs_right(CHAIN, workspace=scratch)
