"""Random fused ``attention`` nodes for the fuzzer, in both forms.

From a pool value: q, k and v are projections (self-attention) or k/v come
from a shorter or longer sequence (cross-attention); ``Dv`` may differ from
``D``. The node is the 4-D form (heads split by reshape + transpose) or the
packed form (``num_heads=H``), with a random ``scale`` (or the default),
``causal``, ``window`` and a mask: none, a constant bool or additive one
(additive may hold -inf) broadcasting from any of [B|1, H|1, Sq|1, Skv], or
a bool key-padding mask computed from the data (batch dim ``N``).

Unless the draw asks for them (one in six), no query has all its keys hidden:
key ``min(i, Skv-1)`` is kept visible for query ``i`` by every mask, and the
window is widened to reach it. Such rows are NaN in the reference and rows of
zeros in ONNX ``Attention`` (documented), so they only test the backends that
promise NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nanograph.ir.graph import Value
from tests.fuzz.fuzz_builder import Builder, static_dims


def _sequence(b: Builder, v: Value) -> Value:
    """``v`` as [N, S, D]."""
    dims = static_dims(v)
    if len(dims) == 1:
        return b.node("unsqueeze", [v], {"axes": [1]})
    if len(dims) == 2:
        return v
    return b.node("reshape", [v], {"shape": ["N", int(np.prod(dims[:-1])), dims[-1]]})


def _keys_source(b: Builder, x: Value) -> Value:
    """The sequence k and v read: x itself, a part of it, or it twice (Skv != Sq)."""
    form = b.pick(["self", "self", "prefix", "double"])
    s = static_dims(x)[0]
    if form == "prefix" and s > 1:
        return b.node("slice", [x], {"starts": [0], "ends": [b.integer(1, s - 1)], "axes": [1]})
    if form == "double":
        return b.node("concat", [x, b.node("tanh", [x])], {"axis": 1})
    return x


def _project(b: Builder, x: Value, width: int) -> Value:
    d = static_dims(x)[-1]
    return b.node("matmul", [x, b.weight([d, width], d)])


def _split_heads(b: Builder, x: Value, heads: int) -> Value:
    s, hidden = static_dims(x)
    y = b.node("reshape", [x], {"shape": ["N", s, heads, hidden // heads]})
    return b.node("transpose", [y], {"perm": [0, 2, 1, 3]})


def _mask(b: Builder, keys: Value, heads: int, sq: int, skv: int, keep: bool) -> Value | None:
    """A mask broadcasting to [N, heads, sq, skv], or None; ``keep``: key min(i, skv-1)
    stays visible to each query i."""
    kind = b.pick(["none", "bool", "additive", "padding"])
    if kind == "none":
        return None
    diag = np.zeros((sq, skv), bool)
    diag[np.arange(sq), np.minimum(np.arange(sq), skv - 1)] = True
    if kind == "padding":  # bool [N, 1, 1, Skv] from the data: a key is hidden where ...
        if not b.is_exact(keys):
            kind = "bool"
        else:
            peak = b.node("reduce_max", [keys], {"axes": [2], "keepdims": False})
            visible = b.node("greater", [peak, b.scalar(float(b.pick([-0.5, 0.0, 0.5])))])
            visible = b.node("reshape", [visible], {"shape": ["N", 1, 1, skv]})
            return b.node("or", [visible, b.constant(diag, "diag")]) if keep else visible
    shape = [1, b.pick([1, heads]), b.pick([1, sq]), skv]
    if kind == "bool":
        m = b.array(shape) > -0.3
        return b.constant(_keep_visible(m, sq, skv, True) if keep else m, "mask")
    m = b.array(shape, -2.0, 0.0)
    if b.flip(3):
        m[b.array(shape) < -0.5] = -np.inf
    return b.constant(_keep_visible(m, sq, skv, 0.0) if keep else m, "mask")


def _keep_visible(m: np.ndarray, sq: int, skv: int, value: Any) -> np.ndarray:
    """``m`` [., ., sq|1, skv] with key min(i, skv-1) set to ``value`` for each query i."""
    cols = np.minimum(np.arange(sq), skv - 1)
    if m.shape[2] == sq:
        m[:, :, np.arange(sq), cols] = value
    else:
        m[:, :, 0, np.unique(cols)] = value
    return m


def gen_attention(b: Builder, v: Value, pool: list[Value]) -> Value:
    x = _sequence(b, v)
    keys = _keys_source(b, x)
    (sq, _), (skv, _) = static_dims(x), static_dims(keys)
    heads, dh, dv = b.integer(1, 3), b.integer(1, 4), b.integer(1, 4)
    q, k = _project(b, x, heads * dh), _project(b, keys, heads * dh)
    # v from tanh(keys) sometimes: finite where an infinite feed makes k infinite, so a
    # hidden key's non-finite score must stay hidden (not leak NaN through 0 * inf)
    val = _project(b, b.node("tanh", [keys]) if b.flip(3) else keys, heads * dv)
    keep = not b.flip(6)
    attrs: dict[str, Any] = {"causal": b.flip(3)}
    if b.flip(3):
        w = b.integer(0, 3)
        attrs["window"] = max(w, sq - skv) if keep else w
    if b.flip():
        attrs["scale"] = float(b.pick([0.125, 0.5, 1.0, 0.3]))
    mask = _mask(b, keys, heads, sq, skv, keep)
    if b.flip():
        ins = [q, k, val, *([mask] if mask is not None else [])]
        return b.node("attention", ins, {**attrs, "num_heads": heads})
    q4, k4, v4 = (_split_heads(b, t, heads) for t in (q, k, val))
    out = b.node("attention", [q4, k4, v4, *([mask] if mask is not None else [])], attrs)
    if b.flip():
        return out  # [N, H, Sq, Dv] stays in the pool as it is
    merged = b.node("transpose", [out], {"perm": [0, 2, 1, 3]})
    return b.node("reshape", [merged], {"shape": ["N", sq, heads * dv]})
