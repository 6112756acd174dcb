"""atomic_write: complete files or none; temporaries cleaned up; order of multi-file renames."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

import nanograph.backends.atomic_write as atomic_module
from nanograph.backends.atomic_write import atomic_write, atomic_write_bytes, atomic_write_many
from nanograph.ir.errors import OutputFileError


def test_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_the_umask_is_read_without_being_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting the umask to read it would race other threads creating files."""
    previous = os.umask(0o027)
    try:

        def forbidden(mask: int) -> int:
            raise AssertionError("os.umask called while writing")

        monkeypatch.setattr(os, "umask", forbidden)
        atomic_write_bytes(tmp_path / "f.bin", b"x")
        assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o640
    finally:
        monkeypatch.undo()
        os.umask(previous)


def test_a_failing_writer_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def write(fh: BinaryIO) -> None:
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, write)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_os_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="nowhere"):
        atomic_write_bytes(tmp_path / "nowhere" / "f.bin", b"x")


def test_many_files_rename_in_order_only_when_all_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[str] = []
    real = os.replace

    def spy(src: str, dst: os.PathLike[str]) -> None:
        renamed.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", spy)
    atomic_write_many([(tmp_path / "data", lambda fh: None), (tmp_path / "model", lambda fh: None)])
    assert renamed == ["data", "model"]

    def fail(fh: BinaryIO) -> None:
        raise RuntimeError("second file fails")

    renamed.clear()
    with pytest.raises(RuntimeError):
        atomic_write_many([(tmp_path / "data2", lambda fh: None), (tmp_path / "model2", fail)])
    assert renamed == []
    assert sorted(os.listdir(tmp_path)) == ["data", "model"]
