"""Loading ONNX external data (weights stored beside the model) without leaving its folder.

A tensor with ``data_location == EXTERNAL`` names a ``location`` (a path
relative to the model's folder), an ``offset`` and a ``length``. Contract of
``load_external_data(model, base_dir, source)``:

- every external tensor's bytes are read into ``raw_data`` and the tensor is
  marked as holding its data (the model is changed in place);
- a location that is absolute, contains a ``..`` component, or resolves
  (symbolic links followed) outside ``base_dir`` is refused with
  ``OnnxLoadError`` before any file is opened; so are missing files and
  ranges past a file's end;
- without a ``base_dir`` (a model given as bytes or a ``ModelProto``), any
  external tensor is an error that says to load the model from its file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from onnx import TensorProto

from nanograph.ir.errors import OnnxLoadError


def _node_tensors(nodes: Iterator[onnx.NodeProto]) -> Iterator[TensorProto]:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in (attr.g, *attr.graphs):
                yield from _graph_tensors(sub)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _node_tensors(iter(graph.node))


def all_tensors(model: onnx.ModelProto) -> Iterator[TensorProto]:
    """Every tensor of the model: initializers and attribute tensors, subgraphs included."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        yield from _node_tensors(iter(function.node))


def _fields(tensor: TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def safe_location(location: str, base_dir: Path, tensor: str) -> Path:
    """The file ``location`` names inside ``base_dir``; raises if it would leave that folder."""
    hint = "external data must sit in the model's folder (or below it), named by a relative path"
    windows = PureWindowsPath(location)
    if not location or os.path.isabs(location) or windows.is_absolute() or windows.drive:
        raise OnnxLoadError(
            f"external data of tensor {tensor!r} has the absolute location {location!r}", hint=hint
        )
    if ".." in PurePosixPath(location.replace("\\", "/")).parts:
        raise OnnxLoadError(
            f"external data of tensor {tensor!r} has the location {location!r}, "
            "which leaves the model's folder",
            hint=hint,
        )
    root = base_dir.resolve()
    path = (root / location).resolve()
    if not path.is_relative_to(root):
        raise OnnxLoadError(
            f"external data of tensor {tensor!r} at {location!r} resolves to {path}, "
            f"outside the model's folder {root} (a symbolic link?)",
            hint=hint,
        )
    return path


def _read(path: Path, offset: int, length: int | None, tensor: str) -> bytes:
    try:
        size = path.stat().st_size
        if offset > size or (length is not None and offset + length > size):
            end = "the end" if length is None else f"byte {offset + length}"
            raise OnnxLoadError(
                f"external data of tensor {tensor!r}: {path.name} has {size} bytes, "
                f"but the tensor reads from byte {offset} to {end} (truncated file?)",
                hint=f"copy {path.name} again from where the model came from, or re-save "
                "the model with onnx.save(..., save_as_external_data=True)",
            )
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read() if length is None else handle.read(length)
    except OSError as err:
        raise OnnxLoadError(
            f"cannot read external data of tensor {tensor!r} from {path}: {err.strerror}",
            hint="keep the external data file next to the model, under the name it records",
        ) from None


def _load_tensor(tensor: TensorProto, base_dir: Path) -> None:
    fields = _fields(tensor)
    name = tensor.name or "(unnamed)"
    try:
        offset = int(fields.get("offset", "0"))
        length = int(fields["length"]) if "length" in fields else None
    except ValueError:
        raise OnnxLoadError(
            f"external data of tensor {name!r} has a bad offset or length "
            f"({fields.get('offset')!r}, {fields.get('length')!r}): not integers",
            hint="re-save the model with onnx.save(..., save_as_external_data=True)",
        ) from None
    path = safe_location(fields.get("location", ""), base_dir, name)
    tensor.raw_data = _read(path, offset, length, name)
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT


def load_external_data(model: onnx.ModelProto, base_dir: Path | None, source: str) -> None:
    """Read every external tensor of ``model`` into the model (see module docstring)."""
    external = [t for t in all_tensors(model) if t.data_location == TensorProto.EXTERNAL]
    if not external:
        return
    if base_dir is None:
        raise OnnxLoadError(
            f"{source} keeps {len(external)} tensor(s) in external data files, "
            "but was not loaded from a file, so there is no folder to read them from",
            hint="pass the model's path to import_onnx",
        )
    for tensor in external:
        try:
            _load_tensor(tensor, base_dir)
        except OnnxLoadError as err:
            raise err.at(source) from None  # where: the model file whose data is bad


__all__ = ["all_tensors", "load_external_data", "safe_location"]
