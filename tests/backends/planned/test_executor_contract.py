"""The planned executor's contract, one property per test: owned outputs, views without
steps, 0-d and zero-size tensors, in place and workspaces as the plan says, errors like the
interpreter's, the per-binding cache, thread safety, and the wiring of backend ``numpy``.

Outputs are compared exactly with the reference interpreter: with no kernels (or the
``out=`` test kernels) the executor does the reference's own arithmetic.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.planned.executor import PlannedExecutor
from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.ir.attrs import Attrs
from nanograph.ir.errors import (
    ExecutionError,
    InputError,
    InternalError,
    ShapeError,
)
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.passes.memory.placement import MemoryPlan
from tests.backends.planned.planned_models import WRITE_KERNELS

EDGES = """\
graph edges(%x: f32[N,6]) -> (f32[N,2,3], f32[N,2,3], f32[N,6], f32[1,2,3], f32[], f32[N,0]) {
  @c: f32[2,3] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
  %r = reshape(%x) {shape=[N,2,3]} : f32[N,2,3]  # e.py:1
  %cu = unsqueeze(@c) {axes=[0]} : f32[1,2,3]  # e.py:2
  %s = add(%r, %cu) : f32[N,2,3]  # e.py:3
  %total = reduce_sum(%s) : f32[]  # e.py:4
  %none = slice(%x) {axes=[1], ends=[0], starts=[0]} : f32[N,0]  # e.py:5
  %e = exp(%none) : f32[N,0]  # e.py:6
  return %s, %r, %x, %cu, %total, %e
}
"""
BIAS_RELU = """\
graph bias_relu(%x: f32[N,4]) -> (f32[N,4]) {
  @b: f32[4] = [0.5, -0.5, 1.0, -1.0]
  %a = add(%x, @b) : f32[N,4]  # m.py:1
  %y = relu(%a) : f32[N,4]  # m.py:2
  return %y
}
"""
GATHER = """\
graph pick(%x: f32[4,3], %i: i64[2]) -> (f32[2,3]) {
  %y = relu(%x) : f32[4,3]  # m.py:1
  %z = gather(%y, %i) {axis=0} : f32[2,3]  # m.py:2
  return %z
}
"""


def x_feeds(batch: int, width: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    return {"x": rng.standard_normal((batch, width)).astype(np.float32)}


def assert_equal_outputs(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert_close_outputs(got, want, exact=True)


def assert_close_outputs(
    got: dict[str, np.ndarray], want: dict[str, np.ndarray], *, exact: bool
) -> None:
    """Equal, or within rtol 1e-5 / atol 1e-6 where kernels reorder float32 sums."""
    assert list(got) == list(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        if exact:
            np.testing.assert_array_equal(got[name], array, err_msg=name)
        else:
            np.testing.assert_allclose(got[name], array, rtol=1e-5, atol=1e-6, err_msg=name)


# outputs, views, edge tensors ---------------------------------------------------------------
@pytest.mark.parametrize("kernels", [{}, None], ids=["references", "default-kernels"])
def test_outputs_are_owned_copies_whatever_they_are_in_the_graph(
    kernels: dict[str, Kernel] | None,
) -> None:
    """A node output, a view of an input, the input itself, a view of a constant, a 0-d
    and a zero-size tensor: all equal the reference's, none shares memory with the arena,
    the feeds or the constants, and writing into one changes nothing later."""
    graph = parse_graph(EDGES)
    executor = PlannedExecutor(graph, kernels=kernels)
    feeds = x_feeds(2, 6)
    kept = feeds["x"].copy()
    got = executor.run(feeds)
    assert_close_outputs(got, ReferenceInterpreter(graph).run(feeds), exact=kernels == {})
    assert got["total"].shape == () and got["e"].shape == (2, 0)
    arena = executor.program({"N": 2}).arena.buffer
    constant = graph.constants["c"].const
    for name, array in got.items():
        for other in (arena, feeds["x"], constant):
            assert not np.shares_memory(array, other), name
        array[...] = 7
    np.testing.assert_array_equal(feeds["x"], kept)
    again = executor.run(feeds)
    assert_close_outputs(again, ReferenceInterpreter(graph).run(feeds), exact=kernels == {})


def test_view_ops_take_no_step_and_share_their_sources_bytes() -> None:
    program = PlannedExecutor(parse_graph(EDGES)).program({"N": 2})
    assert [node.op for node, _, _ in program.nodes] == ["add", "reduce_sum", "slice", "exp"]
    assert program.plan.tensors["r"].view_of == "x"
    assert program.plan.tensors["cu"].offset == -1  # a view of a constant: not in the arena


def test_every_step_writes_inside_one_aligned_arena() -> None:
    program = PlannedExecutor(parse_graph(EDGES)).program({"N": 3})
    assert program.arena.buffer.ctypes.data % 64 == 0
    assert program.arena.nbytes == program.plan.arena_bytes
    for node, _, _ in program.nodes:
        for value in node.outputs:
            view = program.arena.view(value.name, value.type)
            assert view.flags.c_contiguous and view.ctypes.data % 64 == 0
            if view.size:
                assert np.shares_memory(view, program.arena.buffer)


# kernels: in place, workspaces, fallbacks ---------------------------------------------------
class Recorder:
    """A relu kernel that records what it was given."""

    def __init__(self) -> None:
        self.in_place: list[bool] = []
        self.workspaces: list[np.ndarray | None] = []

    def run(
        self,
        ins: Sequence[np.ndarray],
        attrs: Attrs,
        outs: Sequence[np.ndarray],
        ws: np.ndarray | None,
    ) -> None:
        self.in_place.append(outs[0] is ins[0])
        self.workspaces.append(ws)
        np.maximum(ins[0], 0, out=outs[0])


@pytest.mark.parametrize("inplace_safe", [True, False])
def test_an_in_place_output_is_the_input_array_itself(inplace_safe: bool) -> None:
    recorder = Recorder()
    kernels = {"relu": Kernel("relu", recorder.run, inplace_safe=inplace_safe)}
    kernels["add"] = WRITE_KERNELS["add"]
    graph = parse_graph(BIAS_RELU)
    executor = PlannedExecutor(graph, kernels=kernels)
    feeds = x_feeds(3, 4)
    kept = feeds["x"].copy()
    assert_equal_outputs(executor.run(feeds), ReferenceInterpreter(graph).run(feeds))
    plan = executor.memory_plan({"N": 3})
    assert plan.tensors["a"].inplace_of == "x"  # the add runs over the copied-in feed
    assert plan.tensors["y"].inplace_of == ("a" if inplace_safe else None)
    assert recorder.in_place == [inplace_safe]
    np.testing.assert_array_equal(feeds["x"], kept)


def test_a_kernel_gets_its_workspace_in_the_arena_and_none_when_it_asks_none() -> None:
    recorder = Recorder()
    kernels = {
        "relu": Kernel("relu", recorder.run, workspace_bytes=lambda ins, outs, attrs: 100),
        "add": Kernel("add", lambda ins, attrs, outs, ws: recorder.workspaces.append(ws)),
    }
    executor = PlannedExecutor(parse_graph(BIAS_RELU), kernels=kernels)
    executor.run(x_feeds(2, 4))
    program = executor.program({"N": 2})
    add_ws, relu_ws = recorder.workspaces
    assert add_ws is None
    assert relu_ws is not None and relu_ws.dtype == np.uint8 and relu_ws.nbytes >= 100
    assert np.shares_memory(relu_ws, program.arena.buffer)
    assert program.plan.workspaces[1][1] == 100


def test_a_fallback_function_replaces_the_reference_of_its_op() -> None:
    calls = []

    def relu(ins: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        calls.append(ins[0].shape)
        return [np.maximum(ins[0], 0)]

    graph = parse_graph(BIAS_RELU)
    executor = PlannedExecutor(graph, kernels={}, fallbacks={"relu": relu})
    feeds = x_feeds(5, 4)
    assert_equal_outputs(executor.run(feeds), ReferenceInterpreter(graph).run(feeds))
    assert calls == [(5, 4)]
    assert executor.program({"N": 5}).fallback_ops == {"add", "relu"}


# errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernels", [{}, None], ids=["references", "default-kernels"])
def test_a_failing_step_is_reported_as_the_interpreter_reports_it(
    kernels: dict[str, Kernel] | None,
) -> None:
    """Word for word on the references; a kernel's own failure names the same op, loc and
    input types."""
    graph = parse_graph(GATHER)
    feeds = {"x": np.ones((4, 3), np.float32), "i": np.array([0, 7], np.int64)}
    with pytest.raises(ExecutionError) as planned:
        PlannedExecutor(graph, kernels=kernels).run(feeds)
    with pytest.raises(ExecutionError) as reference:
        ReferenceInterpreter(graph).run(feeds)
    if kernels == {}:
        assert str(planned.value) == str(reference.value)
        assert isinstance(planned.value.__cause__, IndexError)
    assert planned.value.loc == "m.py:2"
    assert "gather failed on inputs (data: f32[4,3], indices: i64[2])" in str(planned.value)


def test_the_executor_still_runs_after_a_failed_call() -> None:
    graph = parse_graph(GATHER)
    executor = PlannedExecutor(graph, kernels={})
    x = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    with pytest.raises(ExecutionError):
        executor.run({"x": x, "i": np.array([9, 0], np.int64)})
    good = {"x": x, "i": np.array([3, 1], np.int64)}
    assert_equal_outputs(executor.run(good), ReferenceInterpreter(graph).run(good))


def test_a_nanograph_error_from_a_kernel_keeps_its_class_and_gains_op_and_loc() -> None:
    def broken(ins: Sequence[np.ndarray], attrs: Attrs, outs: object, ws: object) -> None:
        raise ShapeError("rows do not fit", hint="give fewer rows")

    executor = PlannedExecutor(parse_graph(GATHER), kernels={"relu": Kernel("relu", broken)})
    feeds = {"x": np.ones((4, 3), np.float32), "i": np.array([0, 1], np.int64)}
    with pytest.raises(ShapeError) as err:
        executor.run(feeds)
    assert err.value.message == "relu: rows do not fit (running on x: f32[4,3])"
    assert (err.value.loc, err.value.hint) == ("m.py:1", "give fewer rows")


def test_a_fallback_result_unlike_its_type_is_an_internal_error() -> None:
    def wrong(ins: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        return [np.zeros((1, 3), np.float32)]

    executor = PlannedExecutor(parse_graph(GATHER), kernels={}, fallbacks={"relu": wrong})
    feeds = {"x": np.ones((4, 3), np.float32), "i": np.array([0, 1], np.int64)}
    with pytest.raises(InternalError, match=r"relu .*shape \(1, 3\).*\(4, 3\)") as err:
        executor.run(feeds)
    assert err.value.loc == "m.py:1"


def test_bad_feeds_are_refused_as_the_interpreter_refuses_them() -> None:
    graph = parse_graph(BIAS_RELU)
    bad = {"x": np.ones((2, 5), np.float32)}
    with pytest.raises(InputError) as planned:
        PlannedExecutor(graph).run(bad)
    with pytest.raises(InputError) as reference:
        ReferenceInterpreter(graph).run(bad)
    assert str(planned.value) == str(reference.value)


def test_building_refuses_constants_without_data() -> None:
    graph = parse_graph(BIAS_RELU.replace(" = [0.5, -0.5, 1.0, -1.0]", ""))
    with pytest.raises(ExecutionError, match="@b: f32\\[4\\] have no data"):
        PlannedExecutor(graph)


# the per-binding cache and the memory plan --------------------------------------------------
def test_one_executor_serves_many_batch_sizes_and_keeps_the_last_eight() -> None:
    graph = parse_graph(BIAS_RELU)
    executor = PlannedExecutor(graph, kernels=WRITE_KERNELS)
    reference = ReferenceInterpreter(graph)
    programs = {}
    for batch in range(1, 11):
        feeds = x_feeds(batch, 4)
        assert_equal_outputs(executor.run(feeds), reference.run(feeds))
        programs[batch] = executor.program({"N": batch})
        assert executor.program({"N": batch}) is programs[batch]  # one program per binding
    # newest first, so that asking does not evict what is asked next
    kept = [b for b in range(10, 0, -1) if executor.program({"N": b}) is programs[b]]
    assert kept == list(range(10, 2, -1))  # 1 and 2 were evicted, so asking rebuilt them
    feeds = x_feeds(1, 4)
    assert_equal_outputs(executor.run(feeds), reference.run(feeds))


def test_memory_plan_is_the_plan_the_program_runs() -> None:
    graph = parse_graph(BIAS_RELU)
    executor = PlannedExecutor(graph, kernels=WRITE_KERNELS)
    plan = executor.memory_plan({"N": 4})
    assert isinstance(plan, MemoryPlan)
    assert set(plan.tensors) == {"x", "a", "y"}
    assert plan.tensors["y"].nbytes == 4 * 4 * 4
    assert plan is executor.program({"N": 4}).plan
    with pytest.raises(ShapeError, match="symbolic dims"):
        executor.memory_plan({})


def test_a_static_graph_is_planned_when_the_executor_is_built() -> None:
    graph = parse_graph(GATHER)
    executor = PlannedExecutor(graph)
    assert executor.memory_plan().tensors["z"].nbytes == 2 * 3 * 4


# threads ------------------------------------------------------------------------------------
class OverlapMeter:
    """A relu kernel that sleeps while it runs and counts how many threads are inside it."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()

    def run(
        self, ins: Sequence[np.ndarray], attrs: Attrs, outs: Sequence[np.ndarray], ws: object
    ) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.001)  # releases the GIL: another thread would get in here
        np.maximum(ins[0], 0, out=outs[0])
        with self._lock:
            self.inside -= 1


