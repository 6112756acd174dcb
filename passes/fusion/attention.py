"""Attention fusion (O2): ``softmax(q @ k^T * scale + mask) @ v`` becomes one ``attention``.

The rules match the math as models and exporters write it, and rebuild it as
the fused op (``nanograph.ir.ops.fused``), whose decomposition is the same
computation up to the order of the scale multiply:

- scores ``q @ k^T``, scaled by a one-element constant on the scores (``* s``
  or ``/ s``), on q and/or on k or k^T before the product (PyTorch's exporters
  write SDPA as ``(q * sqrt(s)) @ (k^T * sqrt(s))``), or not at all (scale 1);
  the fused op gets the product of the factors (a divisor as its reciprocal);
- k^T made by a ``transpose`` of any perm (composed with the swap the fused op
  does itself: ``perm (0,2,3,1)`` on [B,S,H,D] is the head split plus k^T, and
  becomes one head-split transpose), by the batch-flattened transpose PyTorch's
  dynamo exporter writes (``reshape [B*H,S,D]``, ``transpose (0,2,1)``,
  ``reshape [B,H,D,S]``: k is the first reshape's input; after O1 has merged
  reshapes and transposes, any ``reshape(transpose(x) [B*H,D,S], [B,H,D,S])``
  gives k as a transpose and a reshape of x), or given already transposed (a
  transpose back is emitted for the fused op);
- an additive mask (``+ mask``, any float values: adding is what the fused op
  does), or a boolean one written ``where(visible, scores, -inf)`` or
  ``where(hidden, -inf, scores)`` (the latter gets a ``not``), or no mask.
  Only a fill of exactly -inf is the fused op's meaning: a finite fill
  (-1e9, the dtype's minimum) differs where every key of a query is hidden
  (a uniform average instead of NaN), so such a ``where`` is a near miss;
  masks built from constants (causal triangles, bands) stay mask inputs;
- a softmax over the last (key) axis, then ``@ v`` (rule ``attention``), or
  the transposed product ``v^T @ softmax(...)^T`` as SAGAN writes it (rule
  ``attention-transposed``: the fused op, then a transpose of its output);
- scores of rank 4 [B,H,Sq,Skv] give the 4-D form; rank 3 [B,Sq,Skv] (one
  head) the packed form with ``num_heads=1``.

Not fused (each a near miss, in words): a scale that is not a one-element
constant, a softmax over another axis, an intermediate used elsewhere (it
would be computed twice), batch dims that the matmuls broadcast, scores of
rank 2 or above 4, a ``where`` whose fill is not -inf, a scale or mask that
would broadcast the scores to a larger shape.

Both rules are rooted at the final matmul but report a near miss only once the
softmax has matched (``min_near_miss``), so in effect they are anchored on the
softmax, the rarest op: a plain matmul is not news.

Exactness: the fused op computes ``(q @ k^T) * scale`` with the product of the
factors, computed in float64 from the float32 constants and rounded to float32
once; the graph as written rounds after each multiply or divide, so scores
differ by a few ulps (numeric tests use rtol 1e-4 / atol 1e-5). Everything
else (mask, softmax, the matmul with v) is the same computation.

Then the head split (reshape + transpose) around q, k, v and the merge after
the output are absorbed by ``attention_heads`` (the packed form), in a second
sweep over the graph, so that it sees every 4-D node the first one made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Graph, Node, Value
from nanograph.passes.fusion.attention_heads import HEAD_RULES
from nanograph.passes.manager import Pass
from nanograph.passes.pattern import Match, Pattern, either, op, such_that, var
from nanograph.passes.records import PassResult
from nanograph.passes.rewriter import Reject, Rule, apply_rules


# perms ----------------------------------------------------------------------------------
def swap_last_two(rank: int) -> tuple[int, ...]:
    """The perm that transposes the last two axes of a rank-``rank`` tensor."""
    return (*range(rank - 2), rank - 1, rank - 2)


def _is_swap_last_two(perm: Sequence[int]) -> bool:
    return len(perm) >= 2 and tuple(perm) == swap_last_two(len(perm))


SWAPS_LAST_TWO = such_that(_is_swap_last_two, "a swap of the last two axes")


def _is_scale(v: Value) -> bool:
    return v.is_const and v.const is not None and v.const.size == 1 and v.type.dtype.is_float


def _scale(name: str) -> Pattern:
    return var(name, where=such_that(_is_scale, "is not a constant one-element float scale"))


# the pattern ----------------------------------------------------------------------------
def _scaled(x: Pattern, name: str, factor: Pattern | None = None) -> Pattern:
    """``x * c``, ``x / c`` or ``x``; c (by default a one-element constant, else x alone)
    captured as ``name``, its mul or div node as ``name + "_op"``."""
    factor = factor if factor is not None else _scale(name)
    by_mul = op.mul(x, factor, capture=f"{name}_op")
    by_div = op.div(x, factor, capture=f"{name}_op")
    return either(by_mul, by_div, x)


K_T = either(
    op.transpose(  # any perm: composed with the swap; k may be scaled before it
        _scaled(var("k_source"), "k_pre_scale"), capture="k_transpose"
    ),
    op.reshape(  # dynamo's k^T: [B*H, D, S] unflattened to [B, H, D, S] (checked in build)
        op.transpose(
            either(op.reshape(var("k_flat_source"), capture="k_flatten"), var()),
            capture="k_flat_transpose",
        ),
        capture="k_unflatten",
    ),
    var("k_t"),  # given transposed: the fused op gets a transpose of it back
)
SCALES = ("q_scale", "k_pre_scale", "k_scale", "scale")  # the optional scale factors
QK = op.matmul(_scaled(var("q"), "q_scale"), _scaled(K_T, "k_scale"), capture="qk")
# any factor on the scores: there, one that is not a constant is a near miss (scale_is_constant),
# where on q or k it is just part of computing q or k
SCORES = _scaled(QK, "scale", var("scale"))
MASKED = either(
    op.add(SCORES, var("additive_mask"), capture="mask_add"),
    op.where(var("visible"), SCORES, var("fill"), capture="mask_where"),
    op.where(var("hidden"), var("fill"), SCORES, capture="mask_where_hidden"),
    SCORES,
)
PROBS = op.softmax(MASKED, capture="softmax")
ATTENTION = op.matmul(PROBS, var("v"))
ATTENTION_TRANSPOSED = op.matmul(
    either(op.transpose(var("v_source"), capture="v_transpose"), var("v_t")),
    op.transpose(PROBS, perm=SWAPS_LAST_TWO),
)


def _ref(v: Value) -> str:
    """How the text IR names ``v``: ``@name`` for a constant, ``%name`` otherwise."""
    return f"@{v.name}" if v.is_const else f"%{v.name}"


# checks: each says why a full structural match is not the fused op, or None -------------
def softmax_over_keys(m: Match) -> str | None:
    node = m.node("softmax")
    rank, axis = node.outputs[0].type.rank, node.attrs["axis"]
    if axis in (-1, rank - 1):
        return None
    return (
        f"softmax %{node.outputs[0].name} normalizes axis {axis} of {rank}, not the last "
        "(key) axis, so it is not attention over these scores"
    )


def batch_dims_agree(m: Match) -> str | None:
    scores = m["qk"]
    if scores.type.rank not in (3, 4):
        return (
            f"the scores %{scores.name} are {scores.type}, but the fused attention takes "
            "[B, H, Sq, Skv], or [B, Sq, Skv] for one head"
        )
    q, k_t = m.node("qk").inputs
    operands = (q, k_t, _v_operand(m))
    batch = {tuple(v.type.shape[:-2]) for v in operands}
    if len(batch) == 1 and len({v.type.rank for v in operands}) == 1:
        return None
    shown = ", ".join(f"%{v.name}: {v.type}" for v in operands)
    return (
        f"the matmuls broadcast the batch dims of q, k^T and v ({shown}); the fused "
        "attention needs them equal"
    )


def nothing_broadcasts(m: Match) -> str | None:
    for node, tensor in _scales_and_masks(m):
        out = node.outputs[0]
        if out.type != tensor.type:
            return (
                f"{node.op} %{out.name} broadcasts {_ref(tensor)}: {tensor.type} to "
                f"{out.type}; the fused attention keeps the scores' shape"
            )
    return None


def fill_is_minus_inf(m: Match) -> str | None:
    fill = m.get("fill")
    if fill is None:
        return None
    value = fill.const
    if fill.is_const and value is not None and value.size == 1:
        if float(value.item()) == -math.inf:
            return None
        shown = f"{float(value.item()):g}"
    else:
        shown = f"%{fill.name} (not a constant)"
    where = m.named_nodes.get("mask_where") or m.node("mask_where_hidden")
    return (
        f"where %{where.outputs[0].name} fills hidden scores with {shown}, not -inf, so where "
        "every key of a query is hidden it averages all values, where the fused attention "
        "gives NaN; fill with float('-inf') to fuse"
    )


def scale_is_constant(m: Match) -> str | None:
    node = m.named_nodes.get("scale_op")
    if node is None or _is_scale(m["scale"]):
        return None
    return (
        f"{node.op} %{node.outputs[0].name} scales the scores by {_ref(m['scale'])} "
        f"({m['scale'].type}), which is not a one-element float constant; the fused "
        "attention's scale is one number fixed at compile time"
    )


def scale_is_finite(m: Match) -> str | None:
    scale = combined_scale(m)
    if math.isfinite(scale):
        return None
    return f"the scale factors multiply to {scale}, which is not finite (a division by zero?)"


CHECKS = (
    softmax_over_keys,
    batch_dims_agree,
    scale_is_constant,
    nothing_broadcasts,
    fill_is_minus_inf,
    scale_is_finite,
)


def _v_operand(m: Match) -> Value:
    """The root's other operand: v, or v^T in the transposed form (same batch dims)."""
    first, second = m.root.inputs
    return second if first is m["softmax"] else first


