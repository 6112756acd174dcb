"""``MultiHeadAttention`` written from primitives, as the seed notes derive it.

For each head: ``q = x W^q``, ``k = x W^k``, ``v = x W^v``; scores
``alpha = q k^T / sqrt(d_head)``; hidden keys get ``-inf``; ``alpha' =
softmax(alpha)`` over keys; ``b = alpha' v``; heads are concatenated and
projected by ``out_proj``. Recorded as separate matmuls, reshapes, transposes,
``softmax`` and ``where`` nodes, so the fusion passes have real work to do, as
in models exported from other frameworks.

Masks (all combine):
- ``causal=True``: key ``j`` is visible to query ``i`` iff ``j <= i``;
- ``window=w``: banded ("truncated") attention, visible iff ``|i - j| <= w``;
- ``mask`` passed to ``forward``: boolean, ``True`` = visible and ``False`` =
  hidden (the convention of ONNX and PyTorch's scaled_dot_product_attention,
  NOT of ``torch.nn.MultiheadAttention``'s ``attn_mask``), or float, added to
  the scores. Broadcastable to ``[N, heads, S_q, S_kv]``.
A query whose keys are all hidden gets NaN, as in the IR's attention op.

Weights: ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (``Linear``).
``load_state_dict`` also accepts PyTorch's packed ``in_proj_weight`` /
``in_proj_bias`` (``torch.nn.MultiheadAttention``) and splits them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn.linear import Linear
from nanograph.frontend.nn.module import Module
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError
from nanograph.ir.types import DType


def visibility_mask(s_q: Any, s_kv: Any, causal: bool, window: int | None) -> Tensor | None:
    """Bool ``[S_q, S_kv]``, True where key j is visible to query i (None: all visible)."""
    if not causal and window is None:
        return None
    i = F.arange(s_q).unsqueeze(1)
    j = F.arange(s_kv).unsqueeze(0)
    visible: Tensor | None = (j <= i) if causal else None
    if window is not None:
        band = F.abs(i - j) <= window
        visible = band if visible is None else (visible & band)
    return visible


class MultiHeadAttention(Module):
    """Multi-head attention over batch-first ``[N, S, E]`` tensors (see module docstring)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        bias: bool = True,
        causal: bool = False,
        window: int | None = None,
    ) -> None:
        super().__init__()
        embed_dim = arguments.whole("MultiHeadAttention", "embed_dim", embed_dim)
        num_heads = arguments.whole("MultiHeadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise AttributeValueError(
                f"MultiHeadAttention: embed_dim={embed_dim} is not divisible by "
                f"num_heads={num_heads}",
                loc=user_location(),
                hint="choose num_heads dividing embed_dim",
            )
        if window is not None and not (arguments.is_int(window) and window >= 0):
            raise AttributeValueError(
                f"MultiHeadAttention: window={window!r} must be an int >= 0",
                loc=user_location(),
                hint="window=w lets query i see keys j with |i - j| <= w; use None for no band",
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.causal, self.window = causal, window
        self.q_proj = Linear(embed_dim, embed_dim, bias)
        self.k_proj = Linear(embed_dim, embed_dim, bias)
        self.v_proj = Linear(embed_dim, embed_dim, bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias)

    def _heads(self, x: Tensor) -> Tensor:
        n, s = x.shape[0], x.shape[1]
        return x.reshape(n, s, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        mask: Tensor | np.ndarray | None = None,
    ) -> Tensor:
        key = query if key is None else key
        value = key if value is None else value
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        v = self._heads(self.v_proj(value))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        visible = visibility_mask(q.shape[2], k.shape[2], self.causal, self.window)
        if mask is not None:
            mask = F.as_tensor(mask)  # a NumPy array becomes a constant of its own dtype
            if mask.dtype == DType.bool:
                visible = mask if visible is None else (visible & mask)
            else:
                scores = scores + mask
        if visible is not None:
            scores = F.where(visible, scores, -math.inf)
        out = scores.softmax(-1) @ v
        n, s = query.shape[0], query.shape[1]
        return self.out_proj(out.permute(0, 2, 1, 3).reshape(n, s, self.embed_dim))

    def _convert_state(self, state: dict[str, Any], prefix: str) -> None:
        for kind in ("weight", "bias"):
            packed = state.get(f"{prefix}in_proj_{kind}")
            if packed is None or packed.ndim < 1 or packed.shape[0] != 3 * self.embed_dim:
                continue  # absent, or the wrong size: reported as unexpected by the caller
            del state[f"{prefix}in_proj_{kind}"]
            for name, part in zip(("q_proj", "k_proj", "v_proj"), np.split(packed, 3), strict=True):
                state[f"{prefix}{name}.{kind}"] = part

    def extra_repr(self) -> str:
        return (
            f"{self.embed_dim}, num_heads={self.num_heads}, causal={self.causal}, "
            f"window={self.window}"
        )
