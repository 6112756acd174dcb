"""Writing an exported model to disk, atomically, with optional external data.

``save_model(model, path, external_data)``:

- without external data, the serialized model is written with
  ``backends.atomic_write`` (temporary file, fsync, rename): a failed export
  never leaves a partial file, and an older file at ``path`` survives it;
- with external data, every initializer larger than ``EXTERNAL_THRESHOLD``
  bytes moves to ``<model file name>.data`` next to the model (its ONNX
  ``location`` is that relative name, so the pair can be moved together).
  Both files go to temporaries first; the data file is renamed into place
  before the model, so a model on disk never points at missing data. With
  nothing over the threshold only the model is written.

The ``model`` passed in is not changed (a copy is split).
Returns the paths written, the model first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import onnx

from nanograph.backends.atomic_write import Writer, atomic_write_many

EXTERNAL_THRESHOLD = 1024
CHUNK = 1 << 20


def _chunks(data: bytes) -> Iterator[bytes]:
    """``data`` in pieces (large models are written piecewise)."""
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start : start + CHUNK])


def _writer(data: bytes) -> Writer:
    def write(fh: BinaryIO) -> None:
        for piece in _chunks(data):
            fh.write(piece)

    return write


def split_external_data(model: onnx.ModelProto, location: str) -> tuple[onnx.ModelProto, bytes]:
    """A copy of ``model`` whose large initializers refer to ``location``, and that data."""
    split = onnx.ModelProto()
    split.CopyFrom(model)
    blob = bytearray()
    for tensor in split.graph.initializer:
        if not tensor.HasField("raw_data") or len(tensor.raw_data) <= EXTERNAL_THRESHOLD:
            continue
        blob.extend(b"\0" * (-len(blob) % 64))  # aligned offsets, for memory-mapping readers
        offset = len(blob)
        blob.extend(tensor.raw_data)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (
            ("location", location),
            ("offset", offset),
            ("length", len(blob) - offset),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
    return split, bytes(blob)


def save_model(
    model: onnx.ModelProto, path: str | os.PathLike[str], external_data: bool = False
) -> list[Path]:
    """Write ``model`` to ``path`` atomically (see the module docstring)."""
    target = Path(path)
    if not external_data:
        atomic_write_many([(target, _writer(model.SerializeToString()))])
        return [target]
    location = f"{target.name}.data"
    split, blob = split_external_data(model, location)
    if not blob:  # nothing over the threshold: one self-contained file
        atomic_write_many([(target, _writer(split.SerializeToString()))])
        return [target]
    data_path = target.with_name(location)
    atomic_write_many([(data_path, _writer(blob)), (target, _writer(split.SerializeToString()))])
    return [target, data_path]


__all__ = ["EXTERNAL_THRESHOLD", "save_model", "split_external_data"]