def _scales_and_masks(m: Match) -> list[tuple[Node, Value]]:
    """Each matched scale or mask node with the tensor it scales or masks."""
    pairs = []
    for name in SCALES:
        node = m.named_nodes.get(f"{name}_op")
        if node is not None:
            a, b = node.inputs
            pairs.append((node, b if a is m[name] else a))
    if (add := m.named_nodes.get("mask_add")) is not None:
        a, b = add.inputs
        pairs.append((add, b if a is m["additive_mask"] else a))
    if (where := m.named_nodes.get("mask_where")) is not None:
        pairs.append((where, where.inputs[1]))
    if (where := m.named_nodes.get("mask_where_hidden")) is not None:
        pairs.append((where, where.inputs[2]))
    return pairs


# building the fused op -------------------------------------------------------------------
def combined_scale(m: Match) -> float:
    """The product of the scale factors (a divisor as its reciprocal); 1 with none."""
    scale = 1.0
    for name in SCALES:
        node = m.named_nodes.get(f"{name}_op")
        if node is None:
            continue
        factor = float(m.array(name).item())
        if node.op == "mul":
            scale *= factor
        else:
            scale = scale / factor if factor else math.inf
    return scale


def _transposed(em: GraphEmitter, x: Value, perm: Sequence[int]) -> Value:
    """x with its axes permuted by ``perm`` (x itself for the identity)."""
    if tuple(perm) == tuple(range(len(perm))):
        return x
    return em.op("transpose", x, perm=tuple(perm))


