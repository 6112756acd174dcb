"""Bad input catalogue, more IR and ONNX cases: dims, windows, node order, defaults.

Each refusal is a ``NanographError`` saying what, where (text-IR line, ONNX node
name, graph input) and how to fix it. The ambiguous ONNX forms that are
accepted (a negative input dim, an initializer named like an input) warn with
an ``OnnxImportWarning`` and compute what onnxruntime computes on the same
model (relu: compared exactly, ``rtol=0, atol=0``: no arithmetic to reorder).
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import nanograph
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import (
    NanographError,
    OnnxImportWarning,
    OnnxLoadError,
    ParseError,
    ShapeError,
    UnsupportedOpError,
    VerificationError,
)
from nanograph.ir.graph import Graph
from nanograph.ir.text import parse_graph
from nanograph.ir.types import DType, TensorType
from nanograph.ir.verify import verify
from tests.reliability.clear_error import assert_clear

F = TensorProto.FLOAT


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: tuple[onnx.TensorProto, ...] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def relu_model(dims: list[int | str]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", F, dims)
    y = helper.make_tensor_value_info("y", F, dims)
    return model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y])


def ort_run(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def refused_import(proto: object, kind: type[NanographError], what: str, where: str) -> None:
    with pytest.raises(kind) as info:
        import_onnx(proto)  # type: ignore[arg-type]
    assert_clear(info.value, kind, what, where)


def refused_parse(text: str, kind: type[NanographError], what: str, where: str) -> None:
    with pytest.raises(kind) as info:
        parse_graph(text, {})
    assert_clear(info.value, kind, what, where)


# dims: negative refused everywhere, zero a legal (empty) size -------------------------
def test_a_negative_dim_in_text_ir_is_refused_at_its_column() -> None:
    text = "graph g(%x: f32[N,-4]) -> (f32[N,-4]) {\n  %y = relu(%x) : f32[N,-4]\n  return %y\n}"
    refused_parse(text, ParseError, "negative dim -4 at axis 1", "line 1, column 13")


def test_a_negative_dim_in_a_type_is_refused() -> None:
    with pytest.raises(ShapeError) as info:
        TensorType.of("f32", ("N", -4))
    assert_clear(info.value, ShapeError, "negative dim -4", "f32[N,-4]")


def test_verify_refuses_a_negative_dim_patched_into_a_type() -> None:
    g = parse_graph(
        "graph g(%x: f32[2]) -> (f32[2]) {\n  %y = relu(%x) : f32[2] # m.py:7\n  return %y\n}"
    )
    bad = object.__new__(TensorType)  # what TensorType(...) refuses, built around it
    object.__setattr__(bad, "dtype", DType.f32)
    object.__setattr__(bad, "shape", (-2,))
    g.nodes.__iter__().__next__().outputs[0].type = bad
    with pytest.raises(VerificationError) as info:
        verify(g)
    assert_clear(info.value, VerificationError, "negative dim -2", "m.py:7")


def test_a_zero_dim_is_a_legal_empty_axis_in_text_ir() -> None:
    g = parse_graph(
        "graph g(%x: f32[0,4]) -> (f32[0,4]) {\n  %y = relu(%x) : f32[0,4]\n  return %y\n}"
    )
    out = nanograph.compile(g, "O0")(x=np.ones((0, 4), np.float32))
    assert out["y"].shape == (0, 4)


@pytest.mark.parametrize("dim", [-1, -5])
def test_a_negative_onnx_input_dim_is_read_as_unknown_like_onnxruntime(dim: int) -> None:
    proto = relu_model([dim, 4])
    with pytest.warns(OnnxImportWarning, match=rf"'x' has the negative dim_value {dim} at axis 0"):
        g = import_onnx(proto)
    assert str(g.inputs[0].type) == "f32[x_dim0,4]"
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    ours = nanograph.compile(g, "O0")(x=x)["y"]
    np.testing.assert_allclose(ours, ort_run(proto, {"x": x})[0], rtol=0, atol=0)


def test_a_zero_onnx_input_dim_stays_zero_like_onnxruntime_and_warns() -> None:
    proto = relu_model([0, 4])
    with pytest.warns(OnnxImportWarning, match="'x' has dim_value 0 at axis 0"):
        g = import_onnx(proto)
    assert str(g.inputs[0].type) == "f32[0,4]"
    x = np.ones((0, 4), np.float32)
    assert nanograph.compile(g, "O0")(x=x)["y"].shape == ort_run(proto, {"x": x})[0].shape


# windows: stride, dilation, pads, kernel -------------------------------------------------
BAD_WINDOWS = {
    "conv-stride-0": ("conv2d(%x, @w) {strides=[0,1]}", "stride 0 to 1 or more"),
    "conv-negative-pads": ("conv2d(%x, @w) {pads=[-1,0,-1,0]}", "pads (-1, -1) to 0 or more"),
    "conv-dilation-0": ("conv2d(%x, @w) {dilations=[1,0]}", "dilation 0 to 1 or more"),
    "pool-stride-0": ("max_pool2d(%x) {kernel=[3,3], strides=[0,0]}", "stride 0 to 1"),
    "pool-kernel-0": ("max_pool2d(%x) {kernel=[0,0]}", "kernel) size must be >= 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_WINDOWS))
def test_a_bad_window_in_text_ir_says_what_to_change(case: str) -> None:
    op, what = BAD_WINDOWS[case]
    text = "graph g(%x: f32[1,1,5,5]) -> (f32[1,1,3,3]) {\n  @w: f32[1,1,3,3]\n"
    text += f"  %y = {op} : f32[1,1,3,3]\n  return %y\n}}"
    with pytest.raises(ParseError) as info:
        parse_graph(text, {"w": np.ones((1, 1, 3, 3), np.float32)})
    assert_clear(info.value, ParseError, what, "line 3")


def conv_model(**attrs: object) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", F, ["N", 1, 5, 5])
    y = helper.make_tensor_value_info("y", F, ["N", 1, 3, 3])
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "W")
    return model([helper.make_node("Conv", ["x", "W"], ["y"], name="cv", **attrs)], [x], [y], (w,))


@pytest.mark.parametrize(
    ("attrs", "kind", "what"),
    [
        ({"strides": [0, 0]}, ShapeError, "stride 0 to 1 or more"),
        ({"pads": [-1, -1, -1, -1]}, ShapeError, "pads (-1, -1) to 0 or more"),
        ({"kernel_shape": [2, 2]}, UnsupportedOpError, "kernel_shape [2, 2] does not match"),
    ],
)
def test_a_bad_onnx_conv_names_the_node_and_the_fix(
    attrs: dict[str, object], kind: type[NanographError], what: str
) -> None:
    refused_import(conv_model(**attrs), kind, what, "\n  at cv")


# ONNX nodes, bytes and checker messages ------------------------------------------------
def test_an_onnx_constant_without_a_value_is_refused() -> None:
    nodes = [
        helper.make_node("Constant", [], ["c"], name="k"),
        helper.make_node("Add", ["x", "c"], ["y"], name="a"),
    ]
    x = helper.make_tensor_value_info("x", F, ["N", 4])
    y = helper.make_tensor_value_info("y", F, ["N", 4])
    refused_import(model(nodes, [x], [y]), UnsupportedOpError, "no value attribute", "\n  at k")


def test_empty_onnx_bytes_are_refused() -> None:
    refused_import(b"", OnnxLoadError, "are empty", "the ONNX bytes")


def two_nodes(
    first: tuple[str, list[str], str], second: tuple[str, list[str], str]
) -> onnx.ModelProto:
    """Nodes ``n1`` then ``n2`` (op, inputs, output) over input ``x``; output ``b``."""
    nodes = [
        helper.make_node(op, ins, [out], name=name)
        for name, (op, ins, out) in (("n1", first), ("n2", second))
    ]
    x = helper.make_tensor_value_info("x", F, ["N", 4])
    return model(nodes, [x], [helper.make_tensor_value_info("b", F, ["N", 4])])


ORDER_CASES = {
    "cycle": (
        two_nodes(("Add", ["x", "b"], "a"), ("Relu", ["a"], "b")),
        "node 'n1' (Add, #0) -> node 'n2' (Relu, #1) -> node 'n1' (Add, #0)",
        "acyclic",
    ),
    "self-loop": (
        two_nodes(("Add", ["x", "a"], "a"), ("Relu", ["a"], "b")),
        "node 'n1' (Add, #0) uses 'a', which depends on its own output",
        "acyclic",
    ),
    "out-of-order": (
        two_nodes(("Relu", ["a"], "b"), ("Neg", ["x"], "a")),
        "node 'n1' (Relu, #0) uses 'a' before node 'n2' (Neg, #1) computes it",
        "reorder model.graph.node",
    ),
}


@pytest.mark.parametrize("case", sorted(ORDER_CASES))
def test_a_misordered_onnx_graph_names_the_node(case: str) -> None:
    proto, what, fix = ORDER_CASES[case]
    with pytest.raises(OnnxLoadError) as info:
        import_onnx(proto)
    assert_clear(info.value, OnnxLoadError, what, "\n  at n1")
    assert fix in info.value.hint


def test_an_unnamed_node_is_named_by_index_and_op() -> None:
    proto = two_nodes(("Relu", ["a"], "b"), ("Neg", ["x"], "a"))
    for node in proto.graph.node:
        node.name = ""
    refused_import(proto, OnnxLoadError, "node #0 (Relu) uses 'a'", "\n  at node Relu_0")


def test_a_checker_message_is_kept_whole_and_located() -> None:
    x = helper.make_tensor_value_info("x", F, ["N", 4])
    y = helper.make_tensor_value_info("y", F, ["N", 4])
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="r", foo=3)], [x], [y])
    refused_import(
        proto, OnnxLoadError, "Unrecognized attribute: foo for operator Relu", "\n  at r"
    )


# text IR: empty, trailing text, constants of the wrong type -----------------------------
GRAPH = "graph g(%x: f32[N,4]) -> (f32[N,4]) {\n  %y = relu(%x) : f32[N,4]\n  return %y\n}"


def test_empty_text_ir_is_refused() -> None:
    refused_parse("", ParseError, "found no text", "line 1")
    refused_parse("# only a comment\n", ParseError, "found no text", "line 1")


def test_text_after_the_graph_is_refused() -> None:
    refused_parse(GRAPH + "\nfoo", ParseError, "no more text after the closing '}'", "line 5")


def test_text_cut_off_before_the_closing_brace_is_refused() -> None:
    refused_parse(GRAPH[: GRAPH.rindex("}")], ParseError, "expected '}' after 'return'", "line 3")


@pytest.mark.parametrize(
    "data", [np.ones((3,), np.float32), np.ones((4,), np.float64)], ids=["shape", "dtype"]
)
def test_constant_data_of_the_wrong_type_is_refused(data: np.ndarray) -> None:
    text = "graph g(%x: f32[N,4]) -> (f32[N,4]) {\n  @c: f32[4]\n"
    text += "  %y = add(%x, @c) : f32[N,4]\n  return %y\n}"
    with pytest.raises(ParseError) as info:
        parse_graph(text, {"c": data})
    error = assert_clear(info.value, ParseError, f"data for @c is a {data.dtype} array", "line 2")
    assert "float32 array of shape (4,)" in error.hint


# duplicate names in a Graph ------------------------------------------------------------
def test_a_duplicate_input_name_names_the_holder() -> None:
    g = Graph("t")
    g.add_input("x", TensorType.of("f32", (2,)))
    with pytest.raises(VerificationError) as info:
        g.add_input("x", TensorType.of("f32", (2,)))
    assert_clear(info.value, VerificationError, "used twice in graph t", "held by a graph input")


def test_renaming_onto_a_constant_name_names_the_holder() -> None:
    text = "graph g(%x: f32[2]) -> (f32[2]) {\n  @c: f32[2]\n"
    g = parse_graph(text + "  %y = add(%x, @c) : f32[2]\n  return %y\n}")
    with pytest.raises(VerificationError) as info:
        g.rename(g.outputs[0], "c")
    assert_clear(info.value, VerificationError, "renaming %y", "held by a constant")


# an initializer named like a graph input -------------------------------------------------
def test_an_input_with_an_initializer_is_a_constant_and_a_warning_names_it() -> None:
    x = helper.make_tensor_value_info("x", F, [2, 4])
    y = helper.make_tensor_value_info("y", F, [2, 4])
    default = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    init = numpy_helper.from_array(default, "x")
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y], (init,))
    with pytest.warns(OnnxImportWarning, match=r"1 graph input\(s\) also have an initializer.*'x'"):
        g = import_onnx(proto)
    assert g.inputs == []  # relu of the constant folds: the graph computes the default
    ours = nanograph.compile(g, "O0")()["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(ours, ort_run(proto, {})[0], rtol=0, atol=0)
