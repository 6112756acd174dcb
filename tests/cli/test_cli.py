"""The ``nanograph`` command line, called in-process (and once through ``python -m``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nanograph as ng
from nanograph.cli import main, parse_dims
from nanograph.ir.graph import Graph
from nanograph.ir.types import TensorType
from nanograph.model_cost import graph_flops, human
from nanograph.npz_io import read_npz, write_npz
from nanograph.zoo import MODELS
from tests.cli.cli_run import run_cli

TINY = '''\
"""A tiny CNN for CLI tests."""
import nanograph as ng
from nanograph import F, nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


def build(seed=0):
    nn.manual_seed(seed)
    return Tiny(), ng.ModelSpec([ng.InputSpec("x", ("N", 3, 8, 8))], {"N": 2})
'''


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def reference_outputs(path: Path, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """What the API gives for the tiny model on the CLI's seeded inputs."""
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    model, spec = namespace["build"]()  # type: ignore[operator]
    exe = ng.compile(ng.trace(model, spec))
    return exe(spec.random_inputs(seed, {"N": n}))


# MODEL resolution --------------------------------------------------------------------
def test_unknown_model_lists_the_zoo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "lenett")
    assert code == 2 and out == ""
    assert err.startswith("error: unknown model 'lenett' (did you mean lenet?)")
    assert all(name in err for name in MODELS)
    assert "Traceback" not in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "show", str(tmp_path / "nope.py"))
    assert code == 2 and "no such file" in err and "lenet" in err


