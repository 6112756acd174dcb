"""The fused ``attention`` op as an executor kernel: the blocked kernel of
``nanograph.backends.kernels.attention`` with every buffer in the workspace and the
result written straight into the output.

Same algorithm and accuracy as that kernel (see its docstring): blocks of
(batches, heads, query rows) whose scores hold at most ``SCORE_BLOCK`` elements;
``p @ [v, 1]`` gives the softmax's row sums; keys no row of a block can see
(causal, window) are skipped. What changes is where the memory comes from: the
scaled q, k^T, [v, 1], the score block, its row maxima and its ``p @ [v, 1]``
block are carved from the workspace, and a bool mask is turned once per call into an additive
0/-inf bias of the mask's own (unbroadcast) shape, so the blocks add it instead
of allocating a negation each. The packed form ([B, S, H*D]) writes through a
[B, H, S, Dv] view of the output. Float16 computes in float32 scratch and is
rounded once into the output.

The workspace grows with the batch (q, k^T, [v, 1] are copies), as the old
kernel's allocations did; the score block is bounded by ``SCORE_BLOCK``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from nanograph.backends.kernels.attention import (
    MASKED_ROWS,
    SCORE_BLOCK,
    _block_of,
    _key_range,
    _mask_scores,
    _rank4,
    _split,
    hides_keys,
    needs_exact_redo,
)
from nanograph.backends.planned.kernel import Kernel
from nanograph.backends.planned.kernels.workspace import (
    Carver,
    Sizer,
    static_ints,
    static_shape,
)
from nanograph.ir.attrs import Attrs
from nanograph.ir.ops.fused import attention_layout
from nanograph.ir.types import TensorType

Shapes = list[tuple[str, tuple[int, ...], type]]


def _grid(batch: int, heads: int, sq: int, skv: int, attrs: Attrs) -> tuple[int, int, int]:
    """(batches, heads, rows) per block: ``_Blocks``' rule of the blocked kernel."""
    keys = max(skv, 1)
    nr = min(sq, max(1, SCORE_BLOCK // keys))
    if attrs["causal"] or attrs["window"] >= 0:
        nr = min(nr, MASKED_ROWS)
    nh = min(heads, max(1, SCORE_BLOCK // (nr * keys)))
    nb = min(batch, max(1, SCORE_BLOCK // (nh * nr * keys)))
    return nb, nh, nr


def _blocks(
    batch: int, heads: int, sq: int, grid: tuple[int, int, int]
) -> Iterator[tuple[slice, slice, slice]]:
    nb, nh, nr = grid
    for b in range(0, batch, nb):
        for h in range(0, heads, nh):
            for r in range(0, sq, nr):
                yield (
                    slice(b, min(b + nb, batch)),
                    slice(h, min(h + nh, heads)),
                    slice(r, min(r + nr, sq)),
                )


def _scratch(
    dims: tuple[int, ...], mask: tuple[int, ...] | None, half: bool, attrs: Attrs
) -> Shapes:
    """Named scratch arrays for (B, H, Sq, Skv, D, Dv) and a mask of shape ``mask``."""
    b, h, sq, skv, d, dv = dims
    nb, nh, nr = _grid(b, h, sq, skv, attrs)
    shapes: Shapes = [
        ("q", (b, h, sq, d), np.float32),
        ("k_t", (b, h, d, skv), np.float32),
        ("v1", (b, h, skv, dv + 1), np.float32),
        ("scores", (nb * nh * nr * skv,), np.float32),
        ("values", (nb * nh * nr * (dv + 1),), np.float32),
        ("top", (nb * nh * nr,), np.float32),
    ]
    if mask is not None:
        shapes.append(("mask", (1,) * (4 - len(mask)) + mask, np.float32))
    if half:
        shapes.append(("result", (b, h, sq, dv), np.float32))
    return shapes


def _softmax_times_v(
    scores: np.ndarray, v1: np.ndarray, products: np.ndarray, top: np.ndarray, target: np.ndarray
) -> None:
    """target = softmax(scores) @ v as (exp(scores - max) @ [v, 1]) split into values and
    row sums (the blocked kernel's ``_softmax_times_v``, its row maxima in ``top``)."""
    np.max(scores, axis=-1, keepdims=True, out=top)
    np.subtract(scores, top, out=scores)
    np.exp(scores, out=scores)
    np.matmul(scores, v1, out=products)
    np.divide(products[..., :-1], products[..., -1:], out=target)


def _workspace_bytes(ins: Sequence[TensorType], outs: Sequence[TensorType], attrs: Attrs) -> int:
    dims = static_ints(attention_layout(ins, attrs["num_heads"]), "attention")
    mask = static_shape(ins[3]) if len(ins) > 3 and ins[3].dtype.name == "bool" else None
    sizer = Sizer()
    for _, shape, dtype in _scratch(dims, mask, ins[0].dtype.name != "f32", attrs):
        sizer.take(shape, dtype)
    return sizer.nbytes


def _attention(
    inputs: Sequence[np.ndarray], attrs: Attrs, outputs: Sequence[np.ndarray], ws: np.ndarray | None
) -> None:
    heads = attrs["num_heads"]
    q_in, k_in, v_in = (_split(x, heads) for x in inputs[:3])
    batch, nheads, sq, d = q_in.shape
    skv, dv = k_in.shape[2], v_in.shape[3]
    mask_in = inputs[3] if len(inputs) > 3 else None
    bool_mask = mask_in is not None and mask_in.dtype == np.bool_
    half = inputs[0].dtype != np.float32
    carver = Carver(ws)
    dims = (batch, nheads, sq, skv, d, dv)
    buf = {
        name: carver.take(shape, dtype)
        for name, shape, dtype in _scratch(dims, mask_in.shape if bool_mask else None, half, attrs)  # type: ignore[union-attr]
    }
    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    q, k_t, v1 = buf["q"], buf["k_t"], buf["v1"]
    np.multiply(q_in, np.float32(scale), out=q)
    np.copyto(k_t, k_in.swapaxes(-1, -2))
    np.copyto(v1[..., :-1], v_in)
    v1[..., -1] = 1
    mask = None
    if mask_in is not None and bool_mask:
        mask = buf["mask"]
        mask.fill(-np.inf)
        np.copyto(mask, 0.0, where=_rank4(mask_in))
    elif mask_in is not None:
        mask = _rank4(mask_in)
    out = outputs[0]
    if half:
        target4 = buf["result"]
    elif heads:
        target4 = out.reshape(batch, sq, nheads, dv).transpose(0, 2, 1, 3)
    else:
        target4 = out
    grid = _grid(batch, nheads, sq, skv, attrs)
    hides = hides_keys(mask_in, attrs)
    exact4 = None if mask_in is None else _rank4(mask_in)  # bool as given: set, not added
    with np.errstate(invalid="ignore"):  # all-hidden rows: -inf - -inf = NaN, as the reference
        for bs, hs, rs in _blocks(batch, nheads, sq, grid):
            lo, hi = _key_range(rs, skv, attrs)
            target = target4[bs, hs, rs]
            if hi <= lo:
                target[...] = np.nan
                continue
            keys = slice(lo, hi)
            lead = target.shape[:3]
            scores = buf["scores"][: math.prod(lead) * (hi - lo)].reshape(*lead, hi - lo)
            np.matmul(q[bs, hs, rs], k_t[bs, hs, :, keys], out=scores)
            block_mask = None if mask is None else _block_of(mask, (bs, hs, rs, keys))
            _mask_scores(scores, block_mask, rs, keys, attrs)
            values = buf["values"][: math.prod(lead) * (dv + 1)].reshape(*lead, dv + 1)
            top = buf["top"][: math.prod(lead)].reshape(*lead, 1)
            _softmax_times_v(scores, v1[bs, hs, keys], values, top, target)
            if needs_exact_redo(target, hides):  # a hidden key scored NaN or +inf
                np.matmul(q[bs, hs, rs], k_t[bs, hs, :, keys], out=scores)
                exact_mask = None if exact4 is None else _block_of(exact4, (bs, hs, rs, keys))
                _mask_scores(scores, exact_mask, rs, keys, attrs, exact=True)
                _softmax_times_v(scores, v1[bs, hs, keys], values, top, target)
    if half:
        result = buf["result"]
        np.copyto(
            out.reshape(batch, sq, nheads, dv).transpose(0, 2, 1, 3) if heads else out, result
        )


KERNELS: dict[str, Kernel] = {"attention": Kernel("attention", _attention, _workspace_bytes)}

__all__ = ["KERNELS"]
