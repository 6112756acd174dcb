"""Absorbing the head split and merge into ``attention``: the packed form ``num_heads=H``.

Multi-head attention splits each of q, k and v from [B, S, H*D] into heads,
``transpose(reshape(x, [B, S, H, D]), (0, 2, 1, 3))`` -> [B, H, S, D], attends
per head (the 4-D ``attention``), and merges the heads back,
``reshape(transpose(y, (0, 2, 1, 3)), [B, Sq, H*Dv])``. ``attention`` with
``num_heads=H`` takes and gives the packed tensors and means exactly that
(``nanograph.ir.ops.fused.attention_decompose``: split, attend, merge), so the
rule ``attention-packed-heads`` replaces all eight shape ops and the 4-D node
by one packed node (ONNX ``Attention``'s 3-D form and onnxruntime's
``MultiHeadAttention`` take it natively). Scale, mask, causal and window pass
through unchanged (the mask broadcasts to [B, H, Sq, Skv] in both forms).

Only the whole pattern is absorbed: where one of the four is missing or
different (k split some other way, the output merged with another perm), the
4-D node stays as it is and the rule reports a near miss saying which part did
not fit. The rule is anchored on the merge ``reshape`` and reports only misses
that reach an ``attention`` node (``min_near_miss=3``), since reshapes of
transposes are everywhere; the merge's perm is a check, not part of the
pattern, so an attention merged another way (PyTorch's sequence-first
``TransformerEncoderLayer``) is reported too.
"""

from __future__ import annotations

from nanograph.ir.decompose import GraphEmitter
from nanograph.ir.graph import Node, Value
from nanograph.passes.pattern import Match, Pattern, op, such_that, var
from nanograph.passes.rewriter import Reject, Rule

HEAD_PERM = (0, 2, 1, 3)
SPLITS_HEADS = such_that(lambda perm: tuple(perm) == HEAD_PERM, "the head split (0, 2, 1, 3)")


def _split(name: str) -> Pattern:
    """``transpose(reshape(x, [B, S, H, D]), (0, 2, 1, 3))``; x captured as ``name``."""
    return op.transpose(op.reshape(var(name), capture=f"{name}_split"), perm=SPLITS_HEADS)


PACKED_HEADS = op.reshape(
    op.transpose(
        op.attention(_split("q"), _split("k"), _split("v"), ..., capture="attention", num_heads=0),
        perm=such_that(lambda perm: len(perm) == 4, "a 4-D transpose"),
        capture="merge_transpose",  # which 4-D perm is checked by heads_merged, to say why not
    ),
    capture="merge",
)


def _split_heads(m: Match, name: str) -> int | str:
    """H of the split of input ``name``, or why it is not a head split of [B, S, H*D]."""
    x, split = m[name], m.node(f"{name}_split")
    shape = split.outputs[0].type.shape
    if x.type.rank != 3 or len(shape) != 4 or shape[:2] != x.type.shape[:2]:
        return (
            f"{name} %{x.name}: {x.type} is reshaped to {split.outputs[0].type}, which is not "
            "its heads split as [B, S, H, D]"
        )
    if not isinstance(shape[2], int):
        return f"{name} is split into {shape[2]} heads, not a static number of heads"
    return shape[2]


def heads_split_alike(m: Match) -> str | None:
    heads = [_split_heads(m, name) for name in ("q", "k", "v")]
    for h in heads:
        if isinstance(h, str):
            return h
    if len(set(heads)) != 1:
        return f"q, k and v are split into {', '.join(map(str, heads))} heads, not the same number"
    return None


def heads_merged(m: Match) -> str | None:
    merged, att = m["merge"], m["attention"]
    batch, _, seq, _ = att.type.shape
    perm = tuple(m.node("merge_transpose").attrs["perm"])
    if perm != HEAD_PERM:
        return f"the output %{att.name} is transposed by {perm}, not the head merge {HEAD_PERM}"
    if merged.type.rank == 3 and merged.type.shape[:2] == (batch, seq):
        return None
    return (
        f"the heads of %{att.name}: {att.type} are merged into {merged.type}, not "
        f"[{batch}, {seq}, H*Dv]"
    )


def build_packed(m: Match, em: GraphEmitter) -> list[Value]:
    node: Node = m.node("attention")
    heads = _split_heads(m, "q")
    assert isinstance(heads, int), "checked by heads_split_alike"
    attrs = {k: v for k, v in node.attrs.items() if v is not None}
    attrs["num_heads"] = heads
    packed = em.op("attention", m["q"], m["k"], m["v"], *node.inputs[3:], **attrs)
    if packed.type != m["merge"].type:
        raise Reject(f"the packed attention would give {packed.type}, not {m['merge'].type}")
    return [packed]


HEAD_RULES = (
    Rule(
        "attention-packed-heads",
        PACKED_HEADS,
        build_packed,
        (heads_split_alike, heads_merged),
        min_near_miss=3,
    ),
)

__all__ = ["HEAD_RULES", "PACKED_HEADS", "build_packed"]
