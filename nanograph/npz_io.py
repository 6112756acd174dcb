"""Arrays to and from ``.npz`` files keyed by name (the CLI's ``--inputs`` and ``--save``).

``read_npz`` never unpickles (``allow_pickle=False``). ``write_npz`` is atomic:
it writes a temporary file in the target's folder and ``os.replace``s it, so a
reader sees the old file or the complete new one, never a partial write.
Failures are ``InputError`` (reading) or ``OutputFileError`` (writing).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nanograph.ir.errors import InputError, OutputFileError


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``, by its key."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"no such inputs file: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"cannot read {path} as .npz: {err}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(
            f"{path} holds one array, not an .npz archive of named arrays",
            hint="save inputs with np.savez(path, x=array, ...) keyed by input name",
        )
    with data:
        try:
            return {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise InputError(f"cannot read the arrays of {path}: {err}") from None


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` (as ``np.savez``), atomically."""
    target = Path(path)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise OutputFileError(f"cannot write {target}: {err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w") as archive:
                for name, array in arrays.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; match a normal new file
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OutputFileError(f"cannot write {target}: {err}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


__all__ = ["OutputFileError", "read_npz", "write_npz"]
