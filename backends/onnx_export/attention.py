"""Lowering the fused ``attention`` op: ONNX ``Attention``, onnxruntime's
``com.microsoft.MultiHeadAttention``, or plain ops.

Our meaning (``nanograph.ir.ops.fused``): softmax(q k^T * scale + additive
mask; keys hidden by a bool mask, ``causal`` (j <= i, top-left aligned) or
``window`` (|i - j| <= w) get -inf) @ v, on q [B,H,Sq,D], k [B,H,Skv,D],
v [B,H,Skv,Dv] (``num_heads=0``), or on packed q [B,Sq,H*D], k [B,Skv,H*D],
v [B,Skv,H*Dv] giving [B,Sq,H*Dv] (``num_heads=H``). Each target gets the parts
it can express natively; the rest becomes an explicit mask built in the IR by
the op's own mask code (``prepare_attention``), then lowered like any other op.

``onnx`` (opset >= 23): ``Attention(q, k, v, attn_mask)`` on 4-D BNSH inputs,
or on the 3-D packed inputs with ``q_num_heads = kv_num_heads = H``, with
``scale``; ``is_causal`` only where Sq == Skv provably (ONNX aligns the
causal frontier bottom-right), ``left/right_window_size`` from opset 25
likewise; otherwise causal/window join the mask (bool: ``And``; additive:
``Where(visible, mask, -inf)``). onnxruntime wants the mask's last two dims
to be exactly [Sq, Skv], so a broadcasting mask is ``Expand``ed to them.
**A query whose keys are all hidden gives a row of zeros** (ONNX's rule and
onnxruntime's behaviour), where our decomposition gives NaN. **ONNX Attention
adds -inf to hidden keys** (its reference turns causal, window and bool masks
into 0/-inf biases) where our decomposition sets them: the two differ only
where a hidden key scores NaN or +inf (non-finite inputs), which poisons that
query's row in ONNX; the importer maps a bool ``attn_mask`` back to our bool
mask, so a round trip differs only where we join position masks into an
additive one (``tests/fuzz/test_regressions.py``).

``ms``: ``MultiHeadAttention(query [B,Sq,H*D], key, value [B,H,Skv,D]
BNSH (or [B,Skv,H*D] and [B,Skv,H*Dv] when Dv != D), attention_bias
[B|1,H|1,Sq,Skv])`` with ``num_heads`` and ``scale``.
Causal alone on a square problem is ``unidirectional=1``; every other mask
(bool, causal, window) becomes an additive -inf bias, never its
``key_padding_mask`` (whose hidden keys get -10000, not -inf). All-hidden
rows are therefore NaN, as ours. The packed form is MultiHeadAttention's own:
query, key and value go in as they are and the output is ours. The 4-D form
transposes/reshapes q to [B,Sq,H*D] and the output back to [B,H,Sq,Dv], and
needs static H.

``plain``: the decomposition itself (``ir.decompose.expand_fused``): MatMul,
Mul, Where, Softmax, MatMul; all-hidden rows are NaN, as ours.
"""

from __future__ import annotations

import math

import numpy as np

from nanograph.backends.onnx_export.context import MS_DOMAIN, ExportContext
from nanograph.backends.onnx_export.lowering import LowerFn, unsupported
from nanograph.ir.attrs import Attrs
from nanograph.ir.decompose import GraphEmitter, replace_node
from nanograph.ir.dims import Dim
from nanograph.ir.graph import Graph, Node, Value
from nanograph.ir.ops.fused import _position_masks, attention_layout
from nanograph.ir.types import DType

ONNX_ATTENTION_OPSET = 23
ONNX_WINDOW_OPSET = 25


def _layout(node: Node) -> tuple[Dim, ...]:
    """(B, H, Sq, Skv, D, Dv) of an ``attention`` node, in either form."""
    return attention_layout([v.type for v in node.inputs], node.attrs["num_heads"])


