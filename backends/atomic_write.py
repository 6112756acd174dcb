"""Atomic file writing: a reader sees the old file or the complete new one, never a part.

``atomic_write(path, write)`` calls ``write(fh)`` on a temporary file in the
target's own folder (so the final rename stays on one file system), flushes
and ``fsync``s it, gives it a normal new file's permissions and
``os.replace``s it onto ``path``. If anything fails (``write`` raising
included) the temporary file is removed and the target is left as it was.

``atomic_write_many([(path, write), ...])`` writes every file to a temporary
first and renames them only when all are complete, in the order given: put
the file that refers to the others last (an ONNX model after its external
data), so a crash between renames leaves at worst new side data next to the
old main file, never a main file pointing at missing data.

``OSError`` becomes ``OutputFileError`` naming the file; other exceptions
propagate unchanged (after the cleanup).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from nanograph.ir.errors import OutputFileError

Writer = Callable[[BinaryIO], None]


def atomic_write(path: str | os.PathLike[str], write: Writer) -> None:
    """Write ``path`` atomically with ``write(fh)`` (see the module docstring)."""
    atomic_write_many([(path, write)])


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    atomic_write(path, write)


def atomic_write_many(files: Sequence[tuple[str | os.PathLike[str], Writer]]) -> None:
    """Write each file to a temporary, then rename all of them in order."""
    temps: list[tuple[str, Path]] = []
    try:
        for path, write in files:
            target = Path(path)
            temps.append((_write_temp(target, write), target))
        for tmp, target in temps:
            _rename(tmp, target)
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _write_temp(target: Path, write: Writer) -> str:
    """A complete, synced temporary file next to ``target``; its path."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise OutputFileError(f"cannot write {target}: {err}", hint=_HINT) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; match a normal new file
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OutputFileError(f"cannot write {target}: {err}", hint=_HINT) from None
        raise
    return tmp


def _rename(tmp: str, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as err:
        raise OutputFileError(f"cannot write {target}: {err}", hint=_HINT) from None


_HINT = "check that the folder exists and is writable, with space left; the old file is kept"


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux's
    /proc/self/status): ``os.umask`` can only read it by setting it, and another
    thread creating a file in between would get mode 0666."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere: set and restore, at least not racing ourselves
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


__all__ = ["OutputFileError", "atomic_write", "atomic_write_bytes", "atomic_write_many"]
