"""``TransformerEncoderLayer``: PyTorch's layer (batch first), post-norm or pre-norm.

Post-norm (``norm_first=False``, PyTorch's default):
``x = norm1(x + attn(x)); x = norm2(x + ff(x))``; pre-norm:
``x = x + attn(norm1(x)); x = x + ff(norm2(x))``, where
``ff(x) = linear2(act(linear1(x)))``. Submodule names match PyTorch's, so a
``torch.nn.TransformerEncoderLayer(batch_first=True)`` state dict loads
directly (its packed ``in_proj_weight`` is split by ``MultiHeadAttention``).
"""

from __future__ import annotations

from nanograph.frontend import arguments
from nanograph.frontend import functional as F
from nanograph.frontend.nn.attention import MultiHeadAttention
from nanograph.frontend.nn.linear import Linear
from nanograph.frontend.nn.module import Module
from nanograph.frontend.nn.normalization import LayerNorm
from nanograph.frontend.nn.shaping import Dropout
from nanograph.frontend.tensor import Tensor
from nanograph.frontend.tracer import user_location
from nanograph.ir.errors import AttributeValueError

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        bias: bool = True,
        causal: bool = False,
        window: int | None = None,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if not batch_first:
            raise AttributeValueError(
                "TransformerEncoderLayer: only batch_first=True ([N, S, E] inputs) is supported",
                loc=user_location(),
                hint="pass batch_first=True and give inputs as [N, S, E]",
            )
        if activation not in _ACTIVATIONS:
            raise AttributeValueError(
                f"TransformerEncoderLayer: activation {activation!r} is not supported",
                loc=user_location(),
                hint=f"use one of {', '.join(_ACTIVATIONS)}",
            )
        dim_feedforward = arguments.whole(
            "TransformerEncoderLayer", "dim_feedforward", dim_feedforward
        )
        arguments.real("TransformerEncoderLayer", "dropout", dropout, 0.0, 1.0)
        arguments.real("TransformerEncoderLayer", "layer_norm_eps", layer_norm_eps, 0.0)
        self.activation, self.norm_first = activation, norm_first
        self.self_attn = MultiHeadAttention(d_model, nhead, bias, causal=causal, window=window)
        self.linear1 = Linear(d_model, dim_feedforward, bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def _ff(self, x: Tensor) -> Tensor:
        act = _ACTIVATIONS[self.activation]
        return self.dropout2(self.linear2(self.dropout(act(self.linear1(x)))))

    def _sa(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.dropout1(self.self_attn(x, mask=mask))

    def forward(self, src: Tensor, mask: Tensor | None = None) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, mask))
        return self.norm2(x + self._ff(x))
