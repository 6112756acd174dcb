"""Every zoo model exports cleanly at every claimed opset and runs in onnxruntime as the reference.

- Checker: ``onnx.checker.check_model(full_check=True)`` and
  ``onnx.shape_inference.infer_shapes(strict_mode=True)`` at opsets 17, 18,
  20, 23 and 28 (the ends of the range and the opsets that change a lowering).
- Parity (opsets 17 and 23): NumPy reference vs onnxruntime CPU (one
  intra/inter-op thread, so runs are deterministic) on ONE exported file per
  model and opset, at two batch sizes
  and, for sequence models, two sequence lengths: the symbolic dims in
  reshape/slice/range attributes are computed at run time. Tolerances rtol
  1e-4, atol 1e-5: onnxruntime accumulates in float32 in its own order, the
  reference in float64; observed differences are below 1e-6.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nanograph as ng
from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.reference import run_reference
from nanograph.ir.graph import Graph
from nanograph.zoo import MODELS

RTOL, ATOL = 1e-4, 1e-5
CHECKED_OPSETS = (17, 18, 20, 23, 28)
SIZES = ({"N": 1, "S": 5}, {"N": 3, "S": 11})

_GRAPHS: dict[str, tuple[Graph, ng.ModelSpec]] = {}


def traced(name: str) -> tuple[Graph, ng.ModelSpec]:
    if name not in _GRAPHS:
        module, spec = MODELS[name].build()
        _GRAPHS[name] = (ng.trace(module, spec, name=name), spec)
    return _GRAPHS[name]


@pytest.mark.parametrize("opset", CHECKED_OPSETS)
@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_passes_checker_and_strict_inference(name: str, opset: int) -> None:
    graph, _ = traced(name)
    model = export_onnx(graph, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert {o.version for o in model.opset_import if o.domain == ""} == {opset}
    # symbolic dims survive as dim_param on the inputs and outputs
    symbols = {d.dim_param for v in inferred.graph.input for d in v.type.tensor_type.shape.dim}
    assert "N" in symbols


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_matches_reference_in_onnxruntime(name: str, opset: int) -> None:
    graph, spec = traced(name)
    model = export_onnx(graph, opset=opset)  # one file for every size below
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    seen = set()
    for seed, sizes in enumerate(SIZES):
        dims = {k: v for k, v in sizes.items() if k in spec.symbols()}
        feeds = spec.random_inputs(seed, dims)
        want = run_reference(graph, feeds)
        got = dict(
            zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True)
        )
        assert list(got) == list(want)
        for key, array in want.items():
            assert got[key].shape == array.shape
            np.testing.assert_allclose(got[key], array, rtol=RTOL, atol=ATOL)
            seen.add(array.shape)
    assert len(seen) == len(SIZES)  # the sizes really differed
