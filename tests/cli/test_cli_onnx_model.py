"""An ``.onnx`` file as the CLI's MODEL: ``show`` and ``run``, with ``--inputs``/``--save``
keyed by the ONNX input and output names; the spec read from the ONNX inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nanograph.backends.reference import run_reference
from nanograph.frontend.onnx_import import import_onnx
from nanograph.ir.errors import InputRangeWarning
from nanograph.model_loading import load_model
from nanograph.npz_io import read_npz, write_npz
from tests.cli.cli_run import run_cli

VOCAB = 11


@pytest.fixture
def tagger(tmp_path: Path) -> Path:
    """ids [N, S] -> embedding (Gather) -> + features [N, S, 4] -> MatMul; two outputs."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Gather", ["embed.weight", "input_ids"], ["emb"], name="/embed/Gather"),
        helper.make_node("Add", ["emb", "features"], ["h"], name="/Add"),
        helper.make_node("MatMul", ["h", "head.weight"], ["logits"], name="/head/MatMul"),
        helper.make_node("ArgMax", ["logits"], ["tags"], axis=-1, keepdims=0, name="/ArgMax"),
    ]
    inits = {
        "embed.weight": rng.standard_normal((VOCAB, 4)).astype(np.float32),
        "head.weight": rng.standard_normal((4, 3)).astype(np.float32),
    }
    graph = helper.make_graph(
        nodes,
        "tagger",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", "S", 4]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "S", 3]),
            helper.make_tensor_value_info("tags", TensorProto.INT64, ["N", "S"]),
        ],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()],
    )
    path = tmp_path / "tagger.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_spec_uses_onnx_names_and_the_vocabulary_as_the_id_range(tagger: Path) -> None:
    loaded = load_model(str(tagger))
    assert loaded.name == "tagger" and loaded.graph is not None
    ids, features = loaded.spec
    assert (ids.name, str(ids.type), ids.value_range) == ("input_ids", "i64[N,S]", (0.0, VOCAB))
    assert (features.name, str(features.type)) == ("features", "f32[N,S,4]")
    feeds = loaded.spec.random_inputs(seed=0, dims={"N": 3, "S": 50})
    assert feeds["input_ids"].max() < VOCAB


def test_show_prints_the_imported_ir(tagger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "show", str(tagger))
    assert code == 0
    assert "graph tagger(%input_ids: i64[N,S], %features: f32[N,S,4])" in out
    assert "%emb = gather(@embed.weight, %input_ids) : f32[N,S,4]  # /embed/Gather" in out
    code, out, _ = run_cli(capsys, "show", str(tagger), "--dims", "N=2,S=5")
    assert code == 0 and "f32[2,5,4]" in out


def test_run_saves_outputs_by_onnx_name(
    tagger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "out.npz"
    code, out, _ = run_cli(capsys, "run", str(tagger), "--dims", "N=2,S=5", "--save", str(saved))
    assert code == 0 and "logits" in out and "tags" in out
    outputs = read_npz(str(saved))
    feeds = load_model(str(tagger)).spec.random_inputs(seed=0, dims={"N": 2, "S": 5})
    expected = run_reference(import_onnx(tagger), feeds)
    assert list(outputs) == ["logits", "tags"]
    for name, array in expected.items():  # O3 on the planned executor: kernels reorder sums
        np.testing.assert_allclose(outputs[name], array, rtol=1e-5, atol=1e-6, err_msg=name)


def test_run_takes_inputs_by_onnx_name(
    tagger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort

    rng = np.random.default_rng(5)
    feeds = {
        "input_ids": rng.integers(0, VOCAB, (1, 7)),
        "features": rng.standard_normal((1, 7, 4)).astype(np.float32),
    }
    inputs, saved = tmp_path / "in.npz", tmp_path / "out.npz"
    write_npz(str(inputs), feeds)
    code, _, err = run_cli(
        capsys, "run", str(tagger), "--inputs", str(inputs), "--save", str(saved)
    )
    assert code == 0, err
    session = ort.InferenceSession(str(tagger), providers=["CPUExecutionProvider"])
    logits, tags = session.run(None, feeds)
    outputs = read_npz(str(saved))
    np.testing.assert_allclose(outputs["logits"], logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["tags"], tags)


def test_an_int_input_that_indexes_no_table_gets_a_stated_range(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["flags"], ["y"], to=TensorProto.FLOAT)],
        "flags",
        [helper.make_tensor_value_info("flags", TensorProto.INT32, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    path = tmp_path / "flags.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.warns(InputRangeWarning, match=r"'flags' .* indexes no table.*\[0, 2\)"):
        loaded = load_model(str(path))
    assert loaded.spec[0].value_range == (0.0, 2.0)


def test_bad_onnx_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07\x12\x03abc\x3a\xff\xff")
    code, _, err = run_cli(capsys, "run", str(broken))
    assert code == 2 and "broken.onnx is not" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "show", str(tmp_path / "missing.onnx"))
    assert code == 2 and "no such ONNX file" in err


def test_unsupported_ops_exit_2_listing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Softplus", ["x"], ["y"], name="/act/Softplus")],
        "soft",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    path = tmp_path / "soft.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2 and "Softplus: 1 node(s): /act/Softplus" in err