def test_file_without_build(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2 and "defines no build() function" in err


def test_error_in_user_file_names_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import math\n\n\ndef build():\n    return math.nope\n")
    code, _, err = run_cli(capsys, "run", str(path))
    assert code == 2
    assert "build() failed: AttributeError" in err
    assert f"at {path}:5" in err


def test_onnx_models_are_not_loaded_yet(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "show", "model.onnx")
    assert code == 2 and "ONNX" in err


# run -----------------------------------------------------------------------------------
def test_run_user_file_prints_summary_and_times(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    code, out, err = run_cli(capsys, "run", str(tiny))
    assert code == 0, err
    (name,) = reference_outputs(tiny, 2)
    assert name in out and "[2, 5]" in out and "float32" in out
    assert "trace " in out and " ms" in out and "(backend numpy, level O3)" in out
    assert "note:" not in out  # numpy at O3 runs O3's own pipeline (layout planning)


def test_run_save_writes_outputs_keyed_by_name(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.npz"
    argv = ["run", str(tiny), "--dims", "N=3", "--seed", "7", "--save", str(target)]
    code, _, err = run_cli(capsys, *argv, "--backend", "numpy-ref", "--level", "O0")
    assert code == 0, err
    saved = read_npz(target)
    want = reference_outputs(tiny, 3, seed=7)
    assert saved.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(saved[key], want[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz", "tiny.py"]  # no temp left


def test_run_on_inputs_file(capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((4, 3, 8, 8)).astype(np.float32)
    write_npz(tmp_path / "in.npz", {"x": x})
    out_path = tmp_path / "out.npz"
    code, out, err = run_cli(
        capsys, "run", str(tiny), "--inputs", str(tmp_path / "in.npz"), "--save", str(out_path)
    )
    assert code == 0, err
    assert "[4, 5]" in out
    namespace: dict[str, object] = {}
    exec(compile(tiny.read_text(), str(tiny), "exec"), namespace)
    model, spec = namespace["build"]()  # type: ignore[operator]
    want = ng.compile(ng.trace(model, spec))(x=x)
    got = read_npz(out_path)
    for key in want:  # run is O3 on the planned executor, whose kernels reorder f32 sums
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_converted_inputs_are_a_one_line_warning(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    write_npz(tmp_path / "in.npz", {"x": np.zeros((1, 3, 8, 8), np.float64)})
    code, _, err = run_cli(capsys, "run", str(tiny), "--inputs", str(tmp_path / "in.npz"))
    assert code == 0
    assert err == "warning: converted inputs before running: x: float64 -> f32\n"


def test_inputs_file_with_wrong_names(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    write_npz(tmp_path / "in.npz", {"image": np.zeros((1, 3, 8, 8), np.float32)})
    code, _, err = run_cli(capsys, "run", str(tiny), "--inputs", str(tmp_path / "in.npz"))
    assert code == 2 and "missing x" in err and "unexpected image" in err


def test_inputs_and_dims_together_are_refused(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    write_npz(tmp_path / "in.npz", {"x": np.zeros((1, 3, 8, 8), np.float32)})
    argv = ["run", str(tiny), "--inputs", str(tmp_path / "in.npz"), "--dims", "N=2"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "--dims" in err


def test_unreadable_inputs_file(capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    code, _, err = run_cli(capsys, "run", str(tiny), "--inputs", "/nonexistent/in.npz")
    assert code == 2 and "no such inputs file" in err


def test_save_into_missing_folder(capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    code, _, err = run_cli(capsys, "run", str(tiny), "--save", "/nonexistent/dir/out.npz")
    assert code == 2 and "cannot write /nonexistent/dir/out.npz" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--backend", "tpu", "unknown backend 'tpu'"),
        ("--level", "O7", "unknown level 'O7'"),
        ("--dims", "M=3", "--dims names M, which no input uses"),
    ],
)
def test_bad_options_exit_2(
    capsys: pytest.CaptureFixture[str], tiny: Path, option: str, value: str, message: str
) -> None:
    code, _, err = run_cli(capsys, "run", str(tiny), option, value)
    assert code == 2 and message in err and "Traceback" not in err


def test_malformed_dims_are_a_usage_error(capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(tiny), "--dims", "N=two"])
    assert info.value.code == 2
    assert "is not SYMBOL=INT" in capsys.readouterr().err


def test_parse_dims() -> None:
    assert parse_dims("N=1, S=128") == {"N": 1, "S": 128}
    assert parse_dims("") == {}


@pytest.mark.parametrize("name", list(MODELS))
def test_run_every_zoo_model(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = run_cli(capsys, "run", name)
    assert code == 0, err
    assert f"{name} outputs" in out and "nan" not in out


# show and zoo ----------------------------------------------------------------------------
def test_show_prints_the_ir(capsys: pytest.CaptureFixture[str], tiny: Path) -> None:
    code, out, _ = run_cli(capsys, "show", str(tiny))
    assert code == 0
    assert out.startswith("graph tiny(%x: f32[N,3,8,8])")
    assert "conv2d(%x" in out and "# tiny.py:" in out
    code, out, _ = run_cli(capsys, "show", str(tiny), "--dims", "N=2")
    assert code == 0 and out.startswith("graph tiny(%x: f32[2,3,8,8])")


def test_show_prints_exactly_the_ir_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "show", "lenet")
    assert code == 0
    model, spec = MODELS["lenet"].build()
    assert out == ng.print_graph(ng.trace(model, spec, name="lenet"))  # no rich markup or wrapping
    assert out.startswith("graph lenet(")  # named after the zoo entry


def test_zoo_lists_every_model_with_parameters_and_flops(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "zoo")
    assert code == 0, err
    for name in MODELS:
        assert name in out
    assert "61.7k" in out  # LeNet-5's 61,706 parameters
    assert "error" not in out


def test_python_dash_m(tiny: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nanograph", "show", str(tiny)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("graph tiny(")


# helpers behind the commands ----------------------------------------------------------------
def test_graph_flops_specializes_then_sums_op_costs() -> None:
    g = Graph("g")
    x = g.add_input("x", TensorType.of("f32", ("N", 4)))
    g.outputs = [g.add("relu", [g.add("add", [x, x]).output]).output]
    assert graph_flops(g, {"N": 3}) == 24  # 12 adds + 12 relus


def test_human() -> None:
    assert (human(61706), human(852_000), human(2.5e9, "FLOPs"), human(12)) == (
        "61.7k",
        "852k",
        "2.5GFLOPs",
        "12",
    )


def test_write_npz_accepts_any_output_name(tmp_path: Path) -> None:
    arrays = {"file": np.arange(3), "allow_pickle": np.ones(2, bool)}  # np.savez keywords
    write_npz(tmp_path / "o.npz", arrays)
    got = read_npz(tmp_path / "o.npz")
    assert got.keys() == arrays.keys()
    np.testing.assert_array_equal(got["file"], arrays["file"])
