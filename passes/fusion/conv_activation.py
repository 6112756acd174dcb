"""Fuse a convolution with its bias add and its activation: ``fuse-conv-activation``.

Three rules, composed by the rewriter's fixpoint (the bias rule fires first,
on the ``add``, which comes before the activation in the graph):

    conv2d(x, W, b) + c                  -> conv2d(x, W, b + c)       c a constant per-channel bias
    act(conv2d(x, W, b))                 -> fused_conv2d(x, W, b) {activation=act}
    y * sigmoid(y), y = conv2d(x, W, b)  -> fused_conv2d(x, W, b) {activation=silu}

``c`` is per-channel when, broadcast against the conv output, it varies at
most along the channel axis: ``[C,1,1]`` or ``[1,C,1,1]`` in NCHW (how some
exporters write a conv's bias), ``[C]`` in NHWC, or one value for all.
``act`` is relu, sigmoid, tanh, silu, gelu (erf or tanh form), ``clip(0, 6)``
(relu6) or ``clip(0, inf)`` (relu). A ``fused_conv2d`` with activation
``"none"`` takes part like a ``conv2d``.

Contracts:
- Every intermediate (the conv's output, the add's, the sigmoid's) must feed
  only the fused chain and not be a graph output; otherwise it would be
  computed twice. Refusals past the first matched op are near misses.
- A conv followed by a residual add (two computed tensors) and then an
  activation keeps the add and the activation separate: ``fused_conv2d`` has
  no residual input. That is reported at the activation, in words.
- The merged bias ``b + c`` is computed in float64 and cast to the conv's
  dtype, as a new constant ``@{c}.folded``; a ``[C]`` bias of a conv without
  one is used as it is. Constants left unused are removed (``dead
  constants``). The fused graph adds ``b + c`` once instead of per element,
  so it rounds differently by about one float32 ulp of the bias.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.dims import Dim
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops.inference import layout_axes
from nanograph.passes.fusion.activations import activation_of, feeds_only_its_silu
from nanograph.passes.fusion.conv_batch_norm import folded_constant
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, OpPattern, op, such_that, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Rule, apply_rules

_NOT_ACTIVATED = such_that(
    lambda act: act in (None, "none"), "'none' (it already applies an activation)"
)


def _conv(single_use: bool = True) -> OpPattern:
    """conv2d(x, w, b?), or fused_conv2d with activation "none" (conv2d has no such attr)."""
    return op.conv2d(
        var("x"),
        var("w"),
        ...,
        ops=("fused_conv2d",),
        activation=_NOT_ACTIVATED,
        capture="conv",
        single_use=single_use,
    )


_constant_bias = var("bias", such_that(lambda v: v.is_const, "is not a constant"))


def _channels(conv: Node) -> tuple[int, Dim]:
    """(channel axis, channel count) of ``conv``'s output."""
    axis = layout_axes(conv.attrs["layout"])[0]
    return axis, conv.outputs[0].type.shape[axis]


def per_channel_problem(conv: Node, bias: Value) -> str | None:
    """None if ``bias`` broadcast against ``conv``'s output varies at most along the
    channel axis; else why not, in words."""
    axis, channels = _channels(conv)
    if not isinstance(channels, int):
        return f"{conv.op} %{conv.outputs[0].name} has a symbolic channel count {channels}"
    shape = bias.type.shape
    padded = (1,) * (4 - len(shape)) + tuple(shape)
    expected = "[C,1,1] or [1,C,1,1]" if axis == 1 else "[C] or [1,1,1,C]"
    fits = len(shape) <= 4 and all(
        d == 1 or (i == axis and d == channels) for i, d in enumerate(padded)
    )
    if fits:
        return None
    return (
        f"%{bias.name}: {bias.type} is not a per-channel bias of {conv.op} "
        f"%{conv.outputs[0].name}: {conv.outputs[0].type} ({conv.attrs['layout']} wants "
        f"{expected} with C = {channels})"
    )


# conv2d + bias -> conv2d ------------------------------------------------------------------
def _bias_fits(m: Match) -> str | None:
    conv = m.node("conv")
    if len(conv.inputs) > 2 and not conv.inputs[2].is_const:
        return f"{conv.op} %{m['conv'].name}'s own bias %{conv.inputs[2].name} is not a constant"
    return per_channel_problem(conv, m["bias"])


