"""Transformer encoder for POS tagging: token embedding, sinusoidal positions, a tag per token."""

from __future__ import annotations

import math
from typing import Any

from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor

VOCAB = 1000
NUM_TAGS = 17  # the Universal Dependencies POS tag set
D_MODEL, HEADS, FF, LAYERS = 64, 4, 128, 2
MAX_LEN = 512


class PosTagger(nn.Module):
    """Sequence labelling as in the seed notes: every input vector gets its own label.

    ``tokens [N, S]`` -> ``embedding * sqrt(d)`` + sinusoidal positions ->
    ``LAYERS`` post-norm encoder layers (ReLU) -> ``classifier`` -> ``[N, S, NUM_TAGS]``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.SinusoidalPositionalEncoding(D_MODEL, MAX_LEN)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.1) for _ in range(LAYERS)
        )
        self.classifier = nn.Linear(D_MODEL, NUM_TAGS)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.pos(self.embed(tokens) * math.sqrt(D_MODEL))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x)


def build(seed: int = 0) -> tuple[PosTagger, ModelSpec]:
    """The tagger with seeded weights; input ``tokens: i64[N,S]`` with ids in ``[0, VOCAB)``."""
    nn.manual_seed(seed)
    spec = ModelSpec(
        [InputSpec("tokens", ("N", "S"), "i64", value_range=(0, VOCAB))], {"N": 1, "S": 32}
    )
    return PosTagger(), spec


def torch_sinusoidal_table(max_len: int, d_model: int) -> Any:
    """The "Attention is all you need" table, written as in PyTorch's tutorials."""
    import torch

    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model)
    )
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.float()


def torch_model() -> Any:
    """The same network in PyTorch: ``torch.nn.TransformerEncoderLayer(batch_first=True)``."""
    import torch
    from torch import nn as tnn

    class TorchPosTagger(tnn.Module):
        pe: torch.Tensor  # the non-persistent position table buffer

        def __init__(self) -> None:
            super().__init__()
            self.embed = tnn.Embedding(VOCAB, D_MODEL)
            self.register_buffer("pe", torch_sinusoidal_table(MAX_LEN, D_MODEL), persistent=False)
            self.layers = tnn.ModuleList(
                tnn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.1, batch_first=True)
                for _ in range(LAYERS)
            )
            self.classifier = tnn.Linear(D_MODEL, NUM_TAGS)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embed(tokens) * math.sqrt(D_MODEL)
            x = x + self.pe[: tokens.shape[1]]
            for layer in self.layers:
                x = layer(x)
            return self.classifier(x)

    return TorchPosTagger()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
