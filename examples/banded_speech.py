"""Truncated (banded) self-attention encoder for speech: filterbank frames in, a label per frame."""

from __future__ import annotations

import math
from typing import Any

from nanograph.frontend import nn
from nanograph.frontend.spec import InputSpec, ModelSpec
from nanograph.frontend.tensor import Tensor

FEATURES = 40  # log-mel filterbank channels per frame
D_MODEL, HEADS, FF, LAYERS = 64, 4, 128, 2
WINDOW = 8  # frame i attends to frames j with |i - j| <= WINDOW
NUM_CLASSES = 39  # e.g. the 39 folded TIMIT phone classes
MAX_LEN = 1024


class BandedSpeechEncoder(nn.Module):
    """Truncated self-attention for speech (the seed notes, after arXiv 1910.12977).

    Speech sequences are long and the useful context is local, so each frame
    attends only to the ``2 * WINDOW + 1`` frames around it. ``frames [N, S, 40]``
    -> ``input_proj`` -> + sinusoidal positions -> ``LAYERS`` post-norm encoder
    layers with ``window=WINDOW`` -> ``classifier`` -> ``[N, S, NUM_CLASSES]``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.input_proj = nn.Linear(FEATURES, D_MODEL)
        self.pos = nn.SinusoidalPositionalEncoding(D_MODEL, MAX_LEN)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.1, window=WINDOW)
            for _ in range(LAYERS)
        )
        self.classifier = nn.Linear(D_MODEL, NUM_CLASSES)

    def forward(self, frames: Tensor) -> Tensor:
        x = self.pos(self.input_proj(frames))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(x)


def build(seed: int = 0) -> tuple[BandedSpeechEncoder, ModelSpec]:
    """The banded encoder with seeded weights; input ``frames: f32[N,S,40]``."""
    nn.manual_seed(seed)
    spec = ModelSpec([InputSpec("frames", ("N", "S", FEATURES))], {"N": 1, "S": 64})
    return BandedSpeechEncoder(), spec


def torch_model() -> Any:
    """The same network in PyTorch; the band is an additive float mask (-inf outside).

    ``torch.nn.MultiheadAttention``'s boolean ``attn_mask`` means True = NOT
    allowed, the opposite of nanograph's; a float mask avoids the confusion.
    """
    import torch
    from torch import nn as tnn

    from nanograph.zoo.pos_tagger import torch_sinusoidal_table

    class TorchBandedSpeechEncoder(tnn.Module):
        pe: torch.Tensor  # the non-persistent position table buffer

        def __init__(self) -> None:
            super().__init__()
            self.input_proj = tnn.Linear(FEATURES, D_MODEL)
            self.register_buffer("pe", torch_sinusoidal_table(MAX_LEN, D_MODEL), persistent=False)
            self.layers = tnn.ModuleList(
                tnn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.1, batch_first=True)
                for _ in range(LAYERS)
            )
            self.classifier = tnn.Linear(D_MODEL, NUM_CLASSES)

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            s = frames.shape[1]
            i = torch.arange(s)
            far = (i[:, None] - i[None, :]).abs() > WINDOW
            mask = torch.zeros(s, s).masked_fill(far, -math.inf)
            x = self.input_proj(frames) + self.pe[:s]
            for layer in self.layers:
                x = layer(x, src_mask=mask)
            return self.classifier(x)

    return TorchBandedSpeechEncoder()


if __name__ == "__main__":
    from nanograph.zoo._demo import demo

    demo(build)
