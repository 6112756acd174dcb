"""Every node of every zoo model and ONNX fixture, at O0, O2 and O3 (NumPy layout), run
by its executor kernel on the values the reference interpreter computes there, and
compared with the node's reference; in place too where the kernel and op allow it.

This covers exactly the attribute combinations the zoo uses (layouts chosen by the
layout pass included). The interpreter calls a checking function in place of each
op's reference (its ``kernels`` hook): it runs the reference, runs the kernel via the
harness, compares, and passes the reference's result on, so every node sees
realistic inputs. Tolerance: rtol 1e-5 / atol 1e-5, the widest of the per-kernel
files' (conv and GEMM sums in float32).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest

from nanograph.backends.planned.kernels import EXECUTOR_KERNELS
from nanograph.backends.reference import ReferenceInterpreter
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.attrs import Attrs
from nanograph.ir.graph import Graph
from nanograph.ir.ops import get_op
from nanograph.ir.specialize import graph_symbols
from nanograph.model_loading import load_model
from nanograph.passes.manager import run_pipeline
from nanograph.passes.pipelines import pipeline_for
from tests.backends.planned.test_kernels_harness import run_kernel
from tests.fixtures.torch_onnx_fixtures import ONNX_FIXTURES, load_fixture

ZOO = ["lenet", "resnet_small", "pos_tagger", "vit_tiny", "sagan", "banded_speech"]
LEVELS = ["O0", "O2", "O3"]
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _compare(op: str, got: Sequence[np.ndarray], want: Sequence[np.ndarray], how: str) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, f"{op} {how}"
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, equal_nan=True, err_msg=f"{op} {how}", **TOL)
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{op} {how}")


def _checking(op: str, checked: Counter[str]) -> object:
    opdef = get_op(op)
    kernel = EXECUTOR_KERNELS[op]

    def fn(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
        want = opdef.reference(list(inputs), attrs)
        _compare(op, run_kernel(op, inputs, dict(attrs)), want, "")
        for index in opdef.inplace if kernel.inplace_safe else ():
            x = inputs[index]
            if x.dtype == want[0].dtype and x.size == want[0].size:
                _compare(op, run_kernel(op, inputs, dict(attrs), inplace=index), want, "in place")
                break
        checked[op] += 1
        return want

    return fn


def _run_checked(graph: Graph, feeds: dict[str, np.ndarray]) -> Counter[str]:
    checked: Counter[str] = Counter()
    hooks = {op: _checking(op, checked) for op in EXECUTOR_KERNELS}
    ReferenceInterpreter(graph, kernels=hooks).run(feeds)  # type: ignore[arg-type]
    expected = Counter(n.op for n in graph.nodes if n.op in EXECUTOR_KERNELS)
    assert checked == expected
    return checked


def _optimized(graph: Graph, level: str) -> Graph:
    work = graph.copy()
    run_pipeline(work, pipeline_for(level, "numpy"), verify_each=False)
    return work


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("model", ZOO)
def test_zoo_nodes(model: str, level: str) -> None:
    loaded = load_model(model)
    graph = loaded.trace()
    dims = {s: {"N": 2, "S": 12}[s] for s in graph_symbols(graph)}
    graph = _optimized(loaded.trace(dims), level)
    checked = _run_checked(graph, loaded.spec.random_inputs(seed=0, dims=dims))
    assert sum(checked.values()) > 0


FIXTURES = sorted(
    str(p.relative_to(ONNX_FIXTURES).with_suffix("")) for p in ONNX_FIXTURES.rglob("*.onnx")
)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("fixture", FIXTURES)
def test_onnx_fixture_nodes(fixture: str, level: str) -> None:
    recorded = load_fixture(fixture)
    graph = _optimized(import_onnx(recorded.path), level)
    _run_checked(graph, recorded.inputs)  # the interpreter binds the symbolic dims
