"""Hypothesis strategy ``fusion_patterns``: the graphs each fusion targets, perturbed.

One builder per fusion rule family: GELU (erf and tanh forms, every arrangement
the rule documents), layer norm (mean/variance decompositions, rsqrt forms,
affine parts), conv + batch norm, conv + bias + activation, matmul + add +
activation, q/k/v projections sharing an input, and attention (scale on the
scores, on q, on both q and k^T; additive, ``where``-bool or no mask; heads
split and merged; SAGAN's transposed product).

Each draws a perturbation and knows what it must do to the rule: ``fires`` is
True (the unperturbed pattern, or a harmless change: operand order, a
broadcast bias spelled another way), False (a change that must block it: a
wrong constant, an intermediate used twice, another axis), or None (unknown:
the oracle still checks the numbers). ``test_differential`` asserts ``fires``
against the O2 pipeline's rewrite counts, so a silently dead rule fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from nanograph.ir.graph import Graph, Value
from nanograph.ir.types import TensorType
from tests.fuzz.fuzz_builder import Builder, dim, static_dims

ACTS = ("relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "relu6", "clip_relu")


@dataclass(frozen=True)
class FusionCase:
    """A drawn pattern: the graph, the rule it targets, whether it must fire (None:
    either), and the perturbation drawn (for the failure message)."""

    graph: Graph
    rule: str
    fires: bool | None
    perturbation: str


def _act(b: Builder, y: Value, act: str) -> Value:
    if act == "gelu_tanh":
        return b.node("gelu", [y], {"approximate": "tanh"})
    if act == "relu6":
        return b.node("clip", [y], {"min": 0.0, "max": 6.0})
    if act == "clip_relu":
        return b.node("clip", [y], {"min": 0.0})
    if act == "silu":  # as ONNX writes it
        return b.node("mul", [y, b.node("sigmoid", [y])])
    return b.node(act, [y])


def _mul(b: Builder, x: Value, y: Value) -> Value:
    return b.node("mul", [x, y] if b.flip() else [y, x])


def _add(b: Builder, x: Value, y: Value) -> Value:
    return b.node("add", [x, y] if b.flip() else [y, x])


# gelu -----------------------------------------------------------------------------------
def gelu(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    tanh_form = b.flip()
    if tanh_form:
        cube = b.pick(["pow", "x*(x*x)", "(x*x)*x"])
        if cube == "pow":
            x3 = b.node("pow", [x, b.scalar(3.0)])
        elif cube == "x*(x*x)":
            x3 = _mul(b, x, _mul(b, x, x))
        else:
            x3 = _mul(b, _mul(b, x, x), x)
        c = 0.05 if perturb == "constant" else 0.044715
        inner = _mul(b, b.scalar(math.sqrt(2 / math.pi)), _add(b, x, _mul(b, b.scalar(c), x3)))
        phi = b.node("tanh", [inner])
    else:
        s = 1.5 if perturb == "constant" else math.sqrt(2.0)
        arg = b.node("div", [x, b.scalar(s)]) if b.flip() else _mul(b, x, b.scalar(1 / s))
        phi = b.node("erf", [arg])
    one_plus = _add(b, b.scalar(1.0), phi)
    half = b.pick(["(x*p)*0.5", "(x*0.5)*p", "x*(p*0.5)", "(x*p)/2", "(x/2)*p"])
    if half == "(x*p)*0.5":
        out = _mul(b, _mul(b, x, one_plus), b.scalar(0.5))
    elif half == "(x*0.5)*p":
        out = _mul(b, _mul(b, x, b.scalar(0.5)), one_plus)
    elif half == "x*(p*0.5)":
        out = _mul(b, x, _mul(b, one_plus, b.scalar(0.5)))
    elif half == "(x*p)/2":
        out = b.node("div", [_mul(b, x, one_plus), b.scalar(2.0)])
    else:
        out = _mul(b, b.node("div", [x, b.scalar(2.0)]), one_plus)
    outs = [out, phi] if perturb == "second use" else [out]
    return outs, "tanh-form->gelu" if tanh_form else "erf-form->gelu"


# layer norm -----------------------------------------------------------------------------
def layer_norm(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    rank = x.type.rank
    k = b.integer(1, rank - 1)
    axes = list(range(rank - k, rank))
    if b.flip():
        axes = [a - rank for a in axes]
    mean = b.node("reduce_mean", [x], {"axes": axes, "keepdims": True})
    d = b.node("sub", [x, mean])
    sq = b.node("pow", [d, b.scalar(2.0)]) if b.flip() else b.node("mul", [d, d])
    var_axes = axes if perturb != "other axes" else [1]
    var = b.node("reduce_mean", [sq], {"axes": var_axes, "keepdims": True})
    shifted = _add(b, var, b.scalar(b.pick([1e-5, 1e-6, 1e-3])))
    form = b.pick(["div", "reciprocal", "1/", "pow"])
    if form == "div":
        out = b.node("div", [d, b.node("sqrt", [shifted])])
    elif form == "reciprocal":
        out = _mul(b, d, b.node("reciprocal", [b.node("sqrt", [shifted])]))
    elif form == "1/":
        out = _mul(b, d, b.node("div", [b.scalar(1.0), b.node("sqrt", [shifted])]))
    else:
        out = _mul(b, d, b.node("pow", [shifted, b.scalar(-0.5)]))
    trailing = static_dims(x)[rank - k - 1 :]
    rule = "mean-variance->layer_norm"
    if b.flip():
        out = _mul(b, out, b.const(trailing, 0.5, 1.5))
        rule = "layer_norm*scale->layer_norm"
    if b.flip():
        out = _add(b, out, b.const(trailing))
        rule = "layer_norm+bias->layer_norm"
    outs = [out, d] if perturb == "second use" else [out]
    return outs, rule if perturb == "none" else "mean-variance->layer_norm"


# convolutions ---------------------------------------------------------------------------
def _conv(b: Builder, x: Value, layout: str) -> Value:
    c = dim(x, 1 if layout == "NCHW" else 3)
    groups = b.pick([g for g in (1, 1, c) if c % g == 0])
    o = groups * b.integer(1, 2) if groups > 1 else b.integer(1, 4)
    k = b.integer(1, 3)
    shape = [o, c // groups, k, k] if layout == "NCHW" else [o, k, k, c // groups]
    ins = [x, b.weight(shape, c // groups * k * k)]
    if b.flip():
        ins.append(b.const([o]))
    attrs = {"pads": [b.integer(0, 1)] * 4, "layout": layout, "groups": groups}
    return b.node("conv2d", ins, attrs)


def conv_bn(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    layout = b.pick(["NCHW", "NHWC"])
    if layout == "NHWC":
        x = b.node("transpose", [x], {"perm": [0, 2, 3, 1]})
    y = _conv(b, x, layout)
    o = dim(y, 1 if layout == "NCHW" else 3)
    bn = [b.const([o], 0.5, 1.5), b.const([o]), b.const([o]), b.const([o], 0.5, 2.0)]
    out = b.node("batch_norm", [y, *bn], {"layout": layout, "epsilon": b.pick([1e-5, 1e-3])})
    if b.flip():
        out = b.node("relu", [out])
    outs = [out, y] if perturb == "second use" else [out]
    return outs, "conv2d+batch_norm->conv2d"


def conv_bias_act(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    y = _conv(b, x, "NCHW")
    o = dim(y, 1)
    h = dim(y, 2)
    if perturb == "spatial bias":  # varies along height: not a per-channel bias
        y = _add(b, y, b.const([1, h, 1]))
    elif b.flip():
        y = _add(b, y, b.const(b.pick([[o, 1, 1], [1, o, 1, 1], [1]])))
    act = b.pick(ACTS)
    if perturb == "other clip":
        out = b.node("clip", [y], {"min": 0.0, "max": 5.0})
    elif perturb == "residual":
        out = _act(b, _add(b, y, x if x.type == y.type else b.node("neg", [y])), act)
    else:
        out = _act(b, y, act)
    outs = [out, y] if perturb == "second use" else [out]
    return outs, "conv2d+activation->fused_conv2d" if act != "silu" else (
        "conv2d+x*sigmoid(x)->fused_conv2d"
    )


# linear and q/k/v -----------------------------------------------------------------------
def linear(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    d, p = dim(x, -1), b.integer(1, 6)
    if b.flip():
        w = b.node("transpose", [b.weight([p, d], d)], {"perm": [1, 0]})
    else:
        w = b.weight([d, p], d)
    y = b.node("matmul", [x, w])
    rows = dim(x, -2)
    if perturb == "bias per row":
        y = _add(b, y, b.const([rows, 1]))  # rows >= 2: PATTERNS draws 3 +- 1
        return [y], "matmul+add->linear"
    y = _add(b, y, b.const(b.pick([[p], [1, p], [1]])))
    outs = [_act(b, y, b.pick(ACTS))] if b.flip() else [y]
    if perturb == "second use":
        outs.append(y)
    return outs, "matmul+add->linear"


def qkv(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    d = dim(x, -1)
    bias, act = b.flip(), b.pick(["none", "relu", "gelu"])
    outs = []
    for i in range(b.integer(2, 4)):
        y = b.node("matmul", [x, b.weight([d, b.integer(1, 5)], d)])
        if bias or (perturb == "bias in some" and i == 0):
            y = _add(b, y, b.const([dim(y, -1)]))
        if act != "none" and not (perturb == "other activation" and i == 0):
            y = _act(b, y, act)
        outs.append(y)
    return outs, "qkv-projections->linear+split"


# attention ------------------------------------------------------------------------------
def attention(b: Builder, x: Value, perturb: str) -> tuple[list[Value], str]:
    s, d = static_dims(x)
    heads = b.pick([h for h in (1, 2, 3) if d % h == 0])
    dh = d // heads

    def proj() -> Value:
        y = b.node("matmul", [x, b.weight([d, d], d)])
        y = b.node("reshape", [y], {"shape": ["N", s, heads, dh]})
        return b.node("transpose", [y], {"perm": [0, 2, 1, 3]})

    q, k, v = proj(), proj(), proj()
    kt = b.node("transpose", [k], {"perm": [0, 1, 3, 2]})
    scale = float(b.pick([1 / math.sqrt(dh), 0.5, 1.0]))
    where = b.pick(["scores", "scores", "q", "q and k"])
    if where == "q":
        q = _mul(b, q, b.scalar(scale))
    elif where == "q and k":
        q, kt = _mul(b, q, b.scalar(math.sqrt(scale))), _mul(b, kt, b.scalar(math.sqrt(scale)))
    scores = b.node("matmul", [q, kt])
    if where == "scores" and b.flip():
        scores = b.node("div", [scores, b.scalar(1 / scale)])
    elif where == "scores":
        scores = _mul(b, scores, b.scalar(scale))
    if perturb == "computed scale":  # one scale per batch row, computed from x
        per_row = b.node("reduce_mean", [x], {"axes": [1, 2], "keepdims": True})
        per_row = b.node("reshape", [b.node("sigmoid", [per_row])], {"shape": ["N", 1, 1, 1]})
        scores = b.node("mul", [scores, per_row])
    mask = b.pick(["none", "additive", "where visible", "where hidden"])
    if perturb == "finite fill":
        mask = b.pick(["where visible", "where hidden"])
    visible = b.array([s, s]) > -0.5
    visible[np.arange(s), np.arange(s)] = True
    fill = -1e9 if perturb == "finite fill" else -np.inf
    if mask == "additive":
        scores = _add(b, scores, b.const([s, s], -2.0, 0.0))
    elif mask == "where visible":
        scores = b.node("where", [b.constant(visible, "m"), scores, b.scalar(fill)])
    elif mask == "where hidden":
        scores = b.node("where", [b.constant(~visible, "m"), b.scalar(fill), scores])
    axis = 2 if perturb == "softmax axis" else b.pick([-1, 3])
    probs = b.node("softmax", [scores], {"axis": axis})
    if b.flip(4):  # SAGAN: v^T @ probs^T
        vt = b.node("transpose", [v], {"perm": [0, 1, 3, 2]})
        pt = b.node("transpose", [probs], {"perm": [0, 1, 3, 2]})
        ctx = b.node("transpose", [b.node("matmul", [vt, pt])], {"perm": [0, 1, 3, 2]})
        rule = "attention-transposed"
    else:
        ctx = b.node("matmul", [probs, v])
        rule = "attention"
    ctx = b.node("transpose", [ctx], {"perm": [0, 2, 1, 3]})
    out = b.node("reshape", [ctx], {"shape": ["N", s, d]})
    outs = [out, probs] if perturb == "second use" else [out]
    return outs, rule


# the strategy ---------------------------------------------------------------------------
PATTERNS: dict[str, tuple[Any, list[int], dict[str, bool | None]]] = {
    # name: (builder, input shape after N, {perturbation: must the rule fire?})
    "gelu": (gelu, [2, 5], {"none": True, "constant": False, "second use": False}),
    "layer_norm": (
        layer_norm,
        [3, 4],
        {"none": True, "other axes": False, "second use": False},
    ),
    "conv_bn": (conv_bn, [3, 5, 5], {"none": True, "second use": False}),
    "conv_bias_act": (
        conv_bias_act,
        [2, 4, 4],
        {
            "none": True,
            "second use": False,
            "other clip": False,
            "residual": None,
            "spatial bias": None,
        },
    ),
    "linear": (linear, [3, 4], {"none": True, "second use": True, "bias per row": False}),
    "qkv": (qkv, [3, 6], {"none": True, "other activation": None, "bias in some": None}),
    "attention": (
        attention,
        [4, 6],
        {
            "none": True,
            "second use": False,
            "softmax axis": False,
            "finite fill": False,
            "computed scale": False,
        },
    ),
}


CASES = [(name, p) for name in sorted(PATTERNS) for p in sorted(PATTERNS[name][2])]
"""Every (pattern, perturbation) pair, for tests that want each one drawn."""


@st.composite
def fusion_patterns(
    draw: Any, name: str | None = None, perturbation: str | None = None
) -> FusionCase:
    """A fusion target, randomly perturbed, with what its rule must do; ``name`` and
    ``perturbation`` fix the pattern and the perturbation (else drawn)."""
    name = name or draw(st.sampled_from(sorted(PATTERNS)))
    build, shape, perturbations = PATTERNS[name]
    perturb = perturbation or draw(st.sampled_from(sorted(perturbations)))
    g = Graph(name)
    b = Builder(g, draw)
    dims = [d + draw(st.integers(-1, 1)) if i == 0 else d for i, d in enumerate(shape)]
    x = g.add_input("x", TensorType.of("f32", ["N", *dims]))
    outs, rule = build(b, x, perturb)
    g.outputs = list(dict.fromkeys(outs))
    return FusionCase(g, rule, perturbations[perturb], f"{name}: {perturb}")
