"""ONNX tensors, element types and attributes as NumPy arrays and Python values.

Contracts:
- ``onnx_dtype(code)`` maps an ONNX element type to a ``DType`` (f32, f16,
  i64, i32, bool); any other type raises ``UnsupportedOpError`` naming it.
- ``tensor_to_array(tensor, what)`` decodes a ``TensorProto`` whose data is in
  the proto (external data is loaded by ``external_data`` first) into an array
  of one of those dtypes; it never returns a view into the proto.
- ``sparse_to_array`` densifies a ``SparseTensorProto`` (linear or coordinate
  indices), as ONNX's ``Constant(sparse_value=...)`` defines it.
- ``attribute_value(attr)`` gives ints, floats, ``str`` (decoded UTF-8),
  lists, or arrays for tensor attributes; graphs and type protos are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from nanograph.ir.errors import UnsupportedOpError
from nanograph.ir.types import DType

_DTYPES: dict[int, DType] = {
    TensorProto.FLOAT: DType.f32,
    TensorProto.FLOAT16: DType.f16,
    TensorProto.INT64: DType.i64,
    TensorProto.INT32: DType.i32,
    TensorProto.BOOL: DType.bool,
}
SUPPORTED_TYPES = "float, float16, int64, int32, bool"


def onnx_type_name(code: int) -> str:
    """``DOUBLE`` for 11, ``FLOAT`` for 1, ...; ``type <code>`` when unknown."""
    try:
        return str(TensorProto.DataType.Name(code))
    except ValueError:
        return f"type {code}"


def onnx_dtype(code: int, what: str, loc: str = "") -> DType:
    """The ``DType`` of ONNX element type ``code``; ``what`` names the tensor in errors."""
    if code in _DTYPES:
        return _DTYPES[code]
    raise UnsupportedOpError(
        f"{what} has element type {onnx_type_name(code)}, which nanograph does not support",
        loc=loc,
        hint=f"nanograph works in {SUPPORTED_TYPES}; cast it in the exporting framework",
    )


def to_onnx_code(dtype: DType) -> int:
    """The ONNX element type of ``dtype``."""
    return next(code for code, d in _DTYPES.items() if d == dtype)


def tensor_to_array(tensor: TensorProto, what: str, loc: str = "") -> np.ndarray:
    """Decode ``tensor`` (data already in the proto) to a NumPy array we support."""
    dtype = onnx_dtype(tensor.data_type, what, loc)
    if tensor.data_location == TensorProto.EXTERNAL:
        raise UnsupportedOpError(
            f"{what} keeps its data in an external file that was not loaded", loc=loc
        )
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as err:
        raise UnsupportedOpError(f"{what} cannot be decoded: {err}", loc=loc) from None
    return np.array(array, dtype=dtype.numpy, copy=True)


def sparse_to_array(sparse: onnx.SparseTensorProto, what: str, loc: str = "") -> np.ndarray:
    """The dense array of a sparse tensor: zeros except at its indices."""
    values = tensor_to_array(sparse.values, what, loc)
    indices = tensor_to_array(sparse.indices, what, loc).astype(np.int64)
    shape = tuple(int(d) for d in sparse.dims)
    dense = np.zeros(shape, dtype=values.dtype)
    if indices.ndim == 1:  # linearized indices
        dense.reshape(-1)[indices] = values
    else:  # [NNZ, rank] coordinates
        dense[tuple(indices.T)] = values
    return dense


def attribute_value(attr: AttributeProto, what: str, loc: str = "") -> Any:
    """The Python value of an ONNX attribute (see module docstring)."""
    kind = attr.type
    if kind == AttributeProto.TENSOR:
        return tensor_to_array(attr.t, what, loc)
    if kind == AttributeProto.SPARSE_TENSOR:
        return sparse_to_array(attr.sparse_tensor, what, loc)
    if kind in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
        raise UnsupportedOpError(
            f"{what} is a subgraph; control flow (If, Loop, Scan) is not supported",
            loc=loc,
            hint="export the model without data-dependent control flow",
        )
    if kind in (AttributeProto.TENSORS, AttributeProto.SPARSE_TENSORS) or kind >= 13:
        raise UnsupportedOpError(f"{what} has an attribute type nanograph cannot read", loc=loc)
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in value]
    return value


__all__ = [
    "SUPPORTED_TYPES",
    "attribute_value",
    "onnx_dtype",
    "onnx_type_name",
    "sparse_to_array",
    "tensor_to_array",
    "to_onnx_code",
]