def _fold_bias(m: Match, em: GraphEmitter) -> list[Value]:
    """conv(x, W, b) + c = conv(x, W, b + c), c flattened to one value per channel."""
    conv, c = m.node("conv"), m["bias"]
    _, channels = _channels(conv)
    assert isinstance(channels, int), "per_channel_problem refuses symbolic channel counts"
    data = _data(c)
    per_channel = np.broadcast_to(data.reshape(-1).astype(np.float64), (channels,))
    if len(conv.inputs) > 2:
        new_bias = folded_constant(em.graph, c, _data(conv.inputs[2]) + per_channel, data.dtype)
    elif c.type.shape == (channels,):
        new_bias = c
    else:
        new_bias = folded_constant(em.graph, c, per_channel, data.dtype)
    return [em.op(conv.op, m["x"], m["w"], new_bias, **dict(conv.attrs))]


def _data(value: Value) -> np.ndarray:
    assert value.const is not None, f"%{value.name} has no data"
    return value.const


# act(conv2d) -> fused_conv2d ----------------------------------------------------------------
def _activation_fits(m: Match) -> str | None:
    act = m.root
    if activation_of(act) is not None:
        return None
    return (
        f"clip %{act.outputs[0].name} keeps [{act.attrs['min']:g}, {act.attrs['max']:g}]; "
        "fused_conv2d's activations include relu6 = clip(0, 6) and relu = clip(0, inf), not this"
    )


def _fuse_activation(m: Match, em: GraphEmitter) -> list[Value]:
    activation = activation_of(m.root)
    return _fused(m, em, activation or "none")


def _fused(m: Match, em: GraphEmitter, activation: str) -> list[Value]:
    conv = m.node("conv")
    attrs = {**dict(conv.attrs), "activation": activation}
    return [em.op("fused_conv2d", *conv.inputs, **attrs)]


# act(conv2d + residual): never fuses, explains why -------------------------------------------
def _add_stays(m: Match) -> str:
    """Why the add between the conv and the activation was not folded into the conv."""
    act, add, other, conv = m.root, m.node("add"), m["other"], m.node("conv")
    not_per_channel = per_channel_problem(conv, other)
    if not other.is_const and not_per_channel is not None:
        why = (
            f"it adds two computed tensors (a residual: {conv.op} %{m['conv'].name} and "
            f"%{other.name}), and fused_conv2d has no residual input"
        )
    elif not other.is_const:
        why = f"%{other.name} is a per-channel bias but not a constant"
    else:
        why = not_per_channel or "the conv2d+bias rule did not fold it"
    return (
        f"{act.op}'s input %{add.outputs[0].name} is an add the conv cannot absorb: {why}; "
        f"the {act.op} stays separate"
    )


_ACTIVATIONS = ("relu", "clip", "sigmoid", "silu", "tanh", "gelu")

conv_activation_rules: tuple[Rule, ...] = (
    # The bias is written first: a residual (a computed tensor) fails there, at depth 1,
    # and is not reported as a near miss of a bias fusion.
    Rule("conv2d+bias->conv2d", op.add(_constant_bias, _conv()), _fold_bias, (_bias_fits,)),
    Rule(
        "conv2d+activation->fused_conv2d",
        op.relu(_conv(), ops=_ACTIVATIONS[1:]),  # relu or any other activation
        _fuse_activation,
        (_activation_fits,),
    ),
    Rule(
        "conv2d+x*sigmoid(x)->fused_conv2d",
        op.mul(_conv(single_use=False), op.sigmoid(var("conv"))),
        lambda m, em: _fused(m, em, "silu"),
        (feeds_only_its_silu("conv"),),
    ),
    # The activation rule seen through an add that did not fold: it only explains.
    Rule(
        "conv2d+activation->fused_conv2d",
        op.relu(op.add(_conv(), var("other"), capture="add"), ops=_ACTIVATIONS[1:]),
        lambda m, em: [],  # never runs: the check always says why not
        (_add_stays,),
        min_near_miss=3,
    ),
)


def fuse_conv_activation(graph: Graph) -> PassResult:
    """Fuse conv2d with a per-channel bias add and an activation into fused_conv2d."""
    return apply_rules(graph, conv_activation_rules, free_constants=True)


FUSE_CONV_ACTIVATION = Pass("fuse-conv-activation", fuse_conv_activation)

__all__ = [
    "FUSE_CONV_ACTIVATION",
    "conv_activation_rules",
    "fuse_conv_activation",
    "per_channel_problem",
]
