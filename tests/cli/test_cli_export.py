"""``nanograph export``: files written, what it prints, options and errors (exit status 2)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nanograph as ng
from nanograph import api
from nanograph.backends.onnx_export import export_onnx
from nanograph.backends.reference import run_reference
from nanograph.cli import main
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType
from tests.cli.cli_run import run_cli


def dims_of(value: onnx.ValueInfoProto) -> list[object]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_export_writes_a_checked_model_and_says_what(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lenet.onnx"
    code, out, err = run_cli(capsys, "export", "lenet", "-o", str(path))
    assert code == 0 and err == ""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    lines = out.splitlines()
    assert lines[0].startswith(f"wrote {path} (") and lines[0].endswith("kB)")
    assert lines[1].startswith("opset: ai.onnx 23 (ir_version ")
    assert lines[1].endswith(f"level O2 (passes run: {', '.join(api.level_passes('O2'))})")
    assert lines[2].startswith("attention: no attention nodes")
    ops = Counter(n.op_type for n in model.graph.node)
    listed = ", ".join(f"{op} {n}" for op, n in ops.most_common())
    assert lines[3] == f"nodes: {len(model.graph.node)} ({listed})"
    assert dims_of(model.graph.input[0]) == ["N", 1, 28, 28]


def test_options_opset_level_dims_and_external_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.onnx"
    argv = ["export", "pos_tagger", "-o", str(path), "--opset", "17", "--level", "O0"]
    code, out, _ = run_cli(capsys, *argv, "--dims", "N=2,S=6", "--external-data")
    assert code == 0
    assert f"+ {path}.data (" in out and "level O0" in out and "ai.onnx 17" in out
    model = onnx.load(path)
    assert dims_of(model.graph.input[0]) == [2, 6]
    assert (tmp_path / "m.onnx.data").stat().st_size > path.stat().st_size
    tokens = np.random.default_rng(0).integers(0, 50, (2, 6)).astype(np.int64)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"tokens": tokens})
    module, spec = ng.zoo.pos_tagger.build()
    want = next(iter(run_reference(ng.trace(module, spec), {"tokens": tokens}).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--opset", "16"], "error: unsupported opset 16"),
        (["--opset", "20", "--attention", "onnx"], "needs opset 23 or later, got opset 20"),
        (["--attention", "fast"], "unknown attention lowering 'fast'"),
        (["--level", "O9"], "unknown level 'O9'"),
        (["--dims", "Q=3"], "Q"),
    ],
)
def test_errors_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    path = tmp_path / "m.onnx"
    code, out, err = run_cli(capsys, "export", "lenet", "-o", str(path), *extra)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    assert not path.exists()


def test_output_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export", "lenet"])
    assert info.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


@pytest.mark.skipif(
    importlib.util.find_spec("nanograph.frontend.onnx_import") is None,
    reason="needs the ONNX importer (nanograph.frontend.onnx_import)",
)
def test_an_onnx_model_with_attention_reports_its_lowering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    g = Graph("att")
    q = g.add_input("q", TensorType.of("f32", ("B", 2, "S", 8)))
    g.outputs = [g.add("attention", [q, q, q], {"causal": True}, names=["y"]).output]
    source = tmp_path / "att.onnx"
    export_onnx(g, source)
    path = tmp_path / "out.onnx"
    code, out, _ = run_cli(capsys, "export", str(source), "-o", str(path), "--attention", "ms")
    assert code == 0
    assert "attention: 1 attention node -> com.microsoft.MultiHeadAttention (attention=ms)" in out
    assert "ai.onnx 23, com.microsoft 1" in out
