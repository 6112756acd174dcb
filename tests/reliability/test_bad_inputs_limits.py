"""Bad input catalogue, limits and data files: absurd dimensions, pickles, inputs files.

- Absurd dimensions are refused before allocating, against the memory limit
  (``ResourceLimitError``; the other cases are in ``test_memory_limit*.py``).
- Loading never executes code from a data file: every ``np.load`` in the
  package passes ``allow_pickle=False`` and a pickled ``.npz`` is refused.
"""

from __future__ import annotations

import ast
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import nanograph
from nanograph.ir.errors import InputError, NanographError, ResourceLimitError
from nanograph.model_loading import load_model
from nanograph.npz_io import read_npz
from tests.reliability.clear_error import assert_clear

PACKAGE = Path(nanograph.__file__).parent


def test_absurd_dimensions_are_refused_before_allocating(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nanograph.cli import main

    tracemalloc.start()
    try:
        code = main(["run", "lenet", "--dims", "N=1000000000"])  # 2.9 TiB of float32 inputs
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2
    assert "memory limit" in err and "N=1000000000" in err and "%x: f32[1000000000,1,28,28]" in err
    assert "at graph lenet" in err and "fix: " in err and "--memory-limit" in err, err
    assert peak < 64 * 2**20  # the refusal comes before the inputs are drawn


def test_absurd_dimensions_are_refused_by_random_inputs() -> None:
    with pytest.raises(NanographError) as info:
        load_model("lenet").random_inputs(0, {"N": 10**9})
    error = assert_clear(info.value, ResourceLimitError, "N=1000000000", "graph lenet")
    # 3136 bytes of float32 per sample, plus NumPy's float64 draw of the same elements
    assert f"({10**9 * 784 * (4 + 8)} bytes)" in error.message


def _load_calls(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            if (
                node.func.attr == "load"
                and isinstance(base, ast.Name)
                and base.id in ("np", "numpy")
            ):
                calls.append(node)
    return calls


def test_every_np_load_in_the_package_refuses_pickles() -> None:
    found = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for call in _load_calls(tree):
            found += 1
            flags = {k.arg: k.value for k in call.keywords}
            value = flags.get("allow_pickle")
            assert isinstance(value, ast.Constant) and value.value is False, (
                f"{path.relative_to(PACKAGE)}:{call.lineno}: np.load without allow_pickle=False"
            )
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "pickle" not in names, f"{path.relative_to(PACKAGE)} imports pickle"
    assert found >= 1  # the scan sees npz_io.read_npz


def test_a_pickled_inputs_file_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "inputs.npz"
    np.savez(path, x=np.array([{"payload": 1}, None], dtype=object))
    with pytest.raises(InputError) as info:
        read_npz(path)
    assert_clear(info.value, InputError, "allow_pickle=False", "inputs.npz")


@pytest.mark.parametrize("case", ["missing", "not-a-zip", "single-npy"])
def test_unreadable_inputs_files_are_refused(case: str, tmp_path: Path) -> None:
    path = tmp_path / "inputs.npz"
    if case == "not-a-zip":
        path.write_text("x = 1, 2, 3\n")
    elif case == "single-npy":
        with path.open("wb") as fh:
            np.save(fh, np.zeros(3, np.float32))
    with pytest.raises(InputError) as info:
        read_npz(path)
    assert_clear(info.value, InputError, "inputs.npz", "inputs.npz")


def test_a_symbol_bound_to_zero_is_refused() -> None:
    with pytest.raises(NanographError) as info:
        load_model("lenet").trace({"N": 0})
    assert_clear(info.value, InputError, "size of N", "graph lenet")
    assert "int >= 1" in str(info.value)
