"""Fused ops: ``linear``, ``fused_conv2d`` and ``attention`` (q/k/v as [B, H, S, D], or
packed [B, S, H*D] with ``num_heads`` = H).

Each fused op's meaning *is* its decomposition into core ops, written once
against the ``Emitter`` protocol. Everything else derives from it:
``reference`` runs it eagerly on NumPy arrays, ``infer`` runs it on types
(after checks that explain mistakes in the fused op's own terms), and the
FLOPs of ``cost`` are those of the core ops (bytes are the fused op's own
inputs and outputs: a fused kernel keeps intermediates out of memory).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nanograph.ir.attrs import Attrs, AttrSpec
from nanograph.ir.dims import Dim, add, exact_div, mul
from nanograph.ir.errors import DTypeError, ShapeError
from nanograph.ir.ops.inference import (
    broadcasts_to,
    require_float,
    require_rank,
    require_same_dtype,
)
from nanograph.ir.ops.nn import CONV_ATTRS
from nanograph.ir.ops.registry import (
    Cost,
    CostFn,
    DecomposeFn,
    Emitter,
    InferFn,
    OpDef,
    bytes_moved,
    get_op,
    reference_by_decomposition,
    register,
)
from nanograph.ir.types import DType, TensorType, type_of_array

ACTIVATIONS = ("none", "relu", "relu6", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh")
CheckFn = Callable[[Sequence[TensorType], Attrs], None]


# deriving infer and cost from a decomposition ---------------------------------------
class TypeEmitter:
    """An ``Emitter`` over ``TensorType``s: runs each core op's inference and
    sums the core ops' FLOPs in ``flops``."""

    def __init__(self) -> None:
        self.flops: Dim = 0

    def op(self, name: str, *inputs: TensorType, **attrs: Any) -> TensorType:
        return self.op_multi(name, *inputs, **attrs)[0]

    def op_multi(self, name: str, *inputs: TensorType, **attrs: Any) -> list[TensorType]:
        opdef = get_op(name)
        norm = opdef.make_attrs(attrs)
        opdef.check_arity(len(inputs))
        out = opdef.infer(list(inputs), norm)
        self.flops = add(self.flops, opdef.cost(inputs, out, norm).flops)
        return out

    def const(self, array: np.ndarray) -> TensorType:
        return type_of_array(np.asarray(array))

    def shape_of(self, value: TensorType) -> tuple[Dim, ...]:
        return value.shape

    def dtype_of(self, value: TensorType) -> DType:
        return value.dtype


