"""Elementwise ops: unary math and activations, broadcasting binary ops,
comparisons, logic, ``where``, ``cast`` and ``clip``.

Binary ops broadcast like NumPy and require equal dtypes (the IR never
promotes implicitly; the DSL makes scalar constants of the matching dtype).
Integer ``div`` truncates toward zero, as in ONNX and C.

In-place facts: the output may overwrite an input of the same type (the memory
planner checks the shapes match before it uses this).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.ops.inference import (
    broadcast_shapes,
    require_dtype,
    require_float,
    require_same_dtype,
)
from nanograph.ir.ops.registry import OpDef, elementwise_cost, register
from nanograph.ir.types import DType, TensorType

ArrayFn = Callable[[np.ndarray], np.ndarray]
NUMERIC = (DType.f32, DType.f16, DType.i64, DType.i32)

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to double precision (math.erf), in x's dtype."""
    return np.asarray(_erf_scalar(x.astype(np.float64)), dtype=np.float64).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64**3)
        out = 0.5 * x64 * (1.0 + np.tanh(inner))
    else:
        out = 0.5 * x64 * (1.0 + erf(x64 / math.sqrt(2.0)))
    return out.astype(x.dtype)


# unary ------------------------------------------------------------------------------
InferFn = Callable[[Sequence[TensorType], Attrs], list[TensorType]]


def _unary_infer(allowed: tuple[DType, ...]) -> InferFn:
    def infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
        if allowed == (DType.f32, DType.f16):
            require_float(types[0])
        else:
            require_dtype(types[0], allowed)
        return [types[0]]

    return infer


def _unary(
    name: str,
    fn: Callable[[np.ndarray, Attrs], np.ndarray],
    *,
    allowed: tuple[DType, ...] = (DType.f32, DType.f16),
    flops: int = 1,
    attrs: dict[str, AttrSpec] | None = None,
    doc: str = "",
) -> None:
    def reference(inputs: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
        x = inputs[0]
        with np.errstate(all="ignore"):
            return [np.asarray(fn(x, a), dtype=x.dtype)]

    register(
        OpDef(
            name=name,
            inputs=("x",),
            attrs=attrs or {},
            infer=_unary_infer(allowed),
            reference=reference,
            cost=elementwise_cost(flops),
            inplace=(0,),
            family="elementwise",
            doc=doc,
        )
    )


_unary("relu", lambda x, a: np.maximum(x, 0), doc="max(x, 0)")
_unary("sigmoid", lambda x, a: _sigmoid(x), flops=4, doc="1 / (1 + exp(-x))")
_unary("tanh", lambda x, a: np.tanh(x), flops=4)
_unary("exp", lambda x, a: np.exp(x), flops=4)
_unary("log", lambda x, a: np.log(x), flops=4)
_unary("sqrt", lambda x, a: np.sqrt(x), flops=4)
_unary("erf", lambda x, a: erf(x), flops=8)
_unary("reciprocal", lambda x, a: 1 / x)
_unary("silu", lambda x, a: x * _sigmoid(x), flops=5, doc="x * sigmoid(x)")
_unary(
    "gelu",
    lambda x, a: _gelu(x, a["approximate"]),
    flops=8,
    attrs={"approximate": AttrSpec("str", "none", choices=("none", "tanh"))},
    doc="x * Phi(x) (approximate='none', erf form) or its tanh approximation",
)
_unary("neg", lambda x, a: -x, allowed=NUMERIC)
_unary("abs", lambda x, a: np.abs(x), allowed=NUMERIC)
_unary("identity", lambda x, a: x.copy(), allowed=(*NUMERIC, DType.bool), flops=0)
_unary("not", lambda x, a: np.logical_not(x), allowed=(DType.bool,))
_unary(
    "clip",
    lambda x, a: np.clip(x, a["min"], a["max"]),
    attrs={"min": AttrSpec("float", -math.inf), "max": AttrSpec("float", math.inf)},
    doc="min(max(x, min), max); relu6 is clip(min=0, max=6)",
)


# binary -----------------------------------------------------------------------------
def _binary_infer(allowed: tuple[DType, ...], result: DType | None) -> InferFn:
    def infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
        dtype = require_same_dtype(types)
        require_dtype(types[0], allowed)
        shape = broadcast_shapes(*(t.shape for t in types))
        return [TensorType(result or dtype, shape)]

    return infer


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.any(b == 0):
        raise ZeroDivisionError("integer division by zero")
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _int_div(a, b) if a.dtype.kind in "iu" else a / b


def _binary(
    name: str,
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    allowed: tuple[DType, ...] = NUMERIC,
    result: DType | None = None,
    flops: int = 1,
    doc: str = "",
) -> None:
    def reference(inputs: Sequence[np.ndarray], a: Attrs) -> list[np.ndarray]:
        x, y = inputs
        with np.errstate(all="ignore"):
            out = fn(x, y)
        return [np.asarray(out, dtype=result.numpy if result else x.dtype)]

    register(
        OpDef(
            name=name,
            inputs=("a", "b"),
            infer=_binary_infer(allowed, result),
            reference=reference,
            cost=elementwise_cost(flops),
            inplace=() if result else (0, 1),
            family="elementwise",
            doc=doc,
        )
    )


_binary("add", np.add)
_binary("sub", np.subtract)
_binary("mul", np.multiply)
_binary("div", _div)
_binary("pow", np.power, allowed=(DType.f32, DType.f16), flops=4)
_binary("maximum", np.maximum, doc="elementwise max (NaN propagates)")
_binary("minimum", np.minimum, doc="elementwise min (NaN propagates)")
_ALL = (*NUMERIC, DType.bool)
_binary("equal", np.equal, allowed=_ALL, result=DType.bool)
_binary("less", np.less, result=DType.bool)
_binary("less_equal", np.less_equal, result=DType.bool)
_binary("greater", np.greater, result=DType.bool)
_binary("greater_equal", np.greater_equal, result=DType.bool)
_binary("and", np.logical_and, allowed=(DType.bool,), result=DType.bool)
_binary("or", np.logical_or, allowed=(DType.bool,), result=DType.bool)


# where and cast ---------------------------------------------------------------------
def _where_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    cond, a, b = types
    require_dtype(cond, (DType.bool,), "condition")
    dtype = require_same_dtype([a, b])
    return [TensorType(dtype, broadcast_shapes(cond.shape, a.shape, b.shape))]


register(
    OpDef(
        name="where",
        inputs=("condition", "a", "b"),
        infer=_where_infer,
        reference=lambda ins, a: [np.where(ins[0], ins[1], ins[2]).astype(ins[1].dtype)],
        inplace=(1, 2),
        family="elementwise",
        doc="a where condition is true, else b (broadcasting)",
    )
)


def _cast_infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    return [types[0].with_dtype(attrs["to"])]


register(
    OpDef(
        name="cast",
        inputs=("x",),
        attrs={"to": AttrSpec("dtype")},
        infer=_cast_infer,
        reference=lambda ins, a: [ins[0].astype(a["to"].numpy)],
        cost=elementwise_cost(0),
        family="elementwise",
        doc="convert to dtype `to` (floats to ints truncate toward zero)",
    )
)
