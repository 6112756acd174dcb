"""Hypothesis strategies for random *valid* nanograph graphs.

Contract: every graph drawn here verifies, has one f32 input ``%x`` whose
leading dimension is the symbolic batch ``N`` (kept at axis 0 by every op, so
feeds may bind any N), small static trailing dimensions, and bounded values:
inputs are drawn in [-2, 2], constants in [-1, 1] (divisors in +-[0.5, 2]),
``exp`` only ever sees ``tanh`` of its argument, so no graph can overflow f32.

``random_graphs`` mixes elementwise unary/binary ops (with broadcasting
constants), matmul, reductions, softmax, layer_norm, transpose, reshape,
concat and slice, plus conv2d / pools / batch_norm when the input is an image.
``fusion_patterns`` builds the shapes the fusions target (matmul+add+relu,
softmax(q@k^T*s)@v with heads, conv+bn+relu) with random perturbations that
may or may not block the fusion; the oracle does not care which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from nanograph.ir.graph import Graph, Value
from nanograph.ir.types import TensorType

UNARY = ("relu", "tanh", "sigmoid", "neg", "abs", "erf", "gelu", "silu", "exp", "sqrt", "log")
BINARY = ("add", "sub", "mul", "maximum", "minimum", "div")
REDUCE = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")


class _Builder:
    """Appends nodes to ``graph`` and names constants deterministically."""

    def __init__(self, graph: Graph, draw: Any) -> None:
        self.graph, self.draw = graph, draw

    def const(self, shape: tuple[int, ...], lo: float = -1.0, hi: float = 1.0) -> Value:
        seed = self.draw(st.integers(0, 2**16))
        data = np.random.default_rng(seed).uniform(lo, hi, size=shape).astype(np.float32)
        return self.graph.add_constant(self.graph.unique_name("c"), data)

    def node(self, op: str, inputs: list[Value], attrs: dict[str, Any] | None = None) -> Value:
        return self.graph.add(op, inputs, attrs).output


def _static(v: Value) -> list[int]:
    """Trailing (static) dims of a value whose axis 0 is N."""
    dims = v.type.shape[1:]
    assert all(isinstance(d, int) for d in dims), f"only axis 0 is symbolic: {v.type}"
    return [d for d in dims if isinstance(d, int)]


def _unary(b: _Builder, v: Value) -> Value:
    op = b.draw(st.sampled_from(UNARY))
    if op == "exp":
        v = b.node("tanh", [v])
    elif op == "sqrt":
        v = b.node("abs", [v])
    elif op == "log":  # log(|v| + 1) >= 0
        one = b.graph.add_constant(b.graph.unique_name("one"), np.ones((), np.float32))
        v = b.node("add", [b.node("abs", [v]), one])
    elif b.draw(st.integers(0, 5)) == 0:
        return _extra_unary(b, v)
    return b.node(op, [v])


def _extra_unary(b: _Builder, v: Value) -> Value:
    """clip, pow by a small integer (of tanh, so bounded), where(x > c, x, -x), flatten."""
    op = b.draw(st.sampled_from(["clip", "pow", "where", "flatten", "unsqueeze"]))
    if op == "clip":
        lo = b.draw(st.sampled_from([-1.0, -0.5, 0.0]))
        return b.node(
            "clip", [v], {"min": lo, "max": lo + b.draw(st.sampled_from([0.5, 1.0, 2.0]))}
        )
    if op == "pow":
        e = b.graph.add_constant(
            b.graph.unique_name("e"), np.array(b.draw(st.sampled_from([2.0, 3.0])), np.float32)
        )
        return b.node("pow", [b.node("tanh", [v]), e])
    if op == "where":
        cmp = b.draw(st.sampled_from(["greater", "less", "greater_equal", "less_equal"]))
        cond = b.node(cmp, [v, b.const(tuple(_static(v)[-1:]))])
        return b.node("where", [cond, v, b.node("neg", [v])])
    if op == "flatten":
        return b.node("flatten", [v], {"axis": 1})
    axis = b.draw(st.integers(1, v.type.rank))
    u = b.node("unsqueeze", [v], {"axes": [axis]})
    return b.node("squeeze", [u], {"axes": [axis]}) if b.draw(st.booleans()) else u


def _binary(b: _Builder, v: Value, pool: list[Value]) -> Value:
    op = b.draw(st.sampled_from(BINARY))
    dims = _static(v)
    if op == "div":
        mag = b.const(tuple(dims), 0.5, 2.0)
        sign = b.const(tuple(dims))
        other = b.node("mul", [mag, b.node("div", [sign, b.node("abs", [sign])])])
        return b.node(op, [v, other])
    same = [p for p in pool if p.type.shape == v.type.shape and p is not v]
    if same and b.draw(st.booleans()):
        other = b.draw(st.sampled_from(same))
        if op == "mul":  # |tanh| <= 1: products of pool values cannot grow without bound
            other = b.node("tanh", [other])
    else:
        # broadcast: drop a leading prefix of dims and set some of the rest to 1
        k = b.draw(st.integers(0, len(dims)))
        kept = [d if b.draw(st.booleans()) else 1 for d in dims[k:]]
        other = b.const(tuple(kept))
    args = [v, other] if b.draw(st.booleans()) else [other, v]
    return b.node(op, args)


def _matmul(b: _Builder, v: Value) -> Value:
    dims = _static(v)
    if not dims:
        return v
    p = b.draw(st.integers(1, 6))
    w = b.const((dims[-1], p))
    if b.draw(st.booleans()):  # the traced Linear form: x @ transpose(W) + b
        wt = b.node("transpose", [b.const((p, dims[-1]))], {"perm": [1, 0]})
        return b.node("add", [b.node("matmul", [v, wt]), b.const((p,))])
    return b.node("matmul", [v, w])


def _reduce(b: _Builder, v: Value) -> Value:
    rank = v.type.rank
    if rank < 2:
        return v
    axes = b.draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    return b.node(
        b.draw(st.sampled_from(REDUCE)),
        [v],
        {"axes": sorted(axes), "keepdims": b.draw(st.booleans())},
    )


def _softmax(b: _Builder, v: Value) -> Value:
    axis = b.draw(st.integers(-v.type.rank, v.type.rank - 1))
    return b.node("softmax", [v], {"axis": axis})


def _layer_norm(b: _Builder, v: Value) -> Value:
    dims = _static(v)
    if not dims:
        return v
    eps = b.draw(st.sampled_from([1e-5, 1e-3]))
    ins = [v, b.const((dims[-1],), 0.5, 1.5), b.const((dims[-1],))][: b.draw(st.integers(1, 3))]
    return b.node("layer_norm", ins, {"epsilon": eps})


def _transpose(b: _Builder, v: Value) -> Value:
    rest = b.draw(st.permutations(list(range(1, v.type.rank))))
    return b.node("transpose", [v], {"perm": [0, *rest]})


def _reshape(b: _Builder, v: Value) -> Value:
    dims = _static(v)
    if len(dims) >= 2 and b.draw(st.booleans()):
        i = b.draw(st.integers(0, len(dims) - 2))
        new = [*dims[:i], dims[i] * dims[i + 1], *dims[i + 2 :]]
    elif dims and dims[-1] % 2 == 0:
        new = [*dims[:-1], 2, dims[-1] // 2]
    else:
        new = [*dims, 1]
    return b.node("reshape", [v], {"shape": ["N", *new]})


def _concat(b: _Builder, v: Value, pool: list[Value]) -> Value:
    if v.type.rank < 2:
        return v
    axis = b.draw(st.integers(1, v.type.rank - 1))
    dims = _static(v)
    fits = [
        p
        for p in pool
        if p.type.rank == v.type.rank
        and all(
            a == c for k, (a, c) in enumerate(zip(_static(p), dims, strict=True)) if k != axis - 1
        )
    ]
    other = b.draw(st.sampled_from(fits)) if fits else b.node("neg", [v])
    return b.node("concat", [v, other], {"axis": axis})


def _slice(b: _Builder, v: Value) -> Value:
    if v.type.rank < 2:
        return v
    axis = b.draw(st.integers(1, v.type.rank - 1))
    size = _static(v)[axis - 1]
    start = b.draw(st.integers(0, size - 1))
    end = b.draw(st.integers(start + 1, size))
    step = b.draw(st.integers(1, 2))
    return b.node("slice", [v], {"starts": [start], "ends": [end], "axes": [axis], "steps": [step]})


def _image_op(b: _Builder, v: Value) -> Value:
    """conv2d / pools / batch_norm on an NCHW value (rank 4)."""
    c, h, w = _static(v)
    op = b.draw(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "gpool"]))
    if op == "batch_norm":
        ins = [v, b.const((c,), 0.5, 1.5), b.const((c,)), b.const((c,)), b.const((c,), 0.5, 2.0)]
        return b.node("batch_norm", ins)
    if op == "gpool":
        return b.node(b.draw(st.sampled_from(["global_avg_pool2d", "global_max_pool2d"])), [v])
    k = b.draw(st.integers(1, min(3, h, w)))
    pad = b.draw(st.integers(0, k - 1)) if op != "conv2d" else b.draw(st.integers(0, 1))
    stride = b.draw(st.integers(1, 2))
    attrs: dict[str, Any] = {"pads": [pad] * 4, "strides": [stride, stride]}
    if op == "conv2d":
        groups = b.draw(st.sampled_from([g for g in (1, c) if c % g == 0]))
        out = c * b.draw(st.integers(1, 2)) if groups == c else b.draw(st.integers(1, 4))
        ins = [v, b.const((out, c // groups, k, k))]
        if b.draw(st.booleans()):
            ins.append(b.const((out,)))
        return b.node("conv2d", ins, {**attrs, "groups": groups})
    attrs["kernel"] = [k, k]
    if op == "avg_pool2d":
        attrs["count_include_pad"] = b.draw(st.booleans())
    return b.node(op, [v], attrs)


@st.composite
def random_graphs(draw: Any) -> Graph:
    """A random valid graph: a chain of ops over a growing pool of values."""
    g = Graph("fuzz")
    image = draw(st.booleans())
    if image:
        shape: list[int] = [
            draw(st.integers(1, 3)),
            draw(st.integers(3, 6)),
            draw(st.integers(3, 6)),
        ]
    else:
        shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    x = g.add_input("x", TensorType.of("f32", ["N", *shape]))
    b = _Builder(g, draw)
    pool = [x]
    for _ in range(draw(st.integers(1, 10))):
        v = draw(st.sampled_from(pool))
        kinds = ["unary", "binary", "matmul", "reduce", "softmax", "layer_norm"]
        kinds += ["transpose", "reshape", "concat", "slice"]
        if v.type.rank == 4:
            kinds += ["image"] * 4
        kind = draw(st.sampled_from(kinds))
        out = {
            "unary": lambda v: _unary(b, v),
            "binary": lambda v: _binary(b, v, pool),
            "matmul": lambda v: _matmul(b, v),
            "reduce": lambda v: _reduce(b, v),
            "softmax": lambda v: _softmax(b, v),
            "layer_norm": lambda v: _layer_norm(b, v),
            "transpose": lambda v: _transpose(b, v),
            "reshape": lambda v: _reshape(b, v),
            "concat": lambda v: _concat(b, v, pool),
            "slice": lambda v: _slice(b, v),
            "image": lambda v: _image_op(b, v),
        }[kind](v)
        if out is not v:
            pool.append(out)
    _set_outputs(g, draw, pool)
    return g


def _set_outputs(g: Graph, draw: Any, pool: list[Value]) -> None:
    computed = [v for v in pool if v is not pool[0]]
    if not computed:
        computed = [g.add("relu", [pool[0]]).output]
    extra = draw(st.lists(st.sampled_from(computed), max_size=1))
    g.outputs = list(dict.fromkeys([computed[-1], *extra]))


@st.composite
def fusion_patterns(draw: Any) -> Graph:
    """A fusion target (linear / attention / conv+bn+relu), randomly perturbed."""
    g = Graph("pattern")
    b = _Builder(g, draw)
    kind = draw(st.sampled_from(["linear", "attention", "conv_bn_relu"]))
    if kind == "linear":
        k, p = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        x = g.add_input("x", TensorType.of("f32", ["N", draw(st.integers(1, 4)), k]))
        wt = b.node("transpose", [b.const((p, k))], {"perm": [1, 0]})
        y = b.node("matmul", [x, wt])
        bias = b.const(draw(st.sampled_from([(p,), (1, p), (1,)])))
        y = b.node("add", draw(st.sampled_from([[y, bias], [bias, y]])))
        act = draw(st.sampled_from(["relu", "gelu", "sigmoid", "tanh", "none"]))
        out = y if act == "none" else b.node(act, [y])
        outs = [out, y] if draw(st.booleans()) else [out]  # a second use blocks the fusion
    elif kind == "attention":
        heads, dh, s = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
        d = heads * dh
        x = g.add_input("x", TensorType.of("f32", ["N", s, d]))

        def proj() -> Value:
            y = b.node("matmul", [x, b.const((d, d))])
            y = b.node("reshape", [y], {"shape": ["N", s, heads, dh]})
            return b.node("transpose", [y], {"perm": [0, 2, 1, 3]})

        q, k, v = proj(), proj(), proj()
        kt = b.node("transpose", [k], {"perm": [0, 1, 3, 2]})
        scores = b.node("matmul", [q, kt])
        scale = draw(st.sampled_from([1.0 / np.sqrt(dh), 0.5, 1.0]))
        sc = g.add_constant(g.unique_name("scale"), np.array(scale, dtype=np.float32))
        scores = b.node(draw(st.sampled_from(["mul", "div"])), [scores, sc])
        if draw(st.booleans()):  # additive mask
            scores = b.node("add", [scores, b.const((s, s), -2.0, 0.0)])
        probs = b.node("softmax", [scores], {"axis": draw(st.sampled_from([-1, -1, 2]))})
        ctx = b.node("matmul", [probs, v])
        ctx = b.node("transpose", [ctx], {"perm": [0, 2, 1, 3]})
        out = b.node("reshape", [ctx], {"shape": ["N", s, d]})
        outs = [out, probs] if draw(st.booleans()) else [out]
    else:
        c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        h = draw(st.integers(3, 6))
        x = g.add_input("x", TensorType.of("f32", ["N", c, h, h]))
        ins = [x, b.const((o, c, 3, 3))]
        if draw(st.booleans()):
            ins.append(b.const((o,)))
        pad = draw(st.integers(0, 1))
        y = b.node("conv2d", ins, {"pads": [pad] * 4})
        if draw(st.booleans()):
            bn = [b.const((o,), 0.5, 1.5), b.const((o,)), b.const((o,)), b.const((o,), 0.5, 2.0)]
            y = b.node("batch_norm", [y, *bn])
        act = draw(st.sampled_from(["relu", "sigmoid", "none"]))
        out = y if act == "none" else b.node(act, [y])
        outs = [out, y] if draw(st.booleans()) else [out]
    g.outputs = list(dict.fromkeys(outs))
    return g
