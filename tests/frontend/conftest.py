"""Helpers for the ONNX importer tests: build small models, run them here and in onnxruntime.

Fixtures (``onnx_model``, ``onnx_compare``) rather than an importable module,
because tests are collected in importlib mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx

ELEM = {
    "f32": TensorProto.FLOAT,
    "i64": TensorProto.INT64,
    "i32": TensorProto.INT32,
    "bool": TensorProto.BOOL,
    "f16": TensorProto.FLOAT16,
}

Spec = tuple[str, str, Sequence[Any] | None]


def build_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[Spec],
    outputs: Sequence[Spec],
    initializers: Mapping[str, np.ndarray] | None = None,
    opset: int = 17,
    domains: Mapping[str, int] | None = None,
) -> onnx.ModelProto:
    """A model of ``nodes``; an output declared with shape None gets ONNX's inferred shape."""
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, ELEM[t], s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, ELEM[t], s) for n, t, s in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in (initializers or {}).items()],
    )
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets)
    if any(s is None for _, _, s in outputs):
        model = onnx.shape_inference.infer_shapes(model)
    return model


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, dict(feeds)), strict=True))


def compare(
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Import ``model``, run our reference and onnxruntime CPU on ``feeds``; assert they agree."""
    graph = import_onnx(model)
    ours = run_reference(graph, feeds)
    theirs = run_ort(model, feeds)
    assert list(ours) == list(theirs)
    for name, expected in theirs.items():
        got = ours[name]
        assert got.shape == expected.shape, name
        assert got.dtype == expected.dtype, name
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=name)
    return ours


@pytest.fixture
def onnx_model() -> Callable[..., onnx.ModelProto]:
    return build_model


@pytest.fixture
def onnx_compare() -> Callable[..., dict[str, np.ndarray]]:
    return compare