def _undo_swap(perm: Sequence[int]) -> tuple[int, ...]:
    """transpose(transpose(x, perm), swap of the last two) == transpose(x, this)."""
    return (*perm[:-2], perm[-1], perm[-2])


def _unflattened_key(m: Match, em: GraphEmitter) -> Value | None:
    """k from k^T = reshape(transpose(x, P) [X, D, S], [*batch, D, S]), or None if the
    reshape does more than split X into batch dims.

    Splitting the leading axis commutes with swapping the last two, so k is
    reshape(transpose(x, P then the swap) [X, S, D], [*batch, S, D]); either step is
    left out where it does nothing (x = reshape(k) with the swap undoing P: k itself).
    """
    flat_t, k_t = m["k_flat_transpose"], m["k_unflatten"]
    if flat_t.type.rank != 3 or k_t.type.shape[-2:] != flat_t.type.shape[-2:]:
        return None
    *batch, d, s = k_t.type.shape
    target = (*batch, s, d)
    perm = _undo_swap(m.node("k_flat_transpose").attrs["perm"])
    source = m.get("k_flat_source")  # the input of x where x is a reshape (of k, maybe)
    if perm == (0, 1, 2) and source is not None and source.type.shape == target:
        return source
    flat = _transposed(em, m.node("k_flat_transpose").inputs[0], perm)
    return flat if flat.type.shape == target else em.op("reshape", flat, shape=target)


