"""ONNX ``Attention`` (opset 23+) and onnxruntime's ``com.microsoft.MultiHeadAttention``
as the fused ``attention`` op: ``Attention``'s 3-D form with heads split and merged by
reshape/transpose, ``MultiHeadAttention`` as the op's packed form (``num_heads``).

``Attention``: Q/K/V are 4-D ``[B, H, S, D]`` or 3-D ``[B, S, H*D]`` with
``q_num_heads``/``kv_num_heads``; fewer K/V heads than Q heads (GQA/MQA) are
repeated (query head ``h`` uses K/V head ``h // (Hq/Hkv)``). ``is_causal``,
``scale`` and ``attn_mask`` (bool, True = attend; or float, added) map
directly; opset 25's ``left/right_window_size`` become ``window`` where the
window is symmetric, or causal with a left bound, and a boolean band mask
otherwise. ONNX defines a query row
with no visible key as zeros (not NaN, as the IR's ``attention`` gives):
where a boolean mask or a window can empty a row, such rows are set to 0 after
the op. Refused: ``past_key``/``past_value``/``nonpad_kv_seqlen`` inputs, the
``present_*``/``qk_matmul_output`` outputs and ``softcap``.

``MultiHeadAttention``: query/key/value ``[B, S, hidden]`` with ``num_heads``,
an optional packed projection ``bias`` (added to q, k and v),
``key_padding_mask`` ``[B, Skv]`` or ``[B, Sq, Skv]`` (int, 0 = masked; like
onnxruntime, masked keys get ``mask_filter_value``, default -10000, added,
not -inf), ``attention_bias`` (added), ``unidirectional`` (causal; only with
equal query and key lengths) and ``scale``. Refused: packed QKV/KV, key/value
in BNSH (cache) layout, past state and cache inputs, and every output but the
first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanograph.frontend.onnx_import.builder import Builder
from nanograph.frontend.onnx_import.operands import Operand
from nanograph.frontend.onnx_import.registry import MS_DOMAIN, OnnxNode, converter
from nanograph.frontend.onnx_import.symbolic import compare
from nanograph.ir.dims import Dim, exact_div
from nanograph.ir.types import DType


def split_heads(b: Builder, node: OnnxNode, x: Operand, heads: int, what: str) -> Operand:
    """``[B, S, heads*D]`` -> ``[B, heads, S, D]``."""
    if x.type.rank != 3:
        raise node.refuse(f"{what} must be [batch, sequence, hidden], got {x.type}")
    batch, seq, hidden = x.type.shape
    size = exact_div(hidden, heads)
    if size is None:
        raise node.refuse(
            f"{what} {x.type}: hidden size {hidden} is not divisible by {heads} heads"
        )
    y = b.op("reshape", x, shape=(batch, seq, heads, size))
    return b.op("transpose", y, perm=(0, 2, 1, 3))


def merge_heads(b: Builder, y: Operand) -> Operand:
    """``[B, H, S, D]`` -> ``[B, S, H*D]``."""
    batch, heads, seq, size = y.type.shape
    y = b.op("transpose", y, perm=(0, 2, 1, 3))
    return b.op("reshape", y, shape=(batch, seq, heads * size))


def repeat_heads(b: Builder, node: OnnxNode, x: Operand, heads: int) -> Operand:
    """``[B, Hkv, S, D]`` -> ``[B, heads, S, D]``, each K/V head repeated for its query group."""
    batch, kv_heads, seq, size = x.type.shape
    if kv_heads == heads:
        return x
    groups = exact_div(heads, kv_heads)
    if not isinstance(kv_heads, int) or groups is None:
        raise node.refuse(f"{heads} query heads cannot share {kv_heads} key/value heads")
    y = b.op("unsqueeze", x, axes=(2,))
    y = b.op("expand", y, shape=(batch, kv_heads, groups, seq, size))
    return b.op("reshape", y, shape=(batch, heads, seq, size))


def _refuse_extras(node: OnnxNode, inputs: dict[int, str], outputs: dict[int, str]) -> None:
    for index, what in inputs.items():
        if node.input(index) is not None:
            raise node.refuse(f"the {what} input (KV cache) is not supported")
    for index, what in outputs.items():
        if node.wants(index):
            raise node.refuse(f"the {what} output is not supported")


def visibility(b: Builder, sq: Dim, skv: Dim, causal: bool, window: int) -> list[Operand]:
    """Boolean [Sq, Skv] masks (True = visible) for ``causal`` (j <= i) and ``window``
    (|i - j| <= window), as the IR's attention defines them."""
    rows = b.op("unsqueeze", b.op("range", limit=sq), axes=(1,))
    cols = b.op("range", limit=skv)
    masks = [b.op("less_equal", cols, rows)] if causal else []
    if window >= 0:
        distance = b.op("abs", b.op("sub", rows, cols))
        masks.append(b.op("less_equal", distance, b.const(np.array(window, np.int64))))
    return masks


