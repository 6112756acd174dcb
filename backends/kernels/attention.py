"""A blocked, numerically stable NumPy kernel for the fused ``attention`` op.

Same meaning as the op's reference (its decomposition in ``nanograph.ir.ops.fused``),
in either form (q/k/v [B,H,S,D], or packed [B,S,H*D] with ``num_heads``), with bool
or additive masks, ``causal`` and ``window``; a query row with no visible key is
NaN, as in the reference. Non-finite inputs give the reference's result too: a
hidden key whose score is NaN or +inf stays hidden (see ``needs_exact_redo``).

How it is fast and bounded:

- The score matrix is never whole. Queries are processed in blocks of
  (batches, heads, rows) whose scores hold at most ``SCORE_BLOCK`` = 2**20
  elements (4 MiB in float32: the passes over a block after its matmul stay in
  the L3 cache; from 2**17 to 2**20 time alike on a 2-core EPYC), or one
  row of one head where a single row of keys is longer than that. Besides the
  block, a call holds copies of q (scaled), k^T, [v, 1] and the output, and per
  block the [rows, keys] position mask and its -inf bias (causal, window) and
  the block of a bool mask; the block buffers are allocated once per call and
  reused by every block (``out=``).
- Heads and batches go through ``np.matmul`` together (no Python loop over
  heads); the softmax is max-subtracted and ``exp`` runs in place; the row sums
  come out of the ``p @ v`` matmul (v gets a column of ones), and the
  normalisation divides the [rows, Dv] result instead of the [rows, Skv]
  probabilities.
- ``causal`` and ``window`` also bound the keys a block can see: keys no row
  of the block can see are skipped, not computed and masked; blocks are then
  at most ``MASKED_ROWS`` rows, so few hidden keys are computed.
- float32 inputs compute in float32 throughout; float16 computes in float32
  and rounds once at the end. The reference accumulates in float64 per core op
  (and rounds between them), so results agree to rounding (see the tests).
- The packed form is read through strided views (v is not copied apart from
  the ones column; q and k are copied anyway); the output is written in place
  through a [B, H, Sq, Dv] view of the packed [B, Sq, H, Dv] result.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nanograph.ir.attrs import Attrs

SCORE_BLOCK = 2**20
"""The most score elements (batch * heads * query rows * keys) alive at once."""
MASKED_ROWS = 128
"""Query rows per block at most under ``causal`` or ``window``: a block computes the keys
its last row can see, so shorter blocks compute fewer hidden keys."""


def attention_kernel(inputs: Sequence[np.ndarray], attrs: Attrs) -> list[np.ndarray]:
    """``attention`` on NumPy arrays (``OpDef.reference``'s signature), blocked."""
    heads = attrs["num_heads"]
    compute = np.dtype(np.float32) if inputs[0].dtype == np.float16 else inputs[0].dtype
    q, k, v = (_split(x, heads) for x in inputs[:3])
    batch, nheads, sq, d = q.shape
    skv, dv = k.shape[2], v.shape[3]
    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    q = np.multiply(q, np.asarray(scale, dtype=compute), dtype=compute)  # contiguous, scaled
    # k^T contiguous [B, H, D, Skv]: q @ k^T runs about 10% faster than on the transposed
    # view (single-threaded, S = 256..512), for a copy the size of k
    k_t = np.ascontiguousarray(k.swapaxes(-1, -2), dtype=compute)
    v_sum = _with_ones(v, compute)
    mask = _rank4(inputs[3]) if len(inputs) > 3 else None
    if heads:  # written through a [B, H, Sq, Dv] view of the packed [B, Sq, H, Dv] result
        out = np.empty((batch, sq, nheads, dv), compute).transpose(0, 2, 1, 3)
    else:
        out = np.empty((batch, nheads, sq, dv), compute)
    blocks = _Blocks(batch, nheads, sq, skv, dv, compute, attrs)
    hides = hides_keys(mask, attrs)
    with np.errstate(invalid="ignore"):  # all-hidden rows: -inf - -inf = NaN, as the reference
        for bs, hs, rs in blocks:
            lo, hi = _key_range(rs, skv, attrs)
            target = out[bs, hs, rs]
            if hi <= lo:
                target[...] = np.nan
                continue
            keys = slice(lo, hi)
            scores = blocks.scores(target.shape[:3], hi - lo)
            np.matmul(q[bs, hs, rs], k_t[bs, hs, :, keys], out=scores)
            block_mask = None if mask is None else _block_of(mask, (bs, hs, rs, keys))
            _mask_scores(scores, block_mask, rs, keys, attrs)
            _softmax_times_v(scores, v_sum[bs, hs, keys], blocks.values(target.shape), target)
            if needs_exact_redo(target, hides):
                np.matmul(q[bs, hs, rs], k_t[bs, hs, :, keys], out=scores)
                _mask_scores(scores, block_mask, rs, keys, attrs, exact=True)
                _softmax_times_v(scores, v_sum[bs, hs, keys], blocks.values(target.shape), target)
    result = out.transpose(0, 2, 1, 3).reshape(batch, sq, nheads * dv) if heads else out
    return [result.astype(inputs[0].dtype, copy=False)]


def _split(x: np.ndarray, heads: int) -> np.ndarray:
    """[B, H, S, D] as it is; packed [B, S, H*D] as a [B, H, S, D] view (no copy)."""
    if not heads:
        return x
    batch, seq, hidden = x.shape
    return x.reshape(batch, seq, heads, hidden // heads).transpose(0, 2, 1, 3)


def _with_ones(v: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """v [B, H, Skv, Dv] with a column of ones appended: ``p @ it`` is p @ v and, in its
    last column, the row sums of p, so the softmax's sum rides along in the matmul."""
    out = np.empty((*v.shape[:3], v.shape[3] + 1), dtype)
    out[..., :-1] = v
    out[..., -1] = 1
    return out


def _rank4(mask: np.ndarray) -> np.ndarray:
    """``mask`` with leading axes of length 1 up to rank 4 (a view)."""
    return mask.reshape((1,) * (4 - mask.ndim) + mask.shape)


def _block_of(mask: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """The block ``index`` of the [B, H, Sq, Skv] broadcast of rank-4 ``mask``, without
    broadcasting it: an axis of length 1 stays length 1."""
    return mask[tuple(s if n != 1 else slice(None) for s, n in zip(index, mask.shape, strict=True))]


def _key_range(rows: slice, skv: int, attrs: Attrs) -> tuple[int, int]:
    """[lo, hi): the keys that causal (j <= i) and window (|i-j| <= w) let some row see."""
    lo, hi = 0, skv
    if attrs["causal"]:
        hi = min(hi, rows.stop)
    window = attrs["window"]
    if window >= 0:
        lo, hi = max(lo, rows.start - window), min(hi, rows.stop + window)
    return lo, hi


def _mask_scores(
    scores: np.ndarray,
    mask: np.ndarray | None,
    rows: slice,
    keys: slice,
    attrs: Attrs,
    *,
    exact: bool = False,
) -> None:
    """Add an additive mask, and -inf for keys hidden by a bool mask, causal or window.

    Hidden keys get -inf *added* (3x faster than ``copyto(where=)``), so a hidden key
    whose score is +inf or NaN gives NaN where the reference hides it; with
    ``exact`` they are *set* to -inf, as the reference does. The kernels add, and
    redo a block exactly only when its result holds a NaN (``needs_exact_redo``)."""
    hidden = None
    if attrs["causal"] or attrs["window"] >= 0:
        i = np.arange(rows.start, rows.stop)[:, None]
        j = np.arange(keys.start, keys.stop)[None, :]
        if attrs["causal"]:
            hidden = j > i
        if attrs["window"] >= 0:
            far = np.abs(i - j) > attrs["window"]
            hidden = far if hidden is None else np.logical_or(hidden, far, out=hidden)
    if mask is not None and mask.dtype == np.bool_:
        shut = np.logical_not(mask)
        hidden = shut if hidden is None else np.logical_or(shut, hidden)
    elif mask is not None:
        scores += mask
    if hidden is not None and exact:
        np.copyto(scores, scores.dtype.type(-np.inf), where=hidden)
    elif hidden is not None:
        kind = scores.dtype.type
        scores += np.where(hidden, kind(-np.inf), kind(0))


def hides_keys(mask: np.ndarray | None, attrs: Attrs) -> bool:
    """Whether some keys are hidden (bool mask, causal or window), not just biased."""
    bool_mask = mask is not None and mask.dtype == np.bool_
    return bool(bool_mask or attrs["causal"] or attrs["window"] >= 0)


def needs_exact_redo(target: np.ndarray, hides: bool) -> bool:
    """Whether a finished block must be redone with hidden keys set to -inf, not added.

    Adding -inf differs from the reference only where a hidden key's score is NaN or
    +inf, and then the row comes out NaN; so a block is redone only if keys are
    hidden and its result holds a NaN (its sum is NaN: one pass over [rows, Dv], no
    allocation). All-hidden rows are NaN either way, and are redone to the same NaN."""
    return hides and bool(np.isnan(target.sum()))


def _softmax_times_v(
    scores: np.ndarray, v_sum: np.ndarray, products: np.ndarray, target: np.ndarray
) -> None:
    """target = softmax(scores) @ v, as (exp(scores - max) @ v) / sum; scores are clobbered.

    ``v_sum`` is v with a ones column (``_with_ones``), ``products`` its [..., Dv+1] result."""
    top = scores.max(axis=-1, keepdims=True)
    np.subtract(scores, top, out=scores)
    np.exp(scores, out=scores)
    np.matmul(scores, v_sum, out=products)
    np.divide(products[..., :-1], products[..., -1:], out=target)


class _Blocks:
    """The block grid over (batch, heads, query rows), and the block buffers it reuses.

    A block is ``nb`` batches x ``nh`` heads x ``nr`` rows with ``nb*nh*nr*Skv <=
    SCORE_BLOCK`` (or ``nr = 1`` where one row of keys is longer); rows are
    blocked first, then heads, then batches, so that a block is as large as the
    bound allows while staying a rectangular slice of every operand."""

    def __init__(
        self, batch: int, heads: int, sq: int, skv: int, dv: int, dtype: np.dtype[Any], attrs: Attrs
    ) -> None:
        self.nr = min(sq, max(1, SCORE_BLOCK // max(skv, 1)))
        if attrs["causal"] or attrs["window"] >= 0:  # short blocks skip more hidden keys
            self.nr = min(self.nr, MASKED_ROWS)
        self.nh = min(heads, max(1, SCORE_BLOCK // (self.nr * max(skv, 1))))
        self.nb = min(batch, max(1, SCORE_BLOCK // (self.nh * self.nr * max(skv, 1))))
        self.shape = (batch, heads, sq)
        self._scores: np.ndarray = np.empty(self.nb * self.nh * self.nr * skv, dtype)
        self._values: np.ndarray = np.empty(self.nb * self.nh * self.nr * (dv + 1), dtype)

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        batch, heads, sq = self.shape
        for b in range(0, batch, self.nb):
            for h in range(0, heads, self.nh):
                for r in range(0, sq, self.nr):
                    yield (
                        slice(b, min(b + self.nb, batch)),
                        slice(h, min(h + self.nh, heads)),
                        slice(r, min(r + self.nr, sq)),
                    )

    def scores(self, lead: tuple[int, ...], keys: int) -> np.ndarray:
        """A contiguous [nb, nh, nr, keys] view of the scores buffer."""
        return self._scores[: math.prod(lead) * keys].reshape(*lead, keys)

    def values(self, shape: tuple[int, ...]) -> np.ndarray:
        """A contiguous [nb, nh, nr, Dv + 1] view of the ``p @ [v, 1]`` buffer (``shape``
        is the block's [nb, nh, nr, Dv])."""
        lead, dv = shape[:-1], shape[-1]
        return self._values[: math.prod(lead) * (dv + 1)].reshape(*lead, dv + 1)


__all__ = ["SCORE_BLOCK", "attention_kernel"]
