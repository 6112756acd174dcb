"""Bad input catalogue, CLI and output files.

CLI mistakes exit 2 with ``error: ...`` naming the argument and a fix. Every
file nanograph writes (``export``'s ONNX, ``inspect --json/--html``,
``bench --json``, ``run --save``'s ``.npz``) is atomic: a failure midway (here: ``fsync`` of the
finished temporary file fails) leaves the old file intact and no partial or
temporary file beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nanograph.bench.report import write_json
from nanograph.cli import main
from nanograph.ir.errors import ModelLoadError, NanographError, OutputFileError
from nanograph.model_loading import load_model
from nanograph.npz_io import write_npz
from tests.reliability.clear_error import assert_clear

OLD = b"the old file, which a failed write must keep\n"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int | str | None, str]:
    """``nanograph ARGV`` in-process: (exit status, stderr); argparse's exits included."""
    try:
        code: int | str | None = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (("show", "lenet", "--dims", "N=0"), "'N=0': a dim must be at least 1"),
        (("show", "lenet", "--dims", "N"), "is not SYMBOL=INT"),
        (("run", "lenet", "--level", "O9"), "O9"),
        (("export", "lenet"), "-o/--output"),
    ],
)
def test_bad_cli_arguments_exit_2_naming_the_argument(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], what: str
) -> None:
    code, err = cli(capsys, *argv)
    assert code == 2
    assert what in err, err


def test_an_unwritable_output_exits_2_with_a_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "folder" / "m.onnx"
    code, err = cli(capsys, "export", "lenet", "-o", str(target), "--level", "O0")
    assert code == 2
    assert "cannot write" in err and "m.onnx" in err and "fix:" in err, err
    assert not target.parent.exists()


def test_an_unknown_model_is_refused_with_the_zoo_names() -> None:
    with pytest.raises(NanographError) as info:
        load_model("lenett")
    assert_clear(info.value, ModelLoadError, "lenett", "lenett")


def test_a_missing_model_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(NanographError) as info:
        load_model(str(tmp_path / "nothere.py"))
    assert_clear(info.value, ModelLoadError, "no such file", "nothere.py")


def test_a_python_file_without_build_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text("X = 1\n")
    with pytest.raises(NanographError) as info:
        load_model(str(path))
    assert_clear(info.value, ModelLoadError, "build", "model.py")


def _fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(os, "fsync", broken)


def _cli_writer(*argv: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        code = main([a.replace("OUT", str(path)) for a in argv])
        if code != 0:
            raise OutputFileError(f"exit {code}")

    return write


WRITERS: dict[str, Callable[[Path], None]] = {
    "export-onnx": _cli_writer("export", "lenet", "-o", "OUT", "--level", "O0"),
    "inspect-json": _cli_writer("inspect", "lenet", "--json", "OUT"),
    "inspect-html": _cli_writer("inspect", "lenet", "--html", "OUT"),
    "bench-json": lambda path: write_json({"schema": 1, "results": [1.5, 2.5]}, path),
    "outputs-npz": lambda path: write_npz(path, {"y": np.arange(6, dtype=np.float32)}),
}
PYTHON_WRITERS = {"bench-json", "outputs-npz"}  # raise; the CLI writers print and exit 2


@pytest.mark.parametrize("case", sorted(WRITERS))
def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_file(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.file"
    WRITERS[case](target)  # a good write first: the command does write this file
    assert target.read_bytes() != OLD and target.stat().st_size > 0
    target.write_bytes(OLD)
    _fail_fsync(monkeypatch)
    with pytest.raises(OutputFileError) as info:
        WRITERS[case](target)
    if case in PYTHON_WRITERS:
        assert_clear(info.value, OutputFileError, "cannot write", "out.file")
    else:
        assert "cannot write" in capsys.readouterr().err
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"]
    capsys.readouterr()
