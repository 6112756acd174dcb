"""Random neural-network subgraphs for the fuzzer: conv2d / fused_conv2d (groups,
depthwise, dilations, strides, asymmetric padding, NCHW and NHWC), max/avg pools
(ceil_mode, count_include_pad, dilations), global pools, batch_norm, layer_norm over
any trailing axes, softmax on any axis, matmul (by weights, batched weights, vectors,
or another pool value), and ``linear`` with every activation.

See ``fuzz_builder`` for the pool contract; weights are scaled by ``1/sqrt(fan_in)``.
"""

from __future__ import annotations

from typing import Any

from nanograph.ir.graph import Value
from nanograph.ir.ops.fused import ACTIVATIONS
from tests.fuzz.fuzz_builder import Builder, static_dims


def _hw_c(dims: list[int], layout: str) -> tuple[int, int, int]:
    """(height, width, channels) of a rank-4 pool value's static dims."""
    return (dims[1], dims[2], dims[0]) if layout == "NCHW" else (dims[0], dims[1], dims[2])


def _window(b: Builder, h: int, w: int, max_pad: int, dilate: bool) -> dict[str, Any]:
    """kernel, strides, pads, dilations for an h x w input, every output dim >= 1."""
    kernel, dils, pads = [], [], [0, 0, 0, 0]
    for i, size in enumerate((h, w)):
        k = b.integer(1, 3)
        pads[i], pads[i + 2] = b.integer(0, min(max_pad, k - 1)), b.integer(0, min(max_pad, k - 1))
        d = b.integer(1, 2) if dilate else 1
        while d * (k - 1) + 1 > size + pads[i] + pads[i + 2]:
            d, k = 1, k - 1 if d == 1 else k
        pads[i], pads[i + 2] = min(pads[i], k - 1), min(pads[i + 2], k - 1)
        kernel.append(k)
        dils.append(d)
    strides = [b.integer(1, 3), b.integer(1, 3)]
    return {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dils}


def gen_conv(b: Builder, v: Value, pool: list[Value]) -> Value:
    layout = b.pick(["NCHW", "NCHW", "NHWC"])
    h, w, c = _hw_c(static_dims(v), layout)
    win = _window(b, h, w, 2, dilate=True)
    kh, kw = win.pop("kernel")
    groups = b.pick([g for g in (1, 1, 2, 3, c) if c % g == 0])
    out = groups * b.integer(1, 2) if groups > 1 else b.integer(1, 4)
    cg = c // groups
    shape = [out, cg, kh, kw] if layout == "NCHW" else [out, kh, kw, cg]
    ins = [v, b.weight(shape, cg * kh * kw)]
    if b.flip():
        ins.append(b.const([out]))
    attrs = {**win, "groups": groups, "layout": layout}
    if b.flip(3):
        return b.node("fused_conv2d", ins, {**attrs, "activation": b.pick(ACTIVATIONS)})
    return b.node("conv2d", ins, attrs)


def gen_pool(b: Builder, v: Value, pool: list[Value]) -> Value:
    layout = b.pick(["NCHW", "NCHW", "NHWC"])
    op = b.pick(["max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d"])
    if op.startswith("global"):
        return b.node(op, [v], {"layout": layout})
    h, w, _ = _hw_c(static_dims(v), layout)
    attrs = _window(b, h, w, 1, dilate=op == "max_pool2d")
    attrs.update(layout=layout, ceil_mode=b.flip(3))
    if op == "avg_pool2d":
        attrs["count_include_pad"] = b.flip()
    return b.node(op, [v], attrs)


def gen_batch_norm(b: Builder, v: Value, pool: list[Value]) -> Value:
    if v.type.rank < 2:
        return v
    layout = "NHWC" if v.type.rank == 4 and b.flip(3) else "NCHW"
    c = static_dims(v)[-1 if layout == "NHWC" else 0]
    params = [b.const([c], 0.5, 1.5), b.const([c]), b.const([c]), b.const([c], 0.5, 2.0)]
    eps = b.pick([1e-5, 1e-3])
    return b.node("batch_norm", [v, *params], {"layout": layout, "epsilon": eps})


def gen_layer_norm(b: Builder, v: Value, pool: list[Value]) -> Value:
    if v.type.rank < 2:
        return v
    axis = b.integer(1, v.type.rank - 1)
    normed = static_dims(v)[axis - 1 :]
    k = b.integer(0, len(normed))
    ins = [v]
    for lo, hi in ((0.5, 1.5), (-1.0, 1.0))[: b.integer(0, 2)]:
        ins.append(b.const([d if b.flip() else 1 for d in normed[k:]], lo, hi))
    attrs = {"axis": axis - v.type.rank if b.flip() else axis, "epsilon": b.pick([1e-5, 1e-3])}
    return b.node("layer_norm", ins, attrs)


def gen_softmax(b: Builder, v: Value, pool: list[Value]) -> Value:
    return b.node("softmax", [v], {"axis": b.integer(-v.type.rank, v.type.rank - 1)})


def gen_matmul(b: Builder, v: Value, pool: list[Value]) -> Value:
    dims = static_dims(v)
    if not dims:
        return v
    d, p = dims[-1], b.integer(1, 6)
    form = b.pick(["weight", "weight", "batched", "vector", "pool", "traced", "linear"])
    if form == "batched" and len(dims) >= 2:
        lead = dims[-3] if len(dims) >= 3 and b.flip() else 1
        return b.node("matmul", [v, b.weight([lead, d, p], d)])
    if form == "vector" and len(dims) >= 2:
        return b.node("matmul", [v, b.weight([d], d)])
    if form == "pool" and len(dims) >= 2:
        same = [u for u in pool if u.type.shape == v.type.shape]
        u = b.node("tanh", [b.pick(same)])
        perm = [*range(v.type.rank - 2), v.type.rank - 1, v.type.rank - 2]
        prod = b.node("matmul", [v, b.node("transpose", [u], {"perm": perm})])
        return b.node("mul", [prod, b.scalar(1.0 / d)])
    if form == "traced":  # the frontend's Linear: x @ transpose(W) + b
        wt = b.node("transpose", [b.weight([p, d], d)], {"perm": [1, 0]})
        return b.node("add", [b.node("matmul", [v, wt]), b.const([p])])
    if form == "linear":
        ins = [v, b.weight([d, p], d), *([b.const([p])] if b.flip() else [])]
        return b.node("linear", ins, {"activation": b.pick(ACTIVATIONS)})
    return b.node("matmul", [v, b.weight([d, p], d)])
