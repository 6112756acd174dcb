"""``NanographBackend``: ONNX's backend interface over the importer and the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from nanograph.backends.onnx_backend import NanographBackend, node_model
from nanograph.ir.errors import ConfigError, InputError, UnsupportedOpError


def _two_output_model() -> onnx.ModelProto:
    """y = relu(a) - b, z = a * 2 (outputs deliberately not in creation order)."""
    nodes = [
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Sub", ["r", "b"], ["y"]),
        helper.make_node("Mul", ["a", "two"], ["z"]),
    ]
    f32 = TensorProto.FLOAT

    def info(name: str, shape: list[int | str]) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, f32, shape)

    graph = helper.make_graph(
        nodes,
        "two",
        [info("a", ["N", 3]), info("b", [3])],
        [info("z", ["N", 3]), info("y", ["N", 3])],
        [helper.make_tensor("two", f32, [], [2.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


A = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], dtype=np.float32)
B = np.array([1.0, 2.0, 3.0], dtype=np.float32)


def _check(outputs: tuple[np.ndarray, ...]) -> None:
    z, y = outputs  # the ONNX output order
    np.testing.assert_array_equal(z, A * 2)
    np.testing.assert_array_equal(y, np.maximum(A, 0) - B)


def test_prepare_and_run_in_onnx_output_order(tmp_path: Path) -> None:
    model = _two_output_model()
    path = tmp_path / "two.onnx"
    onnx.save(model, str(path))
    for source in (model, model.SerializeToString(), path, str(path)):
        rep = NanographBackend.prepare(source, "CPU")
        _check(rep.run([A, B]))
        _check(rep.run({"a": A, "b": B}))
    _check(NanographBackend.run_model(model, [A, B]))


def test_wrong_number_of_inputs_is_a_clear_error() -> None:
    rep = NanographBackend.prepare(_two_output_model())
    with pytest.raises(InputError, match=r"takes 2 inputs \(a, b\), got 1"):
        rep.run([A])


def test_only_the_cpu_device() -> None:
    assert NanographBackend.supports_device("CPU")
    assert not NanographBackend.supports_device("CUDA")
    with pytest.raises(ConfigError, match="device 'CUDA' is not supported"):
        NanographBackend.prepare(_two_output_model(), "CUDA")


def test_run_node() -> None:
    node = helper.make_node("Add", ["x", "y"], ["s"])
    (s,) = NanographBackend.run_node(node, [A, B])
    np.testing.assert_array_equal(s, A + B)
    model = node_model(node, [A, B], opset_version=18)
    assert model.opset_import[0].version == 18


def test_importer_errors_propagate_unchanged() -> None:
    node = helper.make_node("Celu", ["x"], ["y"])
    with pytest.raises(UnsupportedOpError, match="Celu"):
        NanographBackend.run_node(node, [A], opset_version=17)
