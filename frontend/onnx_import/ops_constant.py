"""Converters of ops that make values from attributes or shapes: ``Constant``,
``ConstantOfShape``, ``Shape``, ``Size`` and ``Range``.

They produce known values where they can (``Shape(x)`` is ``[N, 3, H, W]``,
a static ``Range`` an array), so later shape arithmetic folds. ``Constant``
accepts every ``value*`` attribute form except strings (no string dtype);
``sparse_value`` is densified. ``Range`` with symbolic bounds becomes the
IR's ``range`` (integer bounds and a constant step only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import OnnxNode, converter, one
from nanograph.ir.dims import Dim, mul
from nanograph.ir.types import DType

_MANY = (13, 19, 21, 23, 24, 25)
_VALUE_FORMS = {
    "value": None,
    "sparse_value": None,
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
}


@converter("Constant", versions=_MANY)
def convert_constant(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    for name, dtype in _VALUE_FORMS.items():
        if node.has_attr(name):
            return one(b.const(np.asarray(node.attr(name), dtype=dtype)))
    given = [a.name for a in node.proto.attribute]
    forms = ", ".join(_VALUE_FORMS)
    if not given:
        raise node.refuse(
            "has no value attribute, so it defines no tensor",
            hint=f"a Constant needs exactly one of {forms}; fix the exporter",
        )
    raise node.refuse(
        f"a constant given as {', '.join(given)} is not supported "
        "(nanograph has no string tensors)",
        hint=f"give it as one of {forms}, or compute strings outside the model",
    )


@converter("ConstantOfShape", versions=(9, 20, 21, 23, 24, 25))
def convert_constant_of_shape(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    shape = b.dims(node.require(0), "the shape input of ConstantOfShape")
    fill = node.attr("value", np.zeros(1, dtype=np.float32))
    scalar = b.const(np.asarray(fill).reshape(()))
    return one(b.op("expand", scalar, shape=tuple(shape)))


@converter("Shape", versions=(13, 15, 19, 21, 23, 24, 25))
def convert_shape(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    """Version 15 adds ``start``/``end`` (Python slice semantics, clamped)."""
    x = node.require(0)
    dims = x.type.shape[slice(node.attr("start", 0), node.attr("end", None))]
    return one(b.const_dims(dims))


@converter("Size", versions=_MANY)
def convert_size(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    total: Dim = 1
    for d in node.require(0).type.shape:
        total = mul(total, d)
    return one(b.const_dims([total], shape=()))


def _static_range(start: float, limit: float, delta: float, dtype: DType) -> np.ndarray:
    """ONNX's definition: max(ceil((limit - start) / delta), 0) elements start + i*delta."""
    if delta == 0:
        raise ValueError("delta must be non-zero")
    count = max(math.ceil((limit - start) / delta), 0)
    return (np.asarray(start, dtype=dtype.numpy) + np.arange(count) * delta).astype(dtype.numpy)


@converter("Range", versions=(11, 27))
def convert_range(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    start, limit, delta = (node.require(i) for i in range(3))
    dtype = start.type.dtype
    what = "the {} input of Range"
    step = b.static(delta, what.format("delta")).reshape(-1)[0]
    if step == 0:
        raise node.refuse("delta is 0")
    known = [b.known(v, what.format(n)) for v, n in ((start, "start"), (limit, "limit"))]
    if all(k.is_static for k in known):
        lo, hi = (float(k.array.reshape(-1)[0]) for k in known)
        return one(b.const(_static_range(lo, hi, float(step), dtype)))
    if not dtype.is_int:
        raise node.refuse(f"a {dtype} Range over symbolic bounds is not supported")
    lo_dim, hi_dim = (b.dims(k, "a Range bound")[0] for k in known)
    out = b.op("range", start=lo_dim, limit=hi_dim, delta=int(step))
    return one(out if dtype == DType.i64 else b.op("cast", out, to=dtype))
