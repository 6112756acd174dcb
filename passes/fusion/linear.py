"""Fuse a matmul by a weight matrix, its bias and its activation into ``linear``: ``fuse-linear``.

    matmul(x, W) + b        -> linear(x, W, b)                  (W [in, out], b [out])
    act(linear(x, W, b?))   -> linear(x, W, b?, activation=act)
    y * sigmoid(y)          -> linear(x, W, b?, activation="silu")  (y = linear(x, W, b?))
    act(matmul(x, W))       -> linear(x, W, activation=act)         (W a constant [in, out])

where ``act`` is relu, clip(0, 6) (``relu6``), clip(0, inf) (``relu``), gelu
(``gelu``, or ``gelu_tanh`` for its tanh form), silu, sigmoid or tanh; silu
also written out as ``y * sigmoid(y)``, the only way ONNX has to write it.
``linear``'s meaning (``ir/ops/fused.py``) is exactly ``act(x @ W + b)``, so
each rule replaces the ops by their definition.

Contracts:
- ``W`` must be rank 2 (``[in, out]``): a constant after O1 has folded the
  frontend's ``transpose(@W)``, but a computed rank-2 matrix is accepted too,
  since ``linear`` means the same for it. ``x`` must be a float tensor (``linear``
  is float-only; integer matmuls stay). Each refusal is a near miss saying which.
- The bias must broadcast as one value per output feature: ``[out]`` is used
  as is; a constant ``[1, .., 1, out]`` or one-element constant becomes a new
  constant ``@{b}.vector`` of shape ``[out]``; a computed ``[1, .., 1, out]``
  bias is reshaped by a node. A bias that would broadcast the result to a
  bigger shape, or varies along another axis (``[M, 1]``), is a near miss.
- A bare ``matmul(x, W)`` is not turned into a bias-less ``linear``: it would
  only rename the op. The exporter lowers such a ``linear`` back to the same
  ``MatMul``, the kernels have nothing to fuse into it, ``fuse-qkv`` takes
  matmuls directly, and an attention fusion that looks for ``matmul`` keeps
  finding it. With an activation after it there is something to fuse (one
  pass over the output instead of two), so that form does become ``linear``,
  when ``W`` is a constant weight.
- Constants the rewrites leave unused are removed (``dead constants``).
- Numerics: unchanged; the fused op's reference is its decomposition.
"""

from __future__ import annotations

import numpy as np

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.dims import Dim
from nanograph.ir.graph import Graph, Value
from nanograph.passes.fusion.activations import (
    ACTIVATION_OPS,
    activation_of,
    feeds_only_its_silu,
)
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, op, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Reject, Rule, apply_rules


# checks ---------------------------------------------------------------------------------
def _weight_is_matrix(m: Match) -> str | None:
    w = m["w"]
    if w.type.rank == 2:
        return None
    return (
        f"the weight %{w.name} of matmul %{m['mm'].name} is {w.type}, not a rank-2 "
        "[in, out] matrix (a batched matmul is not a linear layer)"
    )


def _input_is_float(m: Match) -> str | None:
    x = m["x"]
    if x.type.dtype.is_float:
        return None
    return f"matmul %{m['mm'].name} multiplies {x.type.dtype.value} values; linear is float-only"


def _bias_is_per_output(m: Match) -> str | None:
    b, mm, out = m["b"], m["mm"], m["w"].type.shape[-1]
    if m.root.outputs[0].type != mm.type:
        return (
            f"adding %{b.name}: {b.type} broadcasts matmul %{mm.name}: {mm.type} "
            f"to {m.root.outputs[0].type}, so it is not a bias"
        )
    *lead, last = b.type.shape or (1,)
    broadcast = last == 1 and b.is_const and isinstance(out, int)  # a constant we can repeat
    per_output = all(d == 1 for d in lead) and (last == out or broadcast)
    if per_output:
        return None
    return (
        f"%{b.name}: {b.type} is not one bias value per output feature "
        f"(shape [{out}], or [1, .., 1, {out}])"
    )