def zero_empty_rows(b: Builder, y: Operand, masks: list[Operand]) -> Operand:
    """``y`` [B, H, Sq, Dv] with the query rows that no mask lets see a key set to 0."""
    keep = masks[0]
    for mask in masks[1:]:
        keep = b.op("and", keep, mask)
    dtype = y.type.dtype
    seen = b.op("reduce_max", b.op("cast", keep, to=dtype), axes=(-1,), keepdims=True)
    zero = b.const(np.array(0, dtype=dtype.numpy))
    return b.op("where", b.op("greater", seen, zero), y, zero)


def window_attrs(node: OnnxNode) -> tuple[bool, int, tuple[int, int] | None]:
    """(causal, window, band) from ``is_causal`` and opset 25's ``left/right_window_size``
    (query i sees key j iff i - left <= j <= i + right, each bound where >= 0). A window
    the IR's ``attention`` cannot express (asymmetric, not causal) is returned as
    ``band = (left, right)``, to be applied as a mask."""
    causal = bool(node.attr("is_causal", 0))
    left = int(node.attr("left_window_size", -1))
    right = int(node.attr("right_window_size", -1))
    if causal or right == 0:  # j <= i makes any right bound >= 0 moot
        return True, max(left, -1), None
    if left == right or max(left, right) < 0:
        return False, max(left, -1), None
    return False, -1, (left, right)


def band_mask(b: Builder, sq: Dim, skv: Dim, left: int, right: int) -> Operand:
    """Boolean [Sq, Skv]: i - left <= j <= i + right (a bound < 0 is no bound)."""
    rows = b.op("unsqueeze", b.op("range", limit=sq), axes=(1,))
    cols = b.op("range", limit=skv)
    masks = []
    if left >= 0:
        masks.append(b.op("less_equal", b.op("sub", rows, cols), b.const(np.array(left))))
    if right >= 0:
        masks.append(b.op("less_equal", b.op("sub", cols, rows), b.const(np.array(right))))
    return masks[0] if len(masks) == 1 else b.op("and", *masks)


def _with_band(b: Builder, mask: Operand | None, band: Operand) -> Operand:
    """``mask`` restricted to ``band``: a boolean and, or -inf added to a float mask."""
    if mask is None or mask.type.dtype == DType.bool:
        return band if mask is None else b.op("and", mask, band)
    dtype = mask.type.dtype.numpy
    hidden = b.op("where", band, b.const(np.array(0, dtype)), b.const(np.array(-np.inf, dtype)))
    return b.op("add", mask, hidden)


def _guard_masks(
    b: Builder, q: Operand, k: Operand, keep: Operand | None, causal: bool, window: int
) -> list[Operand]:
    """The masks that can leave a query row with no key: a boolean ``keep`` (with the
    position masks), or a window when Sq may exceed Skv; [] when no row can be empty."""
    sq, skv = q.type.shape[2], k.type.shape[2]
    if keep is not None:
        return [keep, *visibility(b, sq, skv, causal, window)]
    if window >= 0 and compare(sq, skv) not in ("lt", "le", "eq"):
        return visibility(b, sq, skv, causal, window)
    return []