def infer_by_decomposition(check: CheckFn, decompose: DecomposeFn) -> InferFn:
    """Inference: ``check`` (clear errors), then the decomposition run on types."""

    def infer(types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
        check(types, attrs)
        return list(decompose(TypeEmitter(), list(types), attrs))

    return infer


def cost_by_decomposition(decompose: DecomposeFn) -> CostFn:
    def cost(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> Cost:
        emitter = TypeEmitter()
        decompose(emitter, list(ins), attrs)
        return Cost(emitter.flops, bytes_moved(ins, outs))

    return cost


def apply_activation(em: Emitter[Any], x: Any, activation: str) -> Any:
    """``activation`` (one of ACTIVATIONS) applied to x with core ops."""
    if activation == "none":
        return x
    if activation == "relu6":
        return em.op("clip", x, min=0.0, max=6.0)
    if activation in ("gelu", "gelu_tanh"):
        return em.op("gelu", x, approximate="tanh" if activation == "gelu_tanh" else "none")
    return em.op(activation, x)


def _register_fused(
    name: str,
    inputs: tuple[str, ...],
    attrs: dict[str, AttrSpec],
    check: CheckFn,
    decompose: DecomposeFn,
    doc: str,
) -> None:
    register(
        OpDef(
            name=name,
            inputs=inputs,
            attrs=attrs,
            infer=infer_by_decomposition(check, decompose),
            reference=reference_by_decomposition(decompose),
            cost=cost_by_decomposition(decompose),
            decompose=decompose,
            family="fused",
            doc=doc,
        )
    )


def _no_check(types: Sequence[TensorType], attrs: Attrs) -> None:
    """For ops whose core ops already explain every mistake."""


_ACTIVATION_ATTR = {"activation": AttrSpec("str", "none", choices=ACTIVATIONS)}


# linear -------------------------------------------------------------------------------------
def linear_decompose(em: Emitter[Any], inputs: Sequence[Any], attrs: Attrs) -> list[Any]:
    """act(x @ w + b)."""
    y = em.op("matmul", inputs[0], inputs[1])
    if len(inputs) > 2:
        y = em.op("add", y, inputs[2])
    return [apply_activation(em, y, attrs["activation"])]


def _linear_check(types: Sequence[TensorType], attrs: Attrs) -> None:
    x, w = types[0], types[1]
    require_float(x, "x")
    require_same_dtype(types)
    require_rank(w, 2, "w", "[in, out]")
    if x.rank < 1 or x.shape[-1] != w.shape[0]:
        raise ShapeError(
            f"x {x} has {x.shape[-1] if x.rank else 'no'} input features but w {w} "
            f"expects {w.shape[0]}",
            hint="x's last dim must equal w's first (w is [in, out], not [out, in])",
        )
    if len(types) > 2 and types[2].shape != (w.shape[1],):
        raise ShapeError(
            f"bias {types[2]} must have shape [{w.shape[1]}], the output features of w {w}",
            hint="give one bias value per output feature",
        )


_register_fused(
    "linear",
    ("x", "w", "b?"),
    dict(_ACTIVATION_ATTR),
    _linear_check,
    linear_decompose,
    "act(x @ w + b) with x [..., in], w [in, out], b [out]",
)


# fused_conv2d -------------------------------------------------------------------------------
def fused_conv2d_decompose(em: Emitter[Any], inputs: Sequence[Any], attrs: Attrs) -> list[Any]:
    """act(conv2d(x, w, b))."""
    conv_attrs = {k: attrs[k] for k in CONV_ATTRS}
    y = em.op("conv2d", *inputs, **conv_attrs)
    return [apply_activation(em, y, attrs["activation"])]


_register_fused(
    "fused_conv2d",
    ("x", "w", "b?"),
    {**CONV_ATTRS, **_ACTIVATION_ATTR},
    _no_check,
    fused_conv2d_decompose,
    "act(conv2d(x, w, b)): conv2d's attributes plus activation",
)


# attention ----------------------------------------------------------------------------------
# Two forms, chosen by ``num_heads``: 0 takes heads split, q [B,H,Sq,D], k [B,H,Skv,D],
# v [B,H,Skv,Dv] -> [B,H,Sq,Dv]; H > 0 takes them packed, q [B,Sq,H*D], k [B,Skv,H*D],
# v [B,Skv,H*Dv] -> [B,Sq,H*Dv] (ONNX Attention's 3-D form with q_num_heads = kv_num_heads
# = H), meaning: split heads, the 4-D form, merge heads. The mask broadcasts to
# [B,H,Sq,Skv] in both.
def _position_masks(em: Emitter[Any], sq: Dim, skv: Dim, attrs: Attrs) -> list[Any]:
    """bool [Sq, Skv] masks, True = visible: causal (j <= i), window (|i - j| <= w).

    i and j count from 0 in q and in k alike (top-left aligned when Sq != Skv,
    as PyTorch SDPA's ``is_causal``).
    """
    causal, window = attrs["causal"], attrs["window"]
    if not causal and window < 0:
        return []
    i = em.op("unsqueeze", em.op("range", limit=sq), axes=(1,))  # query positions [Sq, 1]
    j = em.op("range", limit=skv)  # key positions [Skv]
    masks = []
    if causal:
        masks.append(em.op("less_equal", j, i))
    if window >= 0:
        dist = em.op("abs", em.op("sub", i, j))
        masks.append(em.op("less_equal", dist, em.const(np.array(window, dtype=np.int64))))
    return masks


def head_size(hidden: Dim, heads: int, what: str) -> Dim:
    """``hidden / heads``, the per-head size of a packed [B, S, heads*D] input ``what``;
    ``ShapeError`` unless it divides exactly (provably, for a symbolic ``hidden``)."""
    size = exact_div(hidden, heads)
    if size is None:
        provably = "" if isinstance(hidden, int) else "provably "
        raise ShapeError(
            f"{what}'s hidden size {hidden} is not {provably}divisible by num_heads={heads}",
            hint="packed inputs are [B, S, H*D]: give a hidden size that is a multiple of "
            "num_heads (symbolically, e.g. 4*D for 4 heads), or split the heads yourself and "
            "use num_heads=0 with [B, H, S, D]",
        )
    return size


def split_heads(em: Emitter[Any], x: Any, heads: int, what: str) -> Any:
    """[B, S, heads*D] -> [B, heads, S, D]: reshape, then transpose (0, 2, 1, 3)."""
    batch, seq, hidden = em.shape_of(x)
    x = em.op("reshape", x, shape=(batch, seq, heads, head_size(hidden, heads, what)))
    return em.op("transpose", x, perm=(0, 2, 1, 3))


def merge_heads(em: Emitter[Any], y: Any) -> Any:
    """[B, H, S, D] -> [B, S, H*D]: transpose (0, 2, 1, 3), then reshape."""
    batch, heads, seq, size = em.shape_of(y)
    y = em.op("transpose", y, perm=(0, 2, 1, 3))
    return em.op("reshape", y, shape=(batch, seq, mul(heads, size)))


def attention_decompose(em: Emitter[Any], inputs: Sequence[Any], attrs: Attrs) -> list[Any]:
    """softmax(q @ k^T * scale + additive mask, hidden keys -inf) @ v; an all-hidden row is NaN.

    With ``num_heads`` = H > 0 the heads of q, k and v are split first and merged after."""
    heads = attrs["num_heads"]
    q, k, v = inputs[:3]
    mask = inputs[3] if len(inputs) > 3 else None
    if heads == 0:
        return [_attention_heads(em, q, k, v, mask, attrs)]
    q, k, v = (split_heads(em, x, heads, name) for x, name in ((q, "q"), (k, "k"), (v, "v")))
    return [merge_heads(em, _attention_heads(em, q, k, v, mask, attrs))]


def _attention_heads(em: Emitter[Any], q: Any, k: Any, v: Any, mask: Any, attrs: Attrs) -> Any:
    """The 4-D form: q [B,H,Sq,D], k [B,H,Skv,D], v [B,H,Skv,Dv] -> [B,H,Sq,Dv]."""
    dt = em.dtype_of(q).numpy
    *_, sq, d = em.shape_of(q)
    skv = em.shape_of(k)[-2]
    scale = attrs.get("scale")
    if scale is None:
        if not isinstance(d, int):
            raise ShapeError(
                f"the default scale 1/sqrt(D) needs a static head dim, got D={d}",
                hint="pass scale= explicitly",
            )
        scale = 1.0 / math.sqrt(d)
    scores = em.op("matmul", q, em.op("transpose", k, perm=(0, 1, 3, 2)))
    scores = em.op("mul", scores, em.const(np.array(scale, dtype=dt)))
    visible = []
    if mask is not None and em.dtype_of(mask) == DType.bool:
        visible.append(mask)
    elif mask is not None:
        scores = em.op("add", scores, mask)
    visible += _position_masks(em, sq, skv, attrs)
    if visible:
        keep = visible[0]
        for m in visible[1:]:
            keep = em.op("and", keep, m)
        scores = em.op("where", keep, scores, em.const(np.array(-np.inf, dtype=dt)))
    return em.op("matmul", em.op("softmax", scores, axis=-1), v)


def attention_layout(types: Sequence[TensorType], heads: int) -> tuple[Dim, ...]:
    """(B, H, Sq, Skv, D, Dv) of checked attention inputs in either form."""
    q, k, v = (t.shape for t in types[:3])
    if heads == 0:
        return (q[0], q[1], q[2], k[2], q[3], v[3])
    return (q[0], heads, q[1], k[1], head_size(q[2], heads, "q"), head_size(v[2], heads, "v"))


def _attention_check(types: Sequence[TensorType], attrs: Attrs) -> None:
    q, k, v = types[:3]
    heads = attrs["num_heads"]
    if heads < 0:
        raise ShapeError(
            f"num_heads must be >= 0, got {heads}",
            hint="0 takes q/k/v as [B, H, S, D]; H > 0 takes them packed as [B, S, H*D]",
        )
    _check_ranks(q, k, v, heads)
    require_float(q, "q")
    require_same_dtype(types[:3])
    if heads == 0:
        _check_split(q, k, v)
    else:
        _check_packed(q, k, v, heads)
    if attrs["window"] < -1:
        raise ShapeError(f"window must be -1 (none) or >= 0, got {attrs['window']}")
    if len(types) > 3:
        mask = types[3]
        if mask.dtype not in (DType.bool, q.dtype):
            raise DTypeError(
                f"mask {mask} must be bool (False = hidden) or {q.dtype} (additive)",
                hint="cast the mask to bool or to q's dtype first (DSL: mask.to('bool'))",
            )
        b, h, sq, skv = attention_layout(types, heads)[:4]
        broadcasts_to(mask.shape, (b, h, sq, skv), "mask")


def _check_ranks(q: TensorType, k: TensorType, v: TensorType, heads: int) -> None:
    rank, layout = (4, "[B, H, S, D]") if heads == 0 else (3, f"[B, S, H*D] with H={heads}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.rank == rank:
            continue
        if heads == 0 and t.rank == 3:
            hint = "for packed [B, S, H*D] inputs set num_heads=H"
        elif heads > 0 and t.rank == 4:
            hint = "for [B, H, S, D] inputs set num_heads=0 (the default)"
        else:
            hint = f"reshape it to rank {rank}"
        raise ShapeError(f"{name} must have rank {rank} ({layout}), got {t}", hint=hint)


def _check_split(q: TensorType, k: TensorType, v: TensorType) -> None:
    shown = f"q {q}, k {k}, v {v}"
    if k.shape[:2] != q.shape[:2] or v.shape[:2] != q.shape[:2]:
        raise ShapeError(
            f"batch and head dims differ: {shown}", hint="q, k and v must share [B, H]"
        )
    if k.shape[3] != q.shape[3] or v.shape[2] != k.shape[2]:
        raise ShapeError(
            f"need q [B,H,Sq,D], k [B,H,Skv,D], v [B,H,Skv,Dv], got {shown}",
            hint="q and k need the same head dim D; k and v the same length Skv",
        )


def _check_packed(q: TensorType, k: TensorType, v: TensorType, heads: int) -> None:
    shown = f"q {q}, k {k}, v {v}"
    if k.shape[0] != q.shape[0] or v.shape[0] != q.shape[0]:
        raise ShapeError(f"batch dims differ: {shown}", hint="q, k and v must share B")
    for name, t in (("q", q), ("k", k), ("v", v)):
        head_size(t.shape[2], heads, name)
    if k.shape[2] != q.shape[2] or v.shape[1] != k.shape[1]:
        raise ShapeError(
            f"need q [B,Sq,H*D], k [B,Skv,H*D], v [B,Skv,H*Dv] with H={heads}, got {shown}",
            hint="q and k need the same hidden size H*D; k and v the same length Skv",
        )


_register_fused(
    "attention",
    ("q", "k", "v", "mask?"),
    {
        "scale": AttrSpec("float", None, doc="absent: 1/sqrt(D)"),
        "causal": AttrSpec("bool", False, doc="key j visible to query i iff j <= i"),
        "window": AttrSpec("int", -1, doc="key j visible to query i iff |i-j| <= window"),
        "num_heads": AttrSpec(
            "int", 0, doc="0: q/k/v are [B, H, S, D]; H > 0: packed [B, S, H*D], output too"
        ),
    },
    _attention_check,
    attention_decompose,
    "softmax(q @ k^T * scale + mask, hidden keys -inf) @ v over heads: q/k/v [B, H, S, D], "
    "or packed [B, S, H*D] with num_heads=H (split, attend, merged back); mask broadcasts to "
    "[B, H, Sq, Skv]",
)
