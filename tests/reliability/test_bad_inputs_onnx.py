"""Bad input catalogue, ONNX files: malformed, truncated, non-ONNX, unsupported, unsafe.

Every case raises ``OnnxLoadError`` or ``UnsupportedOpError`` naming the file
or the ONNX node, with a ``fix:`` hint, and never a protobuf traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import NanographError, OnnxLoadError, UnsupportedOpError
from tests.reliability.clear_error import assert_clear

W = np.arange(64, dtype=np.float32).reshape(8, 8) / 64


def mlp(*extra: onnx.NodeProto, out: str = "y") -> onnx.ModelProto:
    """``y = relu(x @ w)`` (nodes ``/fc/MatMul``, ``/act/Relu``) followed by ``extra`` nodes."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
        helper.make_node("Relu", ["h"], ["y"], name="/act/Relu"),
        *extra,
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 8])],
        initializer=[numpy_helper.from_array(W, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def refused(source: object, kind: type[NanographError], what: str, where: str) -> NanographError:
    with pytest.raises(kind) as info:
        import_onnx(source)  # type: ignore[arg-type]
    assert_clear(info.value, kind, what, where)
    assert info.value.__cause__ is None and "DecodeError" not in str(info.value)
    return info.value


def _truncated(tmp: Path) -> Path:
    data = mlp().SerializeToString()
    (tmp / "cut.onnx").write_bytes(data[: len(data) // 2])
    return tmp / "cut.onnx"


def _random(tmp: Path) -> Path:
    (tmp / "noise.onnx").write_bytes(np.random.default_rng(0).bytes(400))
    return tmp / "noise.onnx"


def _text(tmp: Path) -> Path:
    (tmp / "notes.onnx").write_text("this is a text file, not a model\n" * 5)
    return tmp / "notes.onnx"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.onnx").write_bytes(b"")
    return tmp / "empty.onnx"


def _npz(tmp: Path) -> Path:
    np.savez(tmp / "weights.npz", w=W)
    os.replace(tmp / "weights.npz", tmp / "weights.onnx")
    return tmp / "weights.onnx"


def _missing(tmp: Path) -> Path:
    return tmp / "missing.onnx"


def _folder(tmp: Path) -> Path:
    (tmp / "dir.onnx").mkdir()
    return tmp / "dir.onnx"


FILES: dict[str, Callable[[Path], Path]] = {
    "truncated": _truncated,
    "random-bytes": _random,
    "text-file": _text,
    "empty-file": _empty,
    "npz-renamed-onnx": _npz,
    "missing-file": _missing,
    "folder-not-file": _folder,
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_unreadable_files_are_refused_naming_the_file(case: str, tmp_path: Path) -> None:
    path = FILES[case](tmp_path)
    refused(path, OnnxLoadError, "", path.name)


def test_an_invalid_graph_names_the_dangling_input() -> None:
    model = mlp(helper.make_node("Relu", ["nowhere"], ["z"], name="/bad/Relu"), out="z")
    refused(model, OnnxLoadError, "nowhere", "not a valid ONNX model")


def test_unsupported_ops_are_listed_together_by_node_name() -> None:
    model = mlp(
        helper.make_node("NonMaxSuppression", ["y", "y"], ["a"], name="/nms/First"),
        helper.make_node("Unique", ["y"], ["b"], name="/uniq/Second"),
        helper.make_node("Add", ["a", "b"], ["z"], name="/sum"),
        out="z",
    )
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(model)
    error = assert_clear(info.value, UnsupportedOpError, "NonMaxSuppression", "/nms/First")
    assert "Unique" in str(error) and "/uniq/Second" in str(error)


def _external(tmp: Path, location: str) -> Path:
    folder = tmp / "m"
    folder.mkdir()
    path = folder / "model.onnx"
    onnx.save(mlp(), path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, path)
    (tmp / "weights.bin").write_bytes((folder / "weights.bin").read_bytes())
    return path


@pytest.mark.parametrize(
    ("location", "what"),
    [
        ("../weights.bin", "leaves the model's folder"),
        ("sub/../../weights.bin", "leaves the model's folder"),
        ("/etc/passwd", "absolute location"),
        ("nothere.bin", "nothere.bin"),
    ],
)
def test_external_data_outside_the_folder_or_missing_is_refused(
    tmp_path: Path, location: str, what: str
) -> None:
    path = _external(tmp_path, location)
    error = refused(path, OnnxLoadError, what, "tensor 'w'")
    assert str(path) in str(error), f"the model file is not named:\n{error}"


@pytest.mark.parametrize("damage", ["truncated", "bad-offset"])
def test_truncated_or_garbled_external_data_is_refused(tmp_path: Path, damage: str) -> None:
    path = _external(tmp_path, "weights.bin")
    if damage == "truncated":
        weights = path.parent / "weights.bin"
        weights.write_bytes(weights.read_bytes()[:10])
        what = "truncated file?"
    else:
        model = onnx.load(path, load_external_data=False)
        for entry in model.graph.initializer[0].external_data:
            if entry.key == "offset":
                entry.value = "twelve"
        if not any(e.key == "offset" for e in model.graph.initializer[0].external_data):
            model.graph.initializer[0].external_data.add(key="offset", value="twelve")
        onnx.save(model, path)
        what = "bad offset or length"
    error = refused(path, OnnxLoadError, what, "tensor '")
    assert str(path) in str(error), f"the model file is not named:\n{error}"
