"""Loading ONNX files: malformed input, external data and its path safety, unsupported-op
listing, names and locations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper

import nanograph as ng
from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import (
    ModelLoadError,
    OnnxImportWarning,
    OnnxLoadError,
    ShapeError,
    UnsupportedOpError,
)

W = np.arange(64, dtype=np.float32).reshape(8, 8) / 64


def n(op: str, ins: list[str], out: str, name: str = "", **attrs: Any) -> Any:
    return helper.make_node(op, ins, [out], name=name, **attrs)


@pytest.fixture
def mlp(onnx_model: Any) -> onnx.ModelProto:
    nodes = [n("MatMul", ["x", "w"], "h", "/fc/MatMul"), n("Relu", ["h"], "y")]
    return onnx_model(nodes, [("x", "f32", ["N", 8])], [("y", "f32", ["N", 8])], {"w": W})


def expected(x: np.ndarray) -> np.ndarray:
    return np.maximum(x @ W, 0)


# malformed files ---------------------------------------------------------------------
def _refused(model: Any, match: str) -> OnnxLoadError:
    with pytest.raises(OnnxLoadError, match=match) as err:
        import_onnx(model)
    chained = err.value.__context__ if not err.value.__suppress_context__ else None
    assert err.value.__cause__ is None and chained is None  # no protobuf traceback
    assert isinstance(err.value, ModelLoadError)
    return err.value


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_model_is_a_clear_error(
    mlp: onnx.ModelProto, tmp_path: Path, keep: float
) -> None:
    data = mlp.SerializeToString()
    cut = data[: int(len(data) * keep)]
    _refused(cut, "not a readable ONNX model|not an ONNX model|not a valid ONNX model")
    path = tmp_path / "cut.onnx"
    path.write_bytes(cut)
    error = _refused(path, "cut.onnx")
    assert "Traceback" not in str(error) and "DecodeError" not in str(error)


def test_random_bytes_text_empty_missing_and_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _refused(rng.bytes(300), "not a readable ONNX model")
    text = tmp_path / "notes.onnx"
    text.write_text("this is a text file, not a model\n" * 5)
    _refused(text, "notes.onnx is not")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _refused(empty, "empty.onnx is empty")
    _refused(b"", "empty")
    _refused(tmp_path / "missing.onnx", "no such ONNX file")
    _refused(tmp_path, "is a directory")


def test_opset_newer_than_28_is_refused(onnx_model: Any) -> None:
    relu = [n("Relu", ["x"], "y")]
    new = onnx_model(relu, [("x", "f32", [2])], [("y", "f32", [2])], opset=29)
    _refused(new, "opset 29, newer")


def test_an_old_opset_imports_when_its_op_versions_are_converted(onnx_model: Any) -> None:
    # And's schema is version 7 at opsets 7..28: the same converter applies
    both = [n("And", ["a", "b"], "y")]
    model = onnx_model(
        both, [("a", "bool", [2]), ("b", "bool", [2])], [("y", "bool", [2])], opset=7
    )
    graph = import_onnx(model)
    assert [node.op for node in graph.nodes] == ["and"]


def test_an_old_opset_with_an_older_op_version_names_the_op_and_the_fix(onnx_model: Any) -> None:
    # Relu at opset 12 is schema version 6, which no converter handles
    relu = [n("Relu", ["x"], "y")]
    old = onnx_model(relu, [("x", "f32", [2])], [("y", "f32", [2])], opset=12)
    with pytest.raises(UnsupportedOpError, match="Relu") as err:
        import_onnx(old)
    assert "version 6" in str(err.value) and "convert_version(model, 13)" in str(err.value)


def test_invalid_model_reports_the_checker(onnx_model: Any) -> None:
    model = onnx_model([n("Relu", ["nowhere"], "y")], [("x", "f32", [2])], [("y", "f32", [2])])
    _refused(model, "not a valid ONNX model: .*nowhere")


# external data --------------------------------------------------------------------------
def _save_external(model: onnx.ModelProto, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    return path


def _relocate(path: Path, location: str) -> None:
    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, path)


def test_external_data_loads_from_the_model_folder(mlp: onnx.ModelProto, tmp_path: Path) -> None:
    path = _save_external(mlp, tmp_path / "m")
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    graph = import_onnx(path)
    np.testing.assert_allclose(run_reference(graph, {"x": x})["y"], expected(x), rtol=1e-6)
    assert import_onnx(str(path)).constants["w"].type == graph.constants["w"].type


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("/etc/passwd", "absolute location"),
        ("../weights.bin", "leaves the model's folder"),
        ("sub/../../weights.bin", "leaves the model's folder"),
    ],
)
def test_external_data_outside_the_folder_is_refused(
    mlp: onnx.ModelProto, tmp_path: Path, location: str, match: str
) -> None:
    path = _save_external(mlp, tmp_path / "m")
    (tmp_path / "weights.bin").write_bytes((tmp_path / "m" / "weights.bin").read_bytes())
    _relocate(path, location)
    _refused(path, match)


def test_external_data_through_an_escaping_symlink_is_refused(
    mlp: onnx.ModelProto, tmp_path: Path
) -> None:
    path = _save_external(mlp, tmp_path / "m")
    outside = tmp_path / "secret.bin"
    os.replace(tmp_path / "m" / "weights.bin", outside)
    (tmp_path / "m" / "weights.bin").symlink_to(outside)
    _refused(path, "outside the model's folder")


def test_external_data_missing_truncated_or_without_a_folder(
    mlp: onnx.ModelProto, tmp_path: Path
) -> None:
    path = _save_external(mlp, tmp_path / "m")
    _refused(path.read_bytes(), "not loaded from a file")
    weights = tmp_path / "m" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:10])
    _refused(path, "truncated")
    weights.unlink()
    _refused(path, "cannot read external data")


# unsupported ops ---------------------------------------------------------------------
def test_every_unsupported_op_is_listed_once_with_counts_and_names(onnx_model: Any) -> None:
    nodes = [
        n("Softplus", ["x"], "a", "/act/Softplus"),
        n("Relu", ["a"], "b"),
        n("Softplus", ["b"], "c", "/act_1/Softplus"),
        n("HardSwish", ["c"], "d"),
        helper.make_node("FusedThing", ["d"], ["y"], domain="my.ops"),
        n("Elu", ["x"], "dead", "/unused/Elu"),
    ]
    model = onnx_model(nodes, [("x", "f32", [2, 3])], [("y", "f32", [2, 3])], domains={"my.ops": 1})
    with pytest.raises(UnsupportedOpError) as err:
        import_onnx(model)
    text = str(err.value)
    assert "3 op type(s)" in text and "(4 node(s))" in text
    assert "Softplus: 2 node(s): /act/Softplus, /act_1/Softplus" in text
    assert "HardSwish: 1 node(s): node HardSwish_3" in text
    assert "my.ops.FusedThing: 1 node(s): node FusedThing_4" in text
    assert "Elu" not in text  # its output is unused: it is never converted


def test_refused_attribute_names_the_node(onnx_model: Any) -> None:
    node = n("ArgMax", ["x"], "y", "/head/ArgMax", select_last_index=1)
    model = onnx_model([node], [("x", "f32", [2, 3])], [("y", "i64", [2, 1])])
    with pytest.raises(UnsupportedOpError, match="ArgMax: select_last_index=1") as err:
        import_onnx(model)
    assert err.value.loc == "/head/ArgMax"


def test_unsupported_input_dtype(onnx_model: Any) -> None:
    model = onnx_model([n("Identity", ["x"], "y")], [("x", "f32", [2])], [("y", "f32", [2])])
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    model.graph.output[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    with pytest.raises(UnsupportedOpError, match="graph input 'x' has element type DOUBLE"):
        import_onnx(model)


def test_shape_errors_are_located_at_the_onnx_node(onnx_model: Any) -> None:
    """A model whose shapes contradict themselves (checker-clean: ONNX does not check this)."""
    model = onnx_model(
        [n("MatMul", ["x", "z"], "y", "/bad/MatMul")],
        [("x", "f32", [2, 3]), ("z", "f32", [4, 5])],
        [("y", "f32", [2, 5])],
    )
    with pytest.raises(ShapeError, match="MatMul: matmul: inner dims 3 and 4 differ") as err:
        import_onnx(model)
    assert err.value.loc == "/bad/MatMul"


# names and locations -----------------------------------------------------------------------
def test_names_locations_and_outputs_follow_the_onnx_model(onnx_model: Any) -> None:
    nodes = [
        n("Relu", ["in.0"], "/act/Relu_output_0", "/act/Relu"),
        n("Neg", ["/act/Relu_output_0"], "z"),
        n("Identity", ["in.0"], "passthrough"),
    ]
    outputs = [("z", "f32", ["N", 3]), ("passthrough", "f32", ["N", 3]), ("w", "f32", [3])]
    model = onnx_model(
        nodes,
        [("in.0", "f32", ["N", 3]), ("w", "f32", [3])],
        outputs,
        {"w": np.ones(3, np.float32)},
    )
    with pytest.warns(OnnxImportWarning, match="'w'"):  # listed as an input, kept constant
        graph = import_onnx(model)
    assert [v.name for v in graph.inputs] == ["in.0"]  # w is an initializer, not an input
    assert [v.name for v in graph.outputs] == ["z", "passthrough", "w"]
    locs = {node.outputs[0].name: node.loc for node in graph.nodes}
    assert locs["/act/Relu_output_0"] == "/act/Relu" and locs["z"] == "node Neg_1"
    assert ng.print_graph(ng.parse_graph(ng.print_graph(graph))) == ng.print_graph(graph)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    out = run_reference(graph, {"in.0": x})
    np.testing.assert_array_equal(out["passthrough"], x)
    np.testing.assert_array_equal(out["w"], np.ones(3, np.float32))


def test_model_proto_is_not_changed_by_import(mlp: onnx.ModelProto) -> None:
    before = mlp.SerializeToString()
    ng.import_onnx(mlp)
    assert mlp.SerializeToString() == before


def test_only_used_initializers_are_decoded(onnx_model: Any) -> None:
    """An unused float64 initializer is no reason to refuse the model."""
    inits = {"unused": np.zeros(3, np.float64)}
    model = onnx_model([n("Relu", ["x"], "y")], [("x", "f32", [2])], [("y", "f32", [2])], inits)
    assert list(import_onnx(model).constants) == []


def test_string_constants_are_refused(onnx_model: Any) -> None:
    nodes = [
        helper.make_node("Constant", [], ["c"], name="/c", value_strings=["a", "b"]),
        n("Identity", ["x"], "y"),
    ]
    model = onnx_model(nodes, [("x", "f32", [2])], [("y", "f32", [2]), ("c", "f32", [2])])
    model.graph.output[1].type.tensor_type.elem_type = onnx.TensorProto.STRING
    with pytest.raises(UnsupportedOpError, match="value_strings is not supported") as err:
        import_onnx(model)
    assert err.value.loc == "/c"
