"""Round trips through ONNX, end to end across the layers.

1. DSL -> export -> import -> reference interpreter gives the outputs of the
   reference interpreter on the traced graph (every zoo model, every attention
   lowering that applies). Tolerance rtol 1e-5 / atol 1e-6: both sides run the
   same float64-accumulating references; only the op sequence differs (the
   importer rebuilds Linear as transpose/matmul/add from Gemm or MatMul, and
   attention from its lowering).
2. An imported model re-exported runs in onnxruntime with the same outputs as
   onnxruntime on the first export (rtol 1e-5 / atol 1e-6: the same runtime on
   two equivalent graphs; ORT may fuse differently).
"""

from __future__ import annotations

import numpy as np
import pytest

import nanograph as ng
from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.ort import OrtRunner
from nanograph.backends.reference import run_reference
from nanograph.zoo import MODELS

RTOL, ATOL = 1e-5, 1e-6


def _traced(name: str) -> tuple[ng.Graph, dict[str, np.ndarray]]:
    model, spec = MODELS[name].build()
    graph = ng.trace(model, spec, name=name)
    return graph, spec.random_inputs(seed=3, dims={"N": 2})


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize(("opset", "attention"), [(17, "plain"), (23, "onnx"), (23, "ms")])
def test_dsl_export_import_reference(name: str, opset: int, attention: str) -> None:
    graph, feeds = _traced(name)
    expected = run_reference(graph, feeds)
    imported = ng.import_onnx(export_onnx(graph, opset=opset, attention=attention))
    got = run_reference(imported, feeds)
    assert list(got) == list(expected)  # output names survive the round trip
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_imported_model_reexports_and_runs_in_onnxruntime(name: str) -> None:
    graph, feeds = _traced(name)
    first = export_onnx(graph, opset=23)
    second = export_onnx(ng.import_onnx(first), opset=23)
    want = OrtRunner(first, providers="cpu", threads=1).run(feeds)
    got = OrtRunner(second, providers="cpu", threads=1).run(feeds)
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_symbolic_dims_survive_the_round_trip() -> None:
    graph, _ = _traced("pos_tagger")
    imported = ng.import_onnx(export_onnx(graph, opset=23))
    assert [str(v.type) for v in imported.inputs] == [str(v.type) for v in graph.inputs]
    assert [str(v.type) for v in imported.outputs] == [str(v.type) for v in graph.outputs]