def _seq_axis(node: Node) -> int:
    """The sequence axis of q, k and v: 2 in [B,H,S,D], 1 in packed [B,S,H*D]."""
    return 1 if node.attrs["num_heads"] else 2


def resolved_scale(node: Node) -> float:
    """The node's scale, its default 1/sqrt(D) filled in (D is static then, by inference)."""
    scale = node.attrs.get("scale")
    if scale is None:
        d = _layout(node)[4]
        assert isinstance(d, int), "attention inference requires a static D for the default scale"
        scale = 1.0 / math.sqrt(d)
    return float(scale)


def _native(node: Node, target: str, opset: int) -> tuple[bool, int]:
    """(causal, window) the target expresses itself on this node; the rest becomes a mask."""
    sq, skv = _layout(node)[2:4]
    square = sq == skv
    causal, window = node.attrs["causal"], node.attrs["window"]
    if target == "ms":
        alone = len(node.inputs) == 3 and window < 0
        return causal and square and alone, -1
    native_window = window if window >= 0 and square and opset >= ONNX_WINDOW_OPSET else -1
    return causal and square, native_window


def prepare_attention(graph: Graph, node: Node, target: str, opset: int) -> None:
    """Rewrite ``node`` (in the IR) so that only what ``target`` expresses natively is
    left as attributes: other position masks join the mask input; for ``ms`` the
    mask is additive float. Same outputs, names and types; the scale is made explicit."""
    causal, window = _native(node, target, opset)
    q, k, v = node.inputs[:3]
    mask = node.inputs[3] if len(node.inputs) > 3 else None
    em = GraphEmitter(graph, node)
    to_mask = Attrs(
        {
            "causal": node.attrs["causal"] and not causal,
            "window": node.attrs["window"] if window < 0 else -1,
        }
    )
    sq, skv = _layout(node)[2:4]
    visible = _position_masks(em, sq, skv, to_mask)
    if mask is not None and mask.type.dtype == DType.bool:
        visible.insert(0, mask)
        mask = None
    mask = _combine(em, visible, mask, additive=target == "ms", dtype=q.type.dtype)
    attrs = {
        "scale": resolved_scale(node),
        "causal": causal,
        "window": window,
        "num_heads": node.attrs["num_heads"],
    }
    inputs = [q, k, v] if mask is None else [q, k, v, mask]
    replace_node(graph, node, em.op_multi("attention", *inputs, **attrs))


def _combine(
    em: GraphEmitter, visible: list[Value], mask: Value | None, additive: bool, dtype: DType
) -> Value | None:
    """One mask: bool (visible) unless additive is needed or given; None if no mask at all."""
    if not visible:
        return mask
    keep = visible[0]
    for m in visible[1:]:
        keep = em.op("and", keep, m)
    if mask is None and not additive:
        return keep
    hidden = em.const(np.array(-np.inf, dtype=dtype.numpy))
    shown = mask if mask is not None else em.const(np.array(0.0, dtype=dtype.numpy))
    return em.op("where", keep, shown, hidden)


def _mask_fitted(ctx: ExportContext, node: Node, rank: int) -> str:
    """The mask with rank >= ``rank`` and last two dims exactly [Sq, Skv] (onnxruntime's rule)."""
    q, k, mask = node.inputs[0], node.inputs[1], node.inputs[3]
    name, shape = mask.name, mask.type.shape
    if len(shape) < rank:
        lead = list(range(rank - len(shape)))
        name = ctx.emit1("Unsqueeze", [name, ctx.i64s(lead, "axes")])
    sq, skv = _layout(node)[2:4]
    if len(shape) >= 2 and shape[-2] == sq and shape[-1] == skv:
        return name
    if isinstance(sq, int) and isinstance(skv, int):
        target = ctx.i64s([sq, skv], "mask_shape")
    else:
        axis = _seq_axis(node)
        sizes = [ctx.emit1("Shape", [v.name], start=axis, end=axis + 1) for v in (q, k)]
        target = ctx.emit1("Concat", sizes, axis=0)
    return ctx.emit1("Expand", [name, target])


