"""Random data-movement subgraphs for the fuzzer: reshape, transpose, flatten, squeeze,
unsqueeze, concat, split, slice (steps of either sign), expand, pad (constant, reflect,
edge), gather (constant, negative or data-dependent ``argmax`` indices), reductions
(with keepdims) and ``argmax``.

Every generator keeps the batch ``N`` at axis 0 (ops act on the static axes
after it) and never makes an empty dim. See ``fuzz_builder`` for the pool contract.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.graph import Value
from tests.fuzz.fuzz_builder import Builder, static_dims

REDUCE = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")


def _axis(b: Builder, v: Value) -> int:
    """A static axis of ``v`` (1..rank-1), sometimes written negative."""
    axis = b.integer(1, v.type.rank - 1)
    return axis - v.type.rank if b.flip(3) else axis


def gen_transpose(b: Builder, v: Value, pool: list[Value]) -> Value:
    rest = b.draw_permutation(list(range(1, v.type.rank)))
    return b.node("transpose", [v], {"perm": [0, *rest]})


def gen_reshape(b: Builder, v: Value, pool: list[Value]) -> Value:
    dims = static_dims(v)
    if len(dims) >= 2 and b.flip():
        i = b.integer(0, len(dims) - 2)
        new = [*dims[:i], dims[i] * dims[i + 1], *dims[i + 2 :]]
    elif dims and dims[-1] % 2 == 0:
        new = [*dims[:-1], 2, dims[-1] // 2]
    else:
        new = [*dims, 1]
    if new and b.flip(4):  # one inferred dim
        new[b.integer(0, len(new) - 1)] = -1
    return b.node("reshape", [v], {"shape": ["N", *new]})


def gen_flatten(b: Builder, v: Value, pool: list[Value]) -> Value:
    """flatten at any axis, then back to a batch-first shape (flatten's output is
    [N*d1*..., rest] for axis > 1)."""
    axis = b.integer(1, v.type.rank)
    flat = b.node("flatten", [v], {"axis": axis})
    if axis == 1:
        return flat
    dims = static_dims(v)
    rest = [*dims[: axis - 1], int(np.prod(dims[axis - 1 :], dtype=np.int64))]
    return b.node("reshape", [flat], {"shape": ["N", *rest]})


def gen_squeeze(b: Builder, v: Value, pool: list[Value]) -> Value:
    ones = [i + 1 for i, d in enumerate(static_dims(v)) if d == 1]
    if ones and b.flip():
        return b.node("squeeze", [v], {"axes": [b.pick(ones)]})
    count = b.integer(1, 2)
    axes = b.distinct(1, v.type.rank + count - 1, count)
    u = b.node("unsqueeze", [v], {"axes": axes})
    return b.node("squeeze", [u], {"axes": axes}) if b.flip(3) else u


def gen_concat(b: Builder, v: Value, pool: list[Value]) -> Value:
    if v.type.rank < 2:
        return v
    axis = b.integer(1, v.type.rank - 1)
    dims = static_dims(v)

    def fits(p: Value) -> bool:
        if p.type.rank != v.type.rank:
            return False
        return all(
            a == c
            for k, (a, c) in enumerate(zip(static_dims(p), dims, strict=True))
            if k != axis - 1
        )

    others = [p for p in pool if fits(p)]
    parts = [v]
    for _ in range(b.integer(1, 2)):
        parts.append(b.pick(others) if others and b.flip() else b.node("neg", [v]))
    if b.flip(4):  # a constant part
        shape = list(dims)
        shape[axis - 1] = b.integer(1, 2)
        parts.append(b.node("expand", [b.const([1, *shape])], {"shape": ["N", *shape]}))
    return b.node("concat", parts, {"axis": axis - v.type.rank if b.flip(3) else axis})


def gen_split(b: Builder, v: Value, pool: list[Value]) -> Value:
    axis = b.integer(1, v.type.rank - 1) if v.type.rank > 1 else 0
    if axis == 0:
        return v
    size = static_dims(v)[axis - 1]
    if size < 2:
        return v
    cuts = sorted({b.integer(1, size - 1) for _ in range(b.integer(1, 2))})
    sizes = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, size], strict=True)]
    outs = b.nodes("split", [v], {"axis": axis, "sizes": sizes})
    pool.extend(outs[1:])
    return outs[0]


def gen_slice(b: Builder, v: Value, pool: list[Value]) -> Value:
    if v.type.rank < 2:
        return v
    axes = sorted({b.integer(1, v.type.rank - 1) for _ in range(b.integer(1, 2))})
    starts, ends, steps = [], [], []
    for axis in axes:
        size = static_dims(v)[axis - 1]
        step = b.pick([1, 1, 2, 3, -1, -2])
        lo = b.integer(0, size - 1)
        if step > 0:
            start, end = lo, b.pick([b.integer(lo + 1, size), 2**62, size + 3])
        else:
            start, end = b.integer(lo, size - 1), b.pick([lo - 1, -size - 1]) if lo else -size - 1
        if b.flip(3) and start < size:  # the same start written from the end
            start -= size
        starts.append(start)
        ends.append(end)
        steps.append(step)
    return b.node("slice", [v], {"starts": starts, "ends": ends, "axes": axes, "steps": steps})


def gen_expand(b: Builder, v: Value, pool: list[Value]) -> Value:
    ones = [i + 1 for i, d in enumerate(static_dims(v)) if d == 1]
    if not ones:
        axis = b.integer(1, v.type.rank)
        v = b.node("unsqueeze", [v], {"axes": [axis]})
        ones = [axis]
    shape: list[int | str] = [1] * v.type.rank
    for axis in ones:
        shape[axis] = b.integer(1, 3)
    if b.flip():
        shape[0] = "N"
    return b.node("expand", [v], {"shape": shape})


def gen_pad(b: Builder, v: Value, pool: list[Value]) -> Value:
    mode = b.pick(["constant", "reflect", "edge"])
    dims = static_dims(v)
    before, after = [0], [0]
    for d in dims:
        cap = 2 if mode != "reflect" else min(2, d - 1)
        before.append(b.integer(0, cap) if b.flip() else 0)
        after.append(b.integer(0, cap) if b.flip() else 0)
    attrs: dict[str, object] = {"pads": [*before, *after], "mode": mode}
    if mode == "constant":
        attrs["value"] = b.pick([0.0, 1.0, -0.5])
    return b.node("pad", [v], attrs)


def gen_gather(b: Builder, v: Value, pool: list[Value]) -> Value:
    """Gather along a static axis by constant indices (negative ones too, any shape), or
    rows of a constant table by ``argmax`` of an exact value."""
    if v.type.rank < 2:
        return v
    if b.is_exact(v) and b.flip(3):
        return _embed_argmax(b, v)
    axis = b.integer(1, v.type.rank - 1)
    size = static_dims(v)[axis - 1]
    shape = b.pick([[], [b.integer(1, 3)], [b.integer(1, 2), 2]])
    idx = np.array([b.integer(-size, size - 1) for _ in range(int(np.prod(shape)))], np.int64)
    return b.node("gather", [v, b.constant(idx.reshape(shape), "idx")], {"axis": axis})


def _embed_argmax(b: Builder, v: Value) -> Value:
    axis = _axis(b, v)
    size = static_dims(v)[axis % v.type.rank - 1]
    idx = b.node("argmax", [v], {"axis": axis, "keepdims": b.flip()})
    table = b.const([size, b.integer(1, 3)])
    return b.node("gather", [table, idx], {"axis": 0})


def gen_reduce(b: Builder, v: Value, pool: list[Value]) -> Value:
    rank = v.type.rank
    if rank < 2:
        return v
    axes = sorted({b.integer(1, rank - 1) for _ in range(b.integer(1, rank - 1))})
    if b.flip(3):
        axes = [a - rank for a in axes]
    return b.node(b.pick(REDUCE), [v], {"axes": axes, "keepdims": b.flip()})


def gen_argmax(b: Builder, v: Value, pool: list[Value]) -> Value:
    """argmax of an exact value (a near-tie of computed values could flip), as f32."""
    if not b.is_exact(v) or v.type.rank < 2:
        return v
    idx = b.node("argmax", [v], {"axis": _axis(b, v), "keepdims": b.flip()})
    return b.node("cast", [idx], {"to": "f32"})
