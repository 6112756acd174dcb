"""Random elementwise subgraphs for the fuzzer: math, activations, comparisons, casts.

Each ``gen_*`` takes the builder, a pool value ``v`` (see ``fuzz_builder``)
and the pool, and returns a new pool value of the pool's contract (f32, batch
first, bounded). Ops whose argument must stay in a domain get it guarded:
``exp(tanh v)``, ``sqrt|v|``, ``log(|v| + 1)``, ``reciprocal(|v| + 1/2)``,
``pow`` of ``tanh v`` by a small integer or of ``|v| + 1/2`` by a fraction.
Comparisons, casts to f16/ints/bool and integer arithmetic read only exact
values (``Builder.is_exact``); integer values are cast back to f32.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.graph import Value
from tests.fuzz.fuzz_builder import Builder, static_dims

UNARY = ("relu", "tanh", "sigmoid", "neg", "abs", "erf", "silu", "identity")
BINARY = ("add", "sub", "mul", "maximum", "minimum")
COMPARE = ("greater", "less", "greater_equal", "less_equal", "equal")


def broadcast_shape(b: Builder, v: Value) -> list[int]:
    """A shape that broadcasts against ``v`` without growing it: a suffix of its static
    dims, some set to 1."""
    dims = static_dims(v)
    k = b.integer(0, len(dims))
    return [d if b.flip() else 1 for d in dims[k:]]


def gen_unary(b: Builder, v: Value, pool: list[Value]) -> Value:
    op = b.pick((*UNARY, "gelu", "exp", "sqrt", "log", "reciprocal", "clip", "pow"))
    if op == "gelu":
        return b.node("gelu", [v], {"approximate": b.pick(["none", "tanh"])})
    if op == "exp":
        return b.node("exp", [b.node("tanh", [v])])
    if op == "sqrt":
        return b.node("sqrt", [b.node("abs", [v])])
    if op == "log":
        return b.node("log", [b.node("add", [b.node("abs", [v]), b.scalar(1.0)])])
    if op == "reciprocal":
        r = b.node("reciprocal", [b.node("add", [b.node("abs", [v]), b.scalar(0.5)])])
        return b.node("mul", [r, b.nonzero(broadcast_shape(b, v), 0.5, 1.0)])
    if op == "clip":
        lo = b.pick([-np.inf, -1.0, -0.5, 0.0])
        hi = b.pick([np.inf, 0.5, 1.0, 6.0]) if lo != -np.inf else b.pick([0.5, 1.0])
        return b.node("clip", [v], {"min": float(lo), "max": float(hi)})
    if op == "pow":
        if b.flip():
            return b.node("pow", [b.node("tanh", [v]), b.scalar(b.pick([2.0, 3.0, 1.0]))])
        base = b.node("add", [b.node("abs", [v]), b.scalar(0.5)])
        return b.node("pow", [base, b.scalar(b.pick([0.5, -0.5, -1.0, 1.5]))])
    return b.node(op, [v])


def gen_binary(b: Builder, v: Value, pool: list[Value]) -> Value:
    op = b.pick((*BINARY, "div"))
    if op == "div":
        return b.node("div", [v, b.nonzero(broadcast_shape(b, v))])
    same = [p for p in pool if p.type.shape == v.type.shape and p is not v]
    if same and b.flip():
        other = b.pick(same)
        if op == "mul":  # |tanh| <= 1: products of pool values cannot grow without bound
            other = b.node("tanh", [other])
    else:
        other = b.const(broadcast_shape(b, v))
    return b.node(op, [v, other] if b.flip() else [other, v])


def condition(b: Builder, v: Value) -> Value:
    """A bool value broadcastable to ``v``: comparisons of exact values, combined by
    and/or/not; a constant pattern when ``v`` is not exact."""
    if not b.is_exact(v):
        return b.constant(b.array(broadcast_shape(b, v)) > 0, "m")
    op = b.pick(COMPARE)
    if op == "equal":  # equal to its own relu: true exactly where v >= 0
        cond = b.node("equal", [v, b.node("relu", [v])])
    else:
        cond = b.node(op, [v, b.const(broadcast_shape(b, v))] if b.flip() else [b.scalar(0.0), v])
    if b.flip(3):
        other = b.node(b.pick(COMPARE[:4]), [v, b.const(broadcast_shape(b, v))])
        cond = b.node(b.pick(["and", "or"]), [cond, other])
    return b.node("not", [cond]) if b.flip(4) else cond


def gen_where(b: Builder, v: Value, pool: list[Value]) -> Value:
    cond = condition(b, v)
    other = b.pick([b.node("neg", [v]), b.const(broadcast_shape(b, v)), b.scalar(0.0)])
    return b.node("where", [cond, v, other] if b.flip() else [cond, other, v])


def gen_cast(b: Builder, v: Value, pool: list[Value]) -> Value:
    """Round trips through f16, i64/i32 (with integer arithmetic) or bool, on exact values."""
    if not b.is_exact(v):
        v = b.node("relu", [v]) if b.flip() else v
        if not b.is_exact(v):
            return b.node("relu", [v])
    kind = b.pick(["f16", "int", "bool"])
    if kind == "f16":
        h = b.node("cast", [v], {"to": "f16"})
        if b.flip():
            h = b.node(b.pick(["relu", "neg", "abs"]), [h])
        return b.node("cast", [h], {"to": "f32"})
    if kind == "bool":
        m = b.node("cast", [v], {"to": "bool"})
        if b.flip():
            return b.node("where", [m, v, b.scalar(-1.0)])
        return b.node("cast", [m], {"to": "f32"})
    dtype = b.pick(["i64", "i32"])
    scaled = b.node("mul", [v, b.scalar(4.0)])  # x4 is exact in binary floating point
    i = b.node("cast", [b.node("clip", [scaled], {"min": -8.0, "max": 8.0})], {"to": dtype})
    np_dtype = np.int64 if dtype == "i64" else np.int32
    op = b.pick(["add", "sub", "mul", "div", "maximum", "neg", "abs", "reduce_sum", "none"])
    if op in ("add", "sub", "mul", "maximum"):
        c = np.array(b.integer(-3, 3), dtype=np_dtype)
        i = b.node(op, [i, b.constant(c, "k")])
    elif op == "div":  # truncating integer division by a non-zero constant
        c = np.array(b.pick([-3, -2, 2, 3]), dtype=np_dtype)
        i = b.node("div", [i, b.constant(c, "k")])
    elif op in ("neg", "abs"):
        i = b.node(op, [i])
    elif op == "reduce_sum" and v.type.rank >= 2:
        i = b.node("reduce_sum", [i], {"axes": [v.type.rank - 1], "keepdims": True})
    return b.node("cast", [i], {"to": "f32"})


def gen_range(b: Builder, v: Value, pool: list[Value]) -> Value:
    """``range(N)``, a runtime-sized value, broadcast over ``v``: row n gets ``n * c``."""
    r = b.node("range", [], {"limit": "N"})
    r = b.node("cast", [r], {"to": "f32"})
    r = b.node("reshape", [r], {"shape": ["N", *([1] * (v.type.rank - 1))]})
    return b.node("add", [v, b.node("mul", [r, b.scalar(0.25)])])
