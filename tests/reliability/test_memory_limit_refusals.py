"""Bad input catalogue, memory: every backend refuses a run above the limit before allocating.

Each refusal is a ``ResourceLimitError`` saying what (the estimate vs the
limit, the largest tensor with its shape and bytes, the symbol bindings),
where (the node making the largest tensor) and how to fix it; tracemalloc
(which sees NumPy's buffers) shows nothing large was allocated. The same runs
pass under a limit they fit, and every zoo model runs at batch 32 on every
backend under a limit far below any machine's memory, so the estimates are
not pessimistic.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nanograph as ng
from nanograph.backends.memory_limit import ENV_VAR
from nanograph.backends.planned.executor import PlannedExecutor
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.cli import main
from nanograph.ir.errors import NanographError, ResourceLimitError
from nanograph.model_loading import load_model, zoo_models
from tests.reliability.clear_error import assert_clear

BACKENDS = ["numpy-ref", "numpy", "ort-cpu"]
RUNNERS: dict[str, type[ReferenceInterpreter] | type[PlannedExecutor]] = {
    "numpy-ref": ReferenceInterpreter,
    "numpy": PlannedExecutor,
}
MiB = 2**20
N = 10**6

OUTER = """graph outer(%x: f32[N,1], %y: f32[1,N]) -> (f32[]) {
  %p = mul(%x, %y) : f32[N,N]  # outer.py:3
  %s = reduce_sum(%p) : f32[]  # outer.py:4
  return %s
}"""


@pytest.fixture(autouse=True)
def no_env_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@contextmanager
def peak_allocation() -> Iterator[list[int]]:
    """The peak bytes traced (Python and NumPy buffers) inside the block, in ``[0]`` after it."""
    result = [0]
    tracemalloc.start()
    try:
        yield result
    finally:
        result[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def refusal(call: Callable[[], object]) -> tuple[NanographError, int]:
    """The error ``call`` raises, and the peak bytes it allocated on the way."""
    with peak_allocation() as peak, pytest.raises(NanographError) as info:
        call()
    return info.value, peak[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_outer_product_of_absurd_size_is_refused(backend: str) -> None:
    """x: f32[10^6, 1] times y: f32[1, 10^6] makes a 4 TB intermediate."""
    graph = ng.parse_graph(OUTER, {})
    x, y = np.ones((N, 1), np.float32), np.ones((1, N), np.float32)
    exe = ng.compile(graph, "O2", backend)
    error, peak = refusal(lambda: exe(x=x, y=y))
    assert_clear(error, ResourceLimitError, "%p: f32[1000000,1000000] (3.64 TiB", "outer.py:3")
    assert "graph outer at N=1000000 needs at least 3.64 TiB" in error.message
    assert "N=1000000" in error.hint and "physical memory" in error.hint  # no limit helps
    assert peak < 4 * MiB  # not even a copy of an input
    small = exe(x=x[:300], y=y[:, :300])["s"]  # the same graph at a sane size runs
    np.testing.assert_allclose(small, 300.0 * 300.0, rtol=1e-6)


def absurd_expand_file(folder: Path) -> Path:
    """An ONNX file whose static Expand makes a 10^12-element tensor from one float."""
    shape = numpy_helper.from_array(np.array([N, N], np.int64), "shape")
    nodes = [
        helper.make_node("Expand", ["x", "shape"], ["big"], name="/expand/Expand"),
        helper.make_node("ReduceSum", ["big"], ["y"], name="/sum/ReduceSum", keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "absurd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        initializer=[shape],
    )
    path = folder / "absurd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_onnx_file_with_an_absurd_static_expand_is_refused(backend: str, tmp_path: Path) -> None:
    graph = ng.import_onnx(absurd_expand_file(tmp_path))
    x = np.ones(1, np.float32)
    # numpy plans a graph without symbols at compile time, so compile itself refuses
    error, peak = refusal(lambda: ng.compile(graph, "O3", backend)(x=x))
    assert_clear(error, ResourceLimitError, "%big: f32[1000000,1000000]", "/expand/Expand")
    assert peak < 4 * MiB


def test_the_cli_refuses_the_absurd_onnx_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(absurd_expand_file(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "3.64 TiB" in err and "at /expand/Expand" in err and "fix:" in err, err


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_small_limit_refuses_lenet_at_batch_64_which_the_default_runs(backend: str) -> None:
    loaded = load_model("lenet")
    feeds = loaded.random_inputs(0, {"N": 64})
    graph = loaded.trace()
    default = ng.compile(graph, "O3", backend)(feeds)["fc3"]
    exe = ng.compile(graph, "O3", backend, memory_limit="1MiB")
    error, peak = refusal(lambda: exe(feeds))
    assert_clear(error, ResourceLimitError, "graph lenet at N=64 needs at least", "graph lenet")
    assert "above the memory limit of 1 MiB (1048576 bytes, from memory_limit= of compile)" in (
        error.message
    )
    assert ": f32[64,6,28,28] (1.15 MiB" in error.message  # conv1's output, the largest
    assert peak < 200_000  # below one 64x6x28x28 float32 tensor (1.2 MB): no node ran
    fits = ng.compile(graph, "O3", backend, memory_limit="64MiB")(feeds)["fc3"]
    np.testing.assert_array_equal(fits, default)


@pytest.mark.parametrize("backend", ["numpy-ref", "numpy"])
def test_shape_computation_is_refused_before_specialize_materialises_it(backend: str) -> None:
    """``range`` of N elements is folded into a constant by ``specialize``: the limit is
    checked first, so N = 3*10^9 (24 GB of int64) is never made."""
    graph = ng.parse_graph(
        """graph ramp(%x: f32[N]) -> (f32[N]) {
  %r = range() {limit=N} : i64[N]  # ramp.py:2
  %f = cast(%r) {to=f32} : f32[N]  # ramp.py:3
  %y = add(%x, %f) : f32[N]  # ramp.py:4
  return %y
}""",
        {},
    )
    runner = RUNNERS[backend](graph, memory_limit="1GiB")
    x = np.zeros(3, np.float32)
    np.testing.assert_array_equal(runner.run({"x": x})["y"], [0.0, 1.0, 2.0])
    # run_bound takes the binding as given, as if the feeds were that large
    error, peak = refusal(lambda: runner.run_bound({"x": x}, {"N": 3 * 10**9}))
    assert_clear(error, ResourceLimitError, "N=3000000000", "ramp.py:")
    assert peak < 4 * MiB


@pytest.mark.parametrize("name", sorted(zoo_models()))
def test_every_zoo_model_runs_at_batch_32_on_every_backend_under_a_small_limit(name: str) -> None:
    """The estimates are far from pessimistic: 64 MiB (below any machine's 3/4 of
    memory) admits every model at batch 32, and so does the default."""
    loaded = load_model(name)
    feeds = loaded.random_inputs(0, {"N": 32})
    graph = loaded.trace()
    for backend, level in [("numpy-ref", "O0"), ("numpy", "O3"), ("ort-cpu", "O2")]:
        outputs = ng.compile(graph, level, backend, memory_limit="64MiB")(feeds)
        assert all(a.shape[0] == 32 for a in outputs.values()), (backend, name)
    ng.compile(graph, "O3", "numpy")(feeds)  # the default limit


def test_with_no_limit_an_arena_too_big_for_the_machine_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``memory_limit="none"`` lifts the check; the allocation's own failure is still clear.

    NumPy's refusal is simulated above 1 TiB: whether the OS refuses a 3.6 TiB
    ``np.empty`` depends on its overcommit setting."""
    real_empty = np.empty

    def empty(shape: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        if int(np.prod(shape, dtype=object)) > 2**40:
            raise MemoryError("Unable to allocate (simulated)")
        return real_empty(shape, *args, **kwargs)

    monkeypatch.setattr(np, "empty", empty)
    graph = ng.parse_graph(OUTER, {})
    x, y = np.ones((N, 1), np.float32), np.ones((1, N), np.float32)
    exe = ng.compile(graph, "O2", "numpy", memory_limit="none")
    with pytest.raises(ResourceLimitError) as info:
        exe(x=x, y=y)
    assert "cannot allocate" in info.value.message and "3.64 TiB arena" in info.value.message
    assert info.value.hint and "smaller dims" in info.value.hint