def chain(depth: int = 4) -> Graph:
    """x -> (add bias, relu) x depth."""
    lines = ["graph chain(%x: f32[N,8]) -> (f32[N,8]) {"]
    lines.append("  @b: f32[8] = [0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0]")
    prev = "x"
    for i in range(depth):
        lines.append(f"  %a{i} = add(%{prev}, @b) : f32[N,8]  # c.py:{i}")
        lines.append(f"  %r{i} = relu(%a{i}) : f32[N,8]  # c.py:{i}")
        prev = f"r{i}"
    return parse_graph("\n".join([*lines, f"  return %{prev}", "}", ""]))


def run_in_threads(
    executor: PlannedExecutor, feeds: list[dict[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    results: list[dict[str, np.ndarray]] = [{} for _ in feeds]
    start = threading.Barrier(len(feeds))

    def work(i: int) -> None:
        start.wait()
        for _ in range(3):
            results[i] = executor.run(feeds[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def thread_feeds() -> list[dict[str, np.ndarray]]:
    return [x_feeds(batch, 8) for batch in (2, 2, 3, 5)]  # two threads share a binding


def test_concurrent_calls_run_one_at_a_time_and_give_the_sequential_results() -> None:
    meter = OverlapMeter()
    kernels = {"relu": Kernel("relu", meter.run, inplace_safe=True), "add": WRITE_KERNELS["add"]}
    executor = PlannedExecutor(chain(), kernels=kernels)
    feeds = thread_feeds()
    sequential = [executor.run(f) for f in feeds]
    concurrent = run_in_threads(executor, feeds)
    for got, want in zip(concurrent, sequential, strict=True):
        assert_equal_outputs(got, want)
    assert meter.most == 1


def test_without_the_lock_the_same_calls_would_overlap() -> None:
    """The thread test can fail: with the lock replaced by a no-op, threads meet inside the
    kernel (and would overwrite each other's arena)."""
    meter = OverlapMeter()
    kernels = {"relu": Kernel("relu", meter.run, inplace_safe=True), "add": WRITE_KERNELS["add"]}
    executor = PlannedExecutor(chain(), kernels=kernels)
    executor._lock = contextlib.nullcontext()  # type: ignore[assignment]
    run_in_threads(executor, thread_feeds())
    assert meter.most > 1


# the wiring of backend numpy ----------------------------------------------------------------
def test_backend_numpy_runs_the_planned_executor() -> None:
    graph = parse_graph(BIAS_RELU)
    exe = ng.compile(graph, "O2", "numpy")
    assert isinstance(exe.runner, PlannedExecutor)
    assert not any("reference interpreter" in note for note in exe.report.notes)
    feeds = x_feeds(3, 4)
    assert_equal_outputs(exe(feeds), ng.compile(graph, "O2", "numpy-ref")(feeds))