def _const_weight(m: Match) -> str | None:
    w = m["w"]
    if w.is_const:
        return None
    return (
        f"the weight %{w.name} of matmul %{m['mm'].name} is computed at run time; "
        "a matmul without a bias becomes linear only with a constant weight"
    )


def _known_activation(m: Match) -> str | None:
    node = m.root
    if activation_of(node) is not None:
        return None
    return (
        f"clip %{node.outputs[0].name} has bounds [{node.attrs['min']}, {node.attrs['max']}]; "
        "only [0, 6] (relu6) and [0, inf] (relu) are linear activations"
    )


# builds ---------------------------------------------------------------------------------
def _bias_vector(em: GraphEmitter, b: Value, out: Dim) -> Value:
    """``b`` as shape [out]: itself, a new constant ``@{b}.vector``, or a reshape node."""
    if b.type.shape == (out,):
        return b
    if b.const is not None and isinstance(out, int):
        data = np.broadcast_to(b.const.reshape(-1), (out,)).copy()
        return em.graph.add_constant(em.graph.unique_name(f"{b.name}.vector"), data)
    return em.op("reshape", b, shape=(out,))


def _matmul_add(m: Match, em: GraphEmitter) -> list[Value]:
    """matmul(x, W) + b -> linear(x, W, b)."""
    bias = _bias_vector(em, m["b"], m["w"].type.shape[1])
    return [em.op("linear", m["x"], m["w"], bias)]


def _linear_act(m: Match, em: GraphEmitter) -> list[Value]:
    """act(linear(x, W, b?)) -> linear(x, W, b?, activation=act)."""
    activation = activation_of(m.root)
    if activation is None:  # the check said so already; kept for the type checker
        raise Reject(f"{m.root.op} is not a linear activation")
    return [em.op("linear", *m.node("lin").inputs, activation=activation)]


def _linear_silu(m: Match, em: GraphEmitter) -> list[Value]:
    """y * sigmoid(y), y = linear(x, W, b?) -> linear(x, W, b?, activation=silu)."""
    return [em.op("linear", *m.node("lin").inputs, activation="silu")]


def _matmul_act(m: Match, em: GraphEmitter) -> list[Value]:
    """act(matmul(x, W)) -> linear(x, W, activation=act)."""
    activation = activation_of(m.root)
    if activation is None:
        raise Reject(f"{m.root.op} is not a linear activation")
    return [em.op("linear", m["x"], m["w"], activation=activation)]


_x, _w = var("x"), var("w")
linear_rules: tuple[Rule, ...] = (
    Rule(
        "matmul+add->linear",
        op.add(op.matmul(_x, _w, capture="mm"), var("b")),
        build=_matmul_add,
        checks=(_weight_is_matrix, _input_is_float, _bias_is_per_output),
    ),
    Rule(
        "linear+activation->linear",
        op.relu(op.linear(_x, _w, ..., activation="none", capture="lin"), ops=ACTIVATION_OPS[1:]),
        build=_linear_act,
        checks=(_known_activation,),
    ),
    Rule(
        "linear+x*sigmoid(x)->linear",
        op.mul(
            op.linear(_x, _w, ..., activation="none", capture="lin", single_use=False),
            op.sigmoid(var("lin")),
        ),
        build=_linear_silu,
        checks=(feeds_only_its_silu("lin"),),
        min_near_miss=3,  # the sigmoid matched: a linear output times something is not news
    ),
    Rule(
        "matmul+activation->linear",
        op.relu(op.matmul(_x, _w, capture="mm"), ops=ACTIVATION_OPS[1:]),
        build=_matmul_act,
        checks=(_const_weight, _weight_is_matrix, _input_is_float, _known_activation),
    ),
)


def fuse_linear(graph: Graph) -> PassResult:
    """Fuse matmul by a [in, out] weight + bias (+ activation) into linear."""
    return apply_rules(graph, linear_rules, free_constants=True)


FUSE_LINEAR = Pass("fuse-linear", fuse_linear)

__all__ = ["FUSE_LINEAR", "fuse_linear", "linear_rules"]