def lower_onnx_attention(ctx: ExportContext, node: Node) -> None:
    """ONNX Attention on BNSH or packed 3-D inputs (after ``prepare_attention``)."""
    if ctx.opset < ONNX_ATTENTION_OPSET:
        raise unsupported(
            node,
            f"ONNX Attention needs opset 23 or later (exporting at {ctx.opset})",
            "export with --opset 23 or later, or use --attention ms or plain",
        )
    names = ctx.names(node.inputs[:3])
    if len(node.inputs) > 3:
        names.append(_mask_fitted(ctx, node, rank=2))
    window, heads = node.attrs["window"], node.attrs["num_heads"]
    ctx.emit1(
        "Attention",
        names,
        node.output.name,
        scale=node.attrs["scale"],
        is_causal=int(node.attrs["causal"]),
        left_window_size=window if window >= 0 else None,
        right_window_size=window if window >= 0 else None,
        q_num_heads=heads or None,
        kv_num_heads=heads or None,
    )


def _merge_heads(ctx: ExportContext, name: str) -> str:
    """[B, H, S, D] -> [B, S, H*D]."""
    moved = ctx.emit1("Transpose", [name], perm=[0, 2, 1, 3])
    return ctx.emit1("Reshape", [moved, ctx.i64s([0, 0, -1])])


def lower_ms_attention(ctx: ExportContext, node: Node) -> None:
    """com.microsoft.MultiHeadAttention: query as [B,Sq,H*D], key/value BNSH or 3-D, bias 4-D."""
    if node.attrs["num_heads"]:
        _lower_ms_packed(ctx, node)
        return
    q, k, v = node.inputs[:3]
    heads = q.type.shape[1]
    if not isinstance(heads, int):
        raise unsupported(
            node,
            f"MultiHeadAttention needs a static number of heads, got {heads}",
            "use --attention onnx or plain, or bind the symbol (--dims)",
        )
    inputs = [_merge_heads(ctx, q.name)]
    if k.type.shape[3] == v.type.shape[3]:
        inputs += [k.name, v.name]  # BNSH key/value are taken as they are
    else:  # onnxruntime wants 4-D key and value of one shape: pass them as [B, Skv, H*D]
        inputs += [_merge_heads(ctx, k.name), _merge_heads(ctx, v.name)]
    if len(node.inputs) > 3:
        inputs += ["", "", _mask_fitted(ctx, node, rank=4)]
    merged = ctx.emit(
        "MultiHeadAttention",
        inputs,
        1,
        domain=MS_DOMAIN,
        num_heads=heads,
        scale=node.attrs["scale"],
        unidirectional=int(node.attrs["causal"]),
    )[0]
    split = ctx.emit1("Reshape", [merged, ctx.i64s([0, 0, heads, -1])])
    ctx.emit1("Transpose", [split], node.output.name, perm=[0, 2, 1, 3])


def _lower_ms_packed(ctx: ExportContext, node: Node) -> None:
    """The packed form is MultiHeadAttention's own: [B,S,H*D] in, [B,Sq,H*Dv] out."""
    inputs = ctx.names(node.inputs[:3])
    if len(node.inputs) > 3:
        inputs += ["", "", _mask_fitted(ctx, node, rank=4)]
    ctx.emit(
        "MultiHeadAttention",
        inputs,
        [node.output.name],
        domain=MS_DOMAIN,
        num_heads=node.attrs["num_heads"],
        scale=node.attrs["scale"],
        unidirectional=int(node.attrs["causal"]),
    )


def lower_attention(ctx: ExportContext, node: Node) -> None:
    """Dispatch on the export's resolved attention target (``plain`` never gets here)."""
    if ctx.attention == "ms":
        lower_ms_attention(ctx, node)
    else:
        lower_onnx_attention(ctx, node)


attention_lowerings: dict[str, LowerFn] = {"attention": lower_attention}

__all__ = ["attention_lowerings", "prepare_attention", "resolved_scale"]
