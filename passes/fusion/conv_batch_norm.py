"""Fold an inference batch norm into the convolution before it: ``fold-conv-bn``.

    batch_norm(conv2d(x, W, b), gamma, beta, mean, var)
        = conv2d(x, W * s, (b - mean) * s + beta)     with s = gamma / sqrt(var + epsilon)

per output channel ``o``. Inference batch norm is the affine map
``y -> s[o] * y + (beta[o] - s[o] * mean[o])`` on channel ``o``, and channel
``o`` of a convolution is linear in its own weight slice ``W[o]`` plus
``b[o]`` (OIHW and OHWI both put ``o`` first), so scaling the slice and
shifting the bias computes the same thing. Grouped and depthwise
convolutions fold the same way: every output channel still owns its weight
slice; ``groups`` only chooses which input channels that slice reads.

Contracts:
- The rule fires only when ``W``, ``b`` (if the conv has one) and the four
  batch-norm parameters are constants, the conv's output feeds only the batch
  norm, the batch norm normalizes the conv's output channels and both use the
  same layout. A ``fused_conv2d`` with activation ``"none"`` folds like a
  ``conv2d``; one with an activation does not (the norm would have to pass
  through it). Each refusal past the conv is a near miss saying which.
- The folded weight and bias are computed in float64 and cast to ``W``'s
  dtype. They are new constants ``@{W}.folded`` and ``@{b}.folded`` (the
  batch norm's beta names the bias when the conv had none); the originals
  are never changed, since another node may share them. Constants the pass
  leaves unused are removed (counted as ``dead constants``).
- Numerics: the unfused graph rounds the conv output to float32 before the
  norm; the folded one rounds each ``W * s`` to float32 instead. Outputs
  agree to a few float32 ulps of their magnitude.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Graph, Value
from nanograph.ir.ops.inference import layout_axes
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, ValuePattern, op, such_that, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Rule, apply_rules


def folded_constant(graph: Graph, like: Value, data: np.ndarray, dtype: np.dtype) -> Value:
    """A new constant ``@{like}.folded`` (made unique) holding ``data`` cast to ``dtype``."""
    return graph.add_constant(graph.unique_name(f"{like.name}.folded"), data.astype(dtype))


def _constant(name: str) -> ValuePattern:
    return var(
        name,
        such_that(
            lambda v: v.is_const,
            "is not a constant (folding needs the conv weight and the batch norm's "
            "parameters at compile time)",
        ),
    )


_NOT_ACTIVATED = such_that(
    lambda act: act in (None, "none"),
    "'none' (a batch norm cannot fold back through an activation)",
)

# conv2d, or fused_conv2d with activation "none" (a conv2d has no activation attr).
_conv = op.conv2d(
    var("x"), _constant("w"), ..., ops=("fused_conv2d",), activation=_NOT_ACTIVATED, capture="conv"
)
_batch_norm_of_conv = op.batch_norm(
    _conv, _constant("gamma"), _constant("beta"), _constant("mean"), _constant("var")
)


def _conv_bias_is_constant(m: Match) -> str | None:
    conv = m.node("conv")
    if len(conv.inputs) < 3 or conv.inputs[2].is_const:
        return None
    return (
        f"the bias %{conv.inputs[2].name} of {conv.op} %{m['conv'].name} is not a constant, "
        "so the folded bias cannot be computed at compile time"
    )


def _normalizes_conv_channels(m: Match) -> str | None:
    conv, bn = m.node("conv"), m.root
    out_channels = m["w"].type.shape[0]  # OIHW and OHWI alike
    bn_layout = bn.attrs["layout"]
    bn_channels = m["gamma"].type.shape[0]
    if bn_channels == out_channels:
        return None
    return (
        f"batch_norm %{bn.outputs[0].name} normalizes {bn_channels} channels (axis "
        f"{layout_axes(bn_layout)[0]}, {bn_layout}) but {conv.op} %{m['conv'].name} has "
        f"{out_channels} output channels ({conv.attrs['layout']})"
    )


def _same_layout(m: Match) -> str | None:
    conv, bn = m.node("conv"), m.root
    if conv.attrs["layout"] == bn.attrs["layout"]:
        return None
    return (
        f"{conv.op} %{m['conv'].name} is {conv.attrs['layout']} but batch_norm "
        f"%{bn.outputs[0].name} is {bn.attrs['layout']}: the axis it normalizes is not "
        "the conv's output channels"
    )


def _fold(m: Match, em: GraphEmitter) -> list[Value]:
    """conv(x, W * s, (b - mean) * s + beta) with s = gamma / sqrt(var + epsilon)."""
    conv, bn = m.node("conv"), m.root
    w = m.array("w")
    gamma, beta, mean, var_ = (
        m.array(k).astype(np.float64) for k in ("gamma", "beta", "mean", "var")
    )
    s = gamma / np.sqrt(var_ + bn.attrs["epsilon"])
    has_bias = len(conv.inputs) > 2
    b = _const_data(conv.inputs[2]).astype(np.float64) if has_bias else np.zeros_like(s)
    folded_w = w.astype(np.float64) * s.reshape(-1, 1, 1, 1)  # scales output channel o = axis 0
    folded_b = (b - mean) * s + beta
    new_w = folded_constant(em.graph, m["w"], folded_w, w.dtype)
    new_b = folded_constant(em.graph, conv.inputs[2] if has_bias else m["beta"], folded_b, w.dtype)
    return [em.op(conv.op, m["x"], new_w, new_b, **dict(conv.attrs))]


def _const_data(value: Value) -> np.ndarray:
    assert value.const is not None, f"%{value.name} has no data"
    return value.const


conv_batch_norm_rules: tuple[Rule, ...] = (
    Rule(
        "conv2d+batch_norm->conv2d",
        _batch_norm_of_conv,
        build=_fold,
        checks=(_conv_bias_is_constant, _normalizes_conv_channels, _same_layout),
    ),
)


def fold_conv_batch_norm(graph: Graph) -> PassResult:
    """Fold inference batch norms into the convs before them (W*s, (b-mean)*s+beta)."""
    return apply_rules(graph, conv_batch_norm_rules, free_constants=True)


FOLD_CONV_BN = Pass("fold-conv-bn", fold_conv_batch_norm)


__all__ = [
    "FOLD_CONV_BN",
    "conv_batch_norm_rules",
    "fold_conv_batch_norm",
    "folded_constant",
]
