"""Arrays to and from ``.npz`` files keyed by name (the CLI's ``--inputs`` and ``--save``).

``read_npz`` never unpickles (``allow_pickle=False``). ``write_npz`` is atomic
(``backends.atomic_write``: a temporary file in the target's folder, fsync,
``os.replace``), so a reader sees the old file or the complete new one, never
a partial write.
Failures are ``InputError`` (reading) or ``OutputFileError`` (writing).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from typing import BinaryIO

import numpy as np

from nanograph.backends.atomic_write import atomic_write
from nanograph.ir.errors import InputError, OutputFileError

_HINT = "save inputs with np.savez(path, x=array, ...) keyed by input name"


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``, by its key."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"no such inputs file: {path}", hint=_HINT) from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"cannot read {path} as .npz: {err}", hint=_HINT) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(
            f"{path} holds one array, not an .npz archive of named arrays",
            hint=_HINT,
        )
    with data:
        try:
            return {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise InputError(
                f"cannot read the arrays of {path}: {err}",
                hint="save plain numeric or bool arrays; object arrays (pickles) are never loaded",
            ) from None


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` (as ``np.savez``), atomically."""

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as archive:
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    atomic_write(path, write)


__all__ = ["OutputFileError", "read_npz", "write_npz"]