@converter("Attention", versions=(23, 24, 25))
def convert_attention(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    _refuse_extras(
        node,
        {4: "past_key", 5: "past_value", 6: "nonpad_kv_seqlen"},
        {1: "present_key", 2: "present_value", 3: "qk_matmul_output"},
    )
    if float(node.attr("softcap", 0.0)) != 0.0:
        raise node.refuse("softcap is not supported")
    q, k, v = node.require(0, "Q"), node.require(1, "K"), node.require(2, "V")
    rank = q.type.rank
    if rank == 3:
        heads, kv_heads = int(node.attr("q_num_heads")), int(node.attr("kv_num_heads"))
        q = split_heads(b, node, q, heads, "Q")
        k, v = (split_heads(b, node, t, kv_heads, n) for t, n in ((k, "K"), (v, "V")))
    elif rank != 4:
        raise node.refuse(f"Q must be 3-D or 4-D, got {q.type}")
    q_heads = q.type.shape[1]
    if not isinstance(q_heads, int):
        raise node.refuse(f"the number of heads of Q {q.type} must be static")
    k, v = repeat_heads(b, node, k, q_heads), repeat_heads(b, node, v, q_heads)
    causal, window, band = window_attrs(node)
    attrs: dict[str, object] = {"causal": causal, "window": window}
    if node.has_attr("scale"):
        attrs["scale"] = float(node.attr("scale"))
    mask = node.input(3)
    keep = mask if mask is not None and mask.type.dtype == DType.bool else None
    if band is not None:
        keep = band_mask(b, q.type.shape[2], k.type.shape[2], *band)
        mask = _with_band(b, mask, keep)
        keep = mask if mask.type.dtype == DType.bool else keep
    y = b.op("attention", q, k, v, *([mask] if mask is not None else []), **attrs)
    guards = _guard_masks(b, q, k, keep, causal, window)
    if guards:
        y = zero_empty_rows(b, y, guards)
    return [merge_heads(b, y) if rank == 3 else y, None, None, None]


def _padding_mask(b: Builder, node: OnnxNode, mask: Operand, dtype: DType) -> Operand:
    """An additive mask from an int key padding mask: 0 kept, ``mask_filter_value`` masked."""
    fill = float(node.attr("mask_filter_value", -10000.0))
    if mask.type.rank not in (2, 3):
        raise node.refuse(
            f"key_padding_mask {mask.type} is not supported; only [batch, kv_sequence] or "
            "[batch, sequence, kv_sequence] (0 = masked)",
        )
    kept = b.op("greater", mask, b.const(np.array(0, dtype=mask.type.dtype.numpy)))
    zero, masked = (b.const(np.array(x, dtype=dtype.numpy)) for x in (0.0, fill))
    additive = b.op("where", kept, zero, masked)
    return b.op("unsqueeze", additive, axes=(1, 2) if mask.type.rank == 2 else (1,))


def _projection_bias(b: Builder, node: OnnxNode, qkv: list[Operand]) -> list[Operand]:
    bias = node.input(3)
    if bias is None:
        return qkv
    sizes = tuple(t.type.shape[-1] for t in qkv)
    parts = b.op_multi("split", bias, axis=0, sizes=sizes)
    return [b.op("add", t, p) for t, p in zip(qkv, parts, strict=True)]


@converter("MultiHeadAttention", versions=(1,), domain=MS_DOMAIN)
def convert_multi_head_attention(b: Builder, node: OnnxNode) -> Sequence[Operand | None]:
    _refuse_extras(
        node,
        {6: "past_key", 7: "past_value", 8: "past_sequence_length", 9: "cache_indirection"},
        {1: "present_key", 2: "present_value", 3: "qk"},
    )
    q, k, v = node.require(0, "query"), node.input(1), node.input(2)
    if k is None or v is None or any(t.type.rank != 3 for t in (q, k, v)):
        shown = ", ".join(str(t.type) if t is not None else "absent" for t in (q, k, v))
        raise node.refuse(
            f"only separate query/key/value of shape [batch, sequence, hidden] are supported, "
            f"got {shown} (packed QKV/KV and BNSH key/value are not)"
        )
    heads = int(node.attr("num_heads"))
    q, k, v = _projection_bias(b, node, [q, k, v])
    for t, what in ((q, "query"), (k, "key"), (v, "value")):
        if heads <= 0 or exact_div(t.type.shape[2], heads) is None:
            raise node.refuse(
                f"{what} {t.type}: hidden size {t.type.shape[2]} is not divisible by {heads} heads"
            )
    mask = None
    if node.input(4) is not None:
        mask = _padding_mask(b, node, node.require(4), q.type.dtype)
    bias = node.input(5)
    if bias is not None:
        mask = bias if mask is None else b.op("add", mask, bias)
    causal = bool(node.attr("unidirectional", 0))
    if causal and q.type.shape[1] != k.type.shape[1]:
        raise node.refuse(
            f"unidirectional=1 needs equal query and key lengths, got {q.type} and {k.type} "
            "(onnxruntime's CPU kernel is not causal in the last query row otherwise)"
        )
    attrs: dict[str, object] = {"causal": causal, "num_heads": heads}
    if node.has_attr("scale") and float(node.attr("scale")) != 0.0:
        attrs["scale"] = float(node.attr("scale"))
    y = b.op("attention", q, k, v, *([mask] if mask is not None else []), **attrs)
    return [y, None, None, None]
