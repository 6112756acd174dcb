"""``nanograph run --backend ort-cpu|ort-cuda [--threads N]``, called in-process."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanograph.backends.ort import clear_session_cache, providers
from nanograph.cli import main
from nanograph.npz_io import read_npz
from tests.cli.cli_run import run_cli

CPU = "CPUExecutionProvider"
MLP = '''\
"""A tiny MLP for CLI tests."""
import nanograph as ng
from nanograph import F, nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def build(seed=0):
    nn.manual_seed(seed)
    return Tiny(), ng.ModelSpec([ng.InputSpec("x", ("N", 6))], {"N": 2})
'''


def _has_exporter() -> bool:
    try:
        return hasattr(importlib.import_module("nanograph.backends.onnx_export"), "export_onnx")
    except ImportError:
        return False


needs_exporter = pytest.mark.skipif(
    not _has_exporter(),
    reason="the ONNX exporter (nanograph.backends.onnx_export) is not there yet",
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    clear_session_cache()
    path = tmp_path / "tiny.py"
    path.write_text(MLP)
    return path


@needs_exporter
def test_run_on_ort_cpu_prints_settings_and_providers(
    capsys: pytest.CaptureFixture[str], tiny: Path, tmp_path: Path
) -> None:
    ort_out, ref_out = tmp_path / "ort.npz", tmp_path / "ref.npz"
    code, out, err = run_cli(
        capsys, "run", str(tiny), "--backend", "ort-cpu", "--threads", "1", "--save", str(ort_out)
    )
    assert code == 0, err
    assert "(backend ort-cpu, level O3)" in out
    assert "onnxruntime: exported to ONNX opset 23 (attention=auto" in out
    assert f"on {CPU}, intra-op threads: 1" in out
    assert f"providers: {CPU} ran all" in out
    assert run_cli(capsys, "run", str(tiny), "--save", str(ref_out))[0] == 0
    got, want = read_npz(str(ort_out)), read_npz(str(ref_out))
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)


@needs_exporter
def test_run_on_ort_cpu_with_onnxruntimes_default_threads(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    code, out, err = run_cli(capsys, "run", str(tiny), "--backend", "ort-cpu")
    assert code == 0, err
    assert "intra-op threads: onnxruntime's default, graph optimization: all" in out


def test_ort_cuda_without_cuda_exits_2_with_the_fix(
    capsys: pytest.CaptureFixture[str], tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "available_providers", lambda: [CPU])
    code, _, err = run_cli(capsys, "run", str(tiny), "--backend", "ort-cuda")
    assert code == 2 and "Traceback" not in err
    assert "CUDAExecutionProvider is not available" in err and "onnxruntime-gpu" in err


def test_threads_with_a_numpy_backend_exits_2(
    capsys: pytest.CaptureFixture[str], tiny: Path
) -> None:
    code, _, err = run_cli(capsys, "run", str(tiny), "--threads", "2")
    assert code == 2 and "threads: option(s) of the onnxruntime backends" in err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_threads_must_be_a_positive_int(capsys: pytest.CaptureFixture[str], value: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "lenet", "--backend", "ort-cpu", "--threads", value])
    assert info.value.code == 2
    assert "is not a positive int" in capsys.readouterr().err
