"""export_onnx: names, locations and dim_params kept; options refused clearly; atomic files;
external data. Numeric checks use rtol 1e-4, atol 1e-5 (float32 onnxruntime vs the
float64-accumulating reference)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nanograph as ng
import nanograph.backends.onnx_export.save as save_module
from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.onnx_export.model import nanograph_version
from nanograph.backends.reference import run_reference
from nanograph.ir.errors import ConfigError, OutputFileError, VerificationError
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType

RTOL, ATOL = 1e-4, 1e-5


def small_graph(features: int = 4) -> Graph:
    """x [N, S, 4] -> linear -> concat a learned row -> [N, S+1, features]."""
    g = Graph("small")
    x = g.add_input("x", TensorType.of("f32", ("N", "S", 4)))
    rng = np.random.default_rng(0)
    w = g.add_constant("fc.weight", rng.standard_normal((4, features)).astype(np.float32))
    b = g.add_constant("fc.bias", rng.standard_normal(features).astype(np.float32))
    h = g.add("linear", [x, w, b], {"activation": "relu"}, loc="model.py:10", names=["fc"])
    first = g.add(
        "slice", [h.output], {"starts": (0,), "ends": (1,), "axes": (1,)}, loc="model.py:11"
    )
    y = g.add("concat", [first.output, h.output], {"axis": 1}, loc="model.py:12", names=["joined"])
    g.outputs = [y.output]
    return g


def run_ort(model: onnx.ModelProto | str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    data = model if isinstance(model, str) else model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_names_locations_and_dims_are_kept() -> None:
    graph = small_graph()
    model = export_onnx(graph)
    nodes = {n.name: n for n in model.graph.node}
    for node in graph.nodes:
        if node.op == "linear":
            continue  # expanded: its output is written by the last node of the expansion
        assert node.outputs[0].name in nodes, node
    assert nodes["fc"].doc_string == "model.py:10"
    assert nodes["joined"].doc_string == "model.py:12"
    assert all(n.name == n.output[0] for n in model.graph.node)
    assert all(n.doc_string for n in model.graph.node)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["N", "S", 4]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["N", "S+1", 4]
    assert out.name == "joined"
    assert {i.name for i in model.graph.initializer} >= {"fc.weight", "fc.bias"}


def test_model_identity_and_opsets() -> None:
    model = export_onnx(small_graph(), opset=18)
    assert model.producer_name == "nanograph"
    assert model.producer_version == nanograph_version()
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
    assert model.graph.name == "small"
    assert {p.key for p in model.metadata_props} == {"nanograph.graph", "nanograph.attention"}
    custom = export_onnx(small_graph(), producer="me", metadata={"nanograph.level": "O2"})
    assert custom.producer_name == "me"
    assert {p.key: p.value for p in custom.metadata_props}["nanograph.level"] == "O2"


def test_one_file_runs_at_every_size() -> None:
    graph = small_graph()
    model = export_onnx(graph)
    for n, s in ((1, 2), (3, 7)):
        x = np.random.default_rng(n).standard_normal((n, s, 4)).astype(np.float32)
        (got,) = run_ort(model, {"x": x})
        want = run_reference(graph, {"x": x})["joined"]
        assert got.shape == (n, s + 1, 4)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_the_callers_graph_is_not_changed() -> None:
    graph = small_graph()
    before = ng.print_graph(graph)
    export_onnx(graph, attention="plain")
    assert ng.print_graph(graph) == before


def test_the_api_runs_the_level_and_records_it(tmp_path: Path) -> None:
    graph = small_graph()
    before = ng.print_graph(graph)
    model = ng.export_onnx(graph, tmp_path / "m.onnx", level="O3", opset=20)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["nanograph.level"] == "O3"
    assert props["nanograph.passes"] == ", ".join(ng.api.level_passes("O3"))
    assert onnx.load(tmp_path / "m.onnx").opset_import[0].version == 20
    assert ng.print_graph(graph) == before
    with pytest.raises(ConfigError, match="unknown level 'O4'"):
        ng.export_onnx(graph, level="O4")
    with pytest.raises(ConfigError, match="unsupported opset 30"):
        ng.export_onnx(graph, opset=30)


@pytest.mark.parametrize("opset", [16, 29, 0, "23", True, 23.0])
def test_unsupported_opsets_are_refused(opset: object) -> None:
    with pytest.raises(ConfigError, match="unsupported opset") as info:
        export_onnx(small_graph(), opset=opset)  # type: ignore[arg-type]
    assert "17 to 28" in info.value.hint


def test_a_symbol_no_input_carries_is_refused_with_a_fix() -> None:
    g = Graph("g")
    g.add_input("x", TensorType.of("f32", ("N", 4)))
    g.outputs = [g.add("range", [], {"limit": "M"}, loc="m.py:3").output]
    with pytest.raises(ConfigError, match="the size M") as info:
        export_onnx(g)
    assert "--dims M=" in info.value.hint


def test_constants_without_data_are_refused() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", (2,)))
    w = g.add_constant("w", None, TensorType.of("f32", (2,)))
    g.outputs = [g.add("add", [x, w]).output]
    with pytest.raises(VerificationError, match="@w"):
        export_onnx(g)


def test_inputs_constants_and_repeats_as_outputs_keep_their_names() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", (2,)))
    c = g.add_constant("c", np.array([1.0, 2.0], np.float32))
    y = g.add("relu", [x], names=["y"]).output
    g.outputs = [x, c, y, y]
    model = export_onnx(g)
    assert [o.name for o in model.graph.output] == ["x", "c", "y", "y"]
    got = run_ort(model, {"x": np.array([-1.0, 3.0], np.float32)})
    np.testing.assert_array_equal(np.stack(got), [[-1, 3], [1, 2], [0, 3], [0, 3]])


# files -------------------------------------------------------------------------------
def test_writes_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    model = export_onnx(small_graph(), path)
    assert onnx.load(path) == model
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


@pytest.fixture
def failing_serialization(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writing fails after the first piece of the file is on disk."""
    real = save_module._chunks

    def half_then_fail(data: bytes) -> Iterator[bytes]:
        yield next(real(data))[: len(data) // 2]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(save_module, "_chunks", half_then_fail)
    yield


@pytest.mark.parametrize("external", [False, True])
def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, failing_serialization: None, external: bool
) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old model")
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_onnx(small_graph(features=300), path, external_data=external)
    assert path.read_bytes() == b"old model"
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_an_unwritable_folder_is_an_output_file_error(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="cannot write"):
        export_onnx(small_graph(), tmp_path / "missing" / "m.onnx")


def test_external_data_round_trip(tmp_path: Path) -> None:
    graph = small_graph(features=300)  # fc.weight: 4*300*4 bytes > 1 KB; fc.bias 1200 bytes
    path = tmp_path / "m.onnx"
    model = export_onnx(graph, path, external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    raw = onnx.load(path, load_external_data=False)
    external = {
        t.name: {e.key: e.value for e in t.external_data}
        for t in raw.graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
    }
    assert set(external) == {"fc.weight", "fc.bias"}
    assert {e["location"] for e in external.values()} == {"m.onnx.data"}
    loaded = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    for tensor in model.graph.initializer:  # the data loads back exactly
        np.testing.assert_array_equal(loaded[tensor.name], onnx.numpy_helper.to_array(tensor))
    onnx.checker.check_model(str(path), full_check=True)
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    (got,) = run_ort(str(path), {"x": x})
    np.testing.assert_allclose(got, run_reference(graph, {"x": x})["joined"], rtol=RTOL, atol=ATOL)
    assert path.stat().st_size < 1024 < (tmp_path / "m.onnx.data").stat().st_size
