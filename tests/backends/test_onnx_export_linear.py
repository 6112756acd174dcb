"""Exporting ``linear`` as ``Gemm`` on rows, and a residual add before a norm as ``Sum``.

The choices (``backends/onnx_export/linear.py``, ``lower_elementwise.lower_add``)
are asserted three ways: the exact ONNX node sequence, outputs equal to the
reference interpreter's through onnxruntime (rtol 1e-5, atol 1e-5: float32 GEMM
in onnxruntime against the float64-accumulating reference on K <= 8 products),
and what onnxruntime's own optimizer makes of the file (``FusedGemm``, and no
``SkipLayerNormalization``), which is why the choices were made.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.onnx_export.context import ExportContext
from nanograph.backends.onnx_export.linear import lower_linear
from nanograph.backends.reference import run_reference
from nanograph.ir.errors import InternalError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType

RTOL, ATOL = 1e-5, 1e-5
K, OUT = 8, 6


def linear_graph(shape: tuple[Any, ...], activation: str = "relu", bias: bool = True) -> Graph:
    """x ``shape`` (last dim K) -> linear(K -> OUT, ``activation``) -> y."""
    g = Graph("lin")
    x = g.add_input("x", TensorType.of("f32", shape))
    rng = np.random.default_rng(0)
    inputs = [x, g.add_constant("w", rng.standard_normal((K, OUT)).astype(np.float32))]
    if bias:
        inputs.append(g.add_constant("b", rng.standard_normal(OUT).astype(np.float32)))
    node = g.add("linear", inputs, {"activation": activation}, loc="model.py:3", names=["y"])
    g.outputs = [node.output]
    return g


def residual_norm_graph(extra_use: bool = False) -> Graph:
    """x, r [N, 4, K] -> s = x + r -> layer_norm(s) (-> + s again if ``extra_use``)."""
    g = Graph("res")
    x = g.add_input("x", TensorType.of("f32", ("N", 4, K)))
    r = g.add_input("r", TensorType.of("f32", ("N", 4, K)))
    s = g.add("add", [x, r], loc="model.py:5", names=["s"])
    gamma = g.add_constant("gamma", np.linspace(0.5, 1.5, K, dtype=np.float32))
    beta = g.add_constant("beta", np.linspace(-1, 1, K, dtype=np.float32))
    norm = g.add("layer_norm", [s.output, gamma, beta], loc="model.py:6", names=["norm"])
    out = norm
    if extra_use:
        out = g.add("add", [norm.output, s.output], loc="model.py:7", names=["out"])
    g.outputs = [out.output]
    return g


def feeds_for(graph: Graph, n: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {}
    for value in graph.inputs:
        shape = [n if not isinstance(d, int) else d for d in value.type.shape]
        out[value.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def session(model: onnx.ModelProto, optimized: Path | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def assert_runs_like_reference(graph: Graph, model: onnx.ModelProto) -> None:
    feeds = feeds_for(graph)
    want = run_reference(graph, feeds)
    got = session(model).run(None, feeds)
    for (name, expected), actual in zip(want.items(), got, strict=True):
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=name)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def optimized_ops(model: onnx.ModelProto, tmp_path: Path) -> Counter[str]:
    path = tmp_path / "optimized.onnx"
    session(model, path)
    return Counter(n.op_type for n in onnx.load(path).graph.node)


# linear ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "activation", "bias", "expected"),
    [
        pytest.param(("N", K), "relu", True, ["Gemm", "Relu"], id="rows"),
        pytest.param(("N", K), "none", True, ["Gemm"], id="rows-no-activation"),
        pytest.param(
            ("N", 5, K), "gelu", True, ["Reshape", "Gemm", "Gelu", "Reshape"], id="3d-one-symbol"
        ),
        pytest.param(
            (2, 5, 3, K), "silu", True, ["Reshape", "Gemm", "Sigmoid", "Mul", "Reshape"], id="4d"
        ),
        pytest.param(("N", "S", K), "relu", True, ["MatMul", "Add", "Relu"], id="two-symbols"),
        pytest.param(("N", 5, K), "relu", False, ["MatMul", "Relu"], id="no-bias"),
        pytest.param((K,), "none", True, ["MatMul", "Add"], id="vector"),
    ],
)
def test_linear_lowering_and_numerics(
    shape: tuple[Any, ...], activation: str, bias: bool, expected: list[str]
) -> None:
    graph = linear_graph(shape, activation, bias)
    model = export_onnx(graph, opset=23)
    assert ops(model) == expected
    last = model.graph.node[-1]
    assert last.output == ["y"]  # the IR output name is kept
    assert {n.doc_string for n in model.graph.node} == {"model.py:3"}
    assert_runs_like_reference(graph, model)


def two_linears(shape: tuple[Any, ...], keep_middle: bool = False) -> Graph:
    """x -> linear(K -> K, relu) -> h -> linear(K -> OUT) -> y (and h an output if asked)."""
    g = Graph("mlp")
    x = g.add_input("x", TensorType.of("f32", shape))
    rng = np.random.default_rng(2)

    def const(name: str, *dims: int) -> Any:
        return g.add_constant(name, rng.standard_normal(dims).astype(np.float32))

    h = g.add("linear", [x, const("w1", K, K), const("b1", K)], {"activation": "relu"}, names=["h"])
    y = g.add("linear", [h.output, const("w2", K, OUT), const("b2", OUT)], names=["y"])
    g.outputs = [y.output, h.output] if keep_middle else [y.output]
    return g


def test_a_linear_after_a_linear_takes_its_rows_directly() -> None:
    graph = two_linears(("N", 5, K))
    model = export_onnx(graph, opset=23)
    assert ops(model) == ["Reshape", "Gemm", "Relu", "Gemm", "Reshape"]
    assert_runs_like_reference(graph, model)


def test_rows_reshaped_back_for_another_use_keep_their_reshape() -> None:
    graph = two_linears(("N", 5, K), keep_middle=True)
    model = export_onnx(graph, opset=23)
    assert ops(model) == ["Reshape", "Gemm", "Relu", "Reshape", "Gemm", "Reshape"]
    assert_runs_like_reference(graph, model)


def split_linear(axis: int = -1, const_weight: bool = True, extra_use: bool = False) -> Graph:
    """x [N, 5, K] -> linear(K -> 3*4, relu) -> split into q, k, v along ``axis``."""
    g = Graph("qkv")
    x = g.add_input("x", TensorType.of("f32", ("N", 5, K)))
    rng = np.random.default_rng(3)
    w_array = rng.standard_normal((K, 12)).astype(np.float32)
    w = (
        g.add_constant("w", w_array)
        if const_weight
        else g.add_input("w", TensorType.of("f32", (K, 12)))
    )
    b = g.add_constant("b", rng.standard_normal(12).astype(np.float32))
    h = g.add("linear", [x, w, b], {"activation": "relu"}, loc="model.py:9", names=["h"])
    sizes = (4, 4, 4) if axis == -1 else (2, 3)
    split = g.add(
        "split", [h.output], {"axis": axis, "sizes": sizes}, names=["q", "k", "v"][: len(sizes)]
    )
    g.outputs = list(split.outputs) + ([h.output] if extra_use else [])
    return g


def test_a_linear_cut_into_columns_is_one_gemm_per_part() -> None:
    graph = split_linear()
    model = export_onnx(graph, opset=23)
    assert ops(model) == ["Reshape", *["Gemm", "Relu", "Reshape"] * 3]
    assert [o.name for o in model.graph.output] == ["q", "k", "v"]
    weights = {i.name: list(i.dims) for i in model.graph.initializer if i.name.endswith(".weight")}
    assert weights == {"q.weight": [K, 4], "k.weight": [K, 4], "v.weight": [K, 4]}
    assert_runs_like_reference(graph, model)


@pytest.mark.parametrize(
    "graph",
    [
        pytest.param(split_linear(axis=1), id="split-along-rows"),
        pytest.param(split_linear(const_weight=False), id="weight-not-constant"),
        pytest.param(split_linear(extra_use=True), id="output-also-used"),
    ],
)
def test_other_splits_of_a_linear_stay_a_split(graph: Graph) -> None:
    model = export_onnx(graph, opset=23)
    assert ops(model).count("Gemm") == 1 and "Split" in ops(model)
    assert_runs_like_reference(graph, model)


def test_reshapes_need_no_shape_computed_at_run_time() -> None:
    model = export_onnx(linear_graph(("N", 5, K)), opset=23)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    shapes = [inits[n.input[1]].tolist() for n in model.graph.node if n.op_type == "Reshape"]
    assert shapes == [[-1, K], [-1, 5, OUT]]


def test_onnxruntime_fuses_the_gemm_and_its_relu(tmp_path: Path) -> None:
    optimized = optimized_ops(export_onnx(linear_graph(("N", 5, K))), tmp_path)
    assert optimized["FusedGemm"] == 1
    assert "Relu" not in optimized


def test_an_unprepared_linear_is_an_internal_error() -> None:
    graph = linear_graph(("N", 5, K))
    (node,) = graph.nodes
    ctx = ExportContext(graph, 23, "onnx")
    with pytest.raises(InternalError, match="only 2-D linears") as info:
        lower_linear(ctx, node)
    assert info.value.loc == "model.py:3"


# add before layer_norm ------------------------------------------------------------------
def test_residual_add_before_a_norm_is_sum(tmp_path: Path) -> None:
    graph = residual_norm_graph()
    model = export_onnx(graph, opset=23)
    assert ops(model) == ["Sum", "LayerNormalization"]
    assert_runs_like_reference(graph, model)
    optimized = optimized_ops(model, tmp_path)
    assert "SkipLayerNormalization" not in optimized
    assert optimized["LayerNormalization"] == 1


def test_an_add_with_other_uses_stays_add() -> None:
    graph = residual_norm_graph(extra_use=True)
    model = export_onnx(graph, opset=23)
    assert ops(model) == ["Add", "LayerNormalization", "Add"]
    assert_runs_like_reference(graph, model)


def test_an_add_into_a_norms_scale_stays_add() -> None:
    g = Graph("scale")
    x = g.add_input("x", TensorType.of("f32", ("N", K)))
    g1 = g.add_input("g1", TensorType.of("f32", (K,)))
    one = g.add_constant("one", np.ones(K, dtype=np.float32))
    scale = g.add("add", [g1, one], names=["scale"])
    norm = g.add("layer_norm", [x, scale.output], names=["norm"])
    g.outputs = [norm.output]
    assert ops(export_onnx(g, opset=23))[0] == "Add"