def _key(m: Match, em: GraphEmitter) -> Value:
    """k [.., Skv, D] for the fused op, from however k^T was written."""
    if (t := m.named_nodes.get("k_transpose")) is not None:
        return _transposed(em, m["k_source"], _undo_swap(t.attrs["perm"]))
    if "k_unflatten" in m.named_nodes:
        k = _unflattened_key(m, em)
        if k is not None:
            return k
        return _transposed(em, m["k_unflatten"], swap_last_two(m["k_unflatten"].type.rank))
    return _transposed(em, m["k_t"], swap_last_two(m["k_t"].type.rank))


def _value(m: Match, em: GraphEmitter) -> Value:
    """v [.., Skv, Dv] for the fused op (v^T swapped back in the transposed form)."""
    if (v := m.get("v")) is not None:
        return v
    if (t := m.named_nodes.get("v_transpose")) is not None:
        return _transposed(em, m["v_source"], _undo_swap(t.attrs["perm"]))
    return _transposed(em, m["v_t"], swap_last_two(m["v_t"].type.rank))


def _mask(m: Match, em: GraphEmitter) -> list[Value]:
    """The fused op's mask input (none, additive, or bool True = visible)."""
    if (mask := m.get("additive_mask") or m.get("visible")) is None:
        if (hidden := m.get("hidden")) is None:
            return []
        mask = em.op("not", hidden)
    if m["qk"].type.rank == 3 and mask.type.rank == 3:  # [B,Sq,Skv] -> [B,1,Sq,Skv]
        mask = em.op("unsqueeze", mask, axes=(1,))
    return [mask]


def _fused(m: Match, em: GraphEmitter) -> Value:
    """The attention node: 4-D for rank-4 scores, packed with one head for rank 3."""
    heads = {} if m["qk"].type.rank == 4 else {"num_heads": 1}
    k, v = _key(m, em), _value(m, em)
    return em.op("attention", m["q"], k, v, *_mask(m, em), scale=combined_scale(m), **heads)


def _same_type(m: Match, result: Value) -> Value:
    if result.type != m.root.outputs[0].type:
        raise Reject(f"the fused attention would give {result.type}, not {m.root.outputs[0].type}")
    return result


def build_attention(m: Match, em: GraphEmitter) -> list[Value]:
    return [_same_type(m, _fused(m, em))]


def build_attention_transposed(m: Match, em: GraphEmitter) -> list[Value]:
    out = _fused(m, em)
    return [_same_type(m, _transposed(em, out, swap_last_two(out.type.rank)))]


ATTENTION_RULES = (
    Rule("attention", ATTENTION, build_attention, CHECKS),
    Rule(
        "attention-transposed",
        ATTENTION_TRANSPOSED,
        build_attention_transposed,
        CHECKS,
        min_near_miss=3,  # matmul(_, transpose(_)) is every linear layer: misses past softmax
    ),
)


def fuse_attention(graph: Graph) -> PassResult:
    """Fuse softmax(q @ k^T * scale + mask) @ v into attention, absorbing head split/merge."""
    result = apply_rules(graph, ATTENTION_RULES)
    result.merge(apply_rules(graph, HEAD_RULES))
    return result


FUSE_ATTENTION = Pass("fuse-attention", fuse_attention)

__all__ = ["ATTENTION_RULES", "FUSE_ATTENTION", "combined_scale", "fuse_attention"]
